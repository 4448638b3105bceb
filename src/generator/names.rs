//! Who the generated people are, shared by 1D and 2D: the seeded random
//! numbers, UAIs with their check letter, names made of random syllables
//! (no real person is ever in the data), birth dates and INEs.

/// Deterministic pseudo-random numbers (SplitMix64): no external crate, and
/// the same seed gives the same extraction on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// UAI check letter: the number modulo 23 over the letters without I, O, Q.
pub fn uai(n: u32) -> String {
    const L: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    format!("{n:07}{}", L[(n % 23) as usize] as char)
}

const SYL: &[&str] = &[
    "ba", "bel", "ca", "cé", "dar", "do", "é", "fa", "gan", "gi", "jo", "ka", "la", "lé", "li",
    "ma", "mo", "na", "nou", "pa", "pi", "ra", "ro", "sa", "sé", "ta", "ti", "va", "vo", "za",
    "zé", "œ", "ï", "ç",
];
const GIVEN_END: &[&str] = &["", "ne", "lie", "an", "o", "el", "ette", "is", "ée", "a"];

pub(super) fn word(rng: &mut Rng, syllables: u64) -> String {
    let mut s = String::new();
    for _ in 0..syllables {
        let syl: &&str = rng.pick(SYL);
        s.push_str(syl);
    }
    s
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub(super) fn given_name(rng: &mut Rng) -> String {
    let n = 2 + rng.below(2);
    let mut g = capitalize(&(word(rng, n) + *rng.pick(GIVEN_END)));
    if rng.chance(8) {
        g = format!("{g}-{}", capitalize(&word(rng, 2)));
    }
    g
}

pub(super) fn family_name(rng: &mut Rng) -> String {
    let n = 2 + rng.below(2);
    let mut f = word(rng, n).to_uppercase();
    if rng.chance(5) {
        f = format!("L'{f}");
    } else if rng.chance(5) {
        f = format!("DE {f}");
    }
    f
}

#[derive(Debug, Clone)]
pub(super) struct Person {
    pub id: String,
    pub nom: String,
    pub prenom: String,
    pub civ: &'static str,
    /// `dd/mm/yyyy`.
    pub birth: String,
}

/// A 1D person: adults born 1965–1994, pupils 2014–2021.
pub(super) fn person(rng: &mut Rng, id: String, adult: bool) -> Person {
    if adult {
        person_born(rng, id, true, 1965, 30)
    } else {
        person_born(rng, id, false, 2014, 8)
    }
}

/// A person born in one of the `span` years from `year`. Civilities as 1D
/// writes them (`Monsieur`, `Madame` now and then); 2D keeps the short ones
/// (`short_title`).
pub(super) fn person_born(rng: &mut Rng, id: String, adult: bool, year: u64, span: u64) -> Person {
    let female = rng.chance(50);
    let civ = match (adult, female) {
        (_, false) => {
            if rng.chance(10) {
                "Monsieur"
            } else {
                "M."
            }
        }
        (true, true) => {
            if rng.chance(10) {
                "Madame"
            } else {
                "Mme"
            }
        }
        (false, true) => "Mlle",
    };
    let year = year + rng.below(span);
    Person {
        id,
        nom: family_name(rng),
        prenom: given_name(rng),
        civ,
        birth: format!("{:02}/{:02}/{year}", 1 + rng.below(28), 1 + rng.below(12)),
    }
}

/// The `personalTitle` values 2D files carry: `M.`, `Mme`, `Mlle`.
pub(super) fn short_title(civ: &'static str) -> &'static str {
    match civ {
        "Monsieur" => "M.",
        "Madame" => "Mme",
        other => other,
    }
}

/// An INE as the fixtures show it: 9 digits and 2 letters.
pub(super) fn ine(rng: &mut Rng) -> String {
    format!(
        "{:09}{}{}",
        rng.below(1_000_000_000),
        (b'A' + rng.below(26) as u8) as char,
        (b'A' + rng.below(26) as u8) as char
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uai_check_letters() {
        // 920100 % 23 = 8 → J; 750655 % 23 = 4 → E
        assert_eq!(uai(920_100), "0920100J");
        assert_eq!(uai(750_655), "0750655E");
    }

    #[test]
    fn titles_are_short_in_2d() {
        assert_eq!(short_title("Monsieur"), "M.");
        assert_eq!(short_title("Madame"), "Mme");
        assert_eq!(short_title("Mlle"), "Mlle");
    }
}
