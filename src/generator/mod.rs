//! Synthetic 1D AAF extractions: all four categories, Complet or Delta, any
//! size, reproducible from a seed, with the real-world quirks of spec §3
//! (Latin-9 files with "Œ", no XML declaration, HTML entities, values escaped
//! twice, unknown attributes, CRLF, empty values, parts). Names are made of
//! random syllables: no real person is ever in the data.
//!
//! Used for the bundled sample, the tests and the benchmarks (`aaf-gen`).

pub mod cli;
mod evolve;

use crate::aaf::filename::FileCategory;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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

/// Output encoding of the generated files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenEncoding {
    Utf8,
    /// ISO-8859-15, declared.
    Latin9,
    /// ISO-8859-1, declared (names limited to Latin-1).
    Latin1,
    /// ISO-8859-15 bytes and no XML declaration at all.
    Latin9NoDecl,
    /// Declared ISO-8859-15 but written in UTF-8 (seen in real deliveries).
    Utf8DeclaredLatin9,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    pub prefix: String,
    /// `yyyymmdd`.
    pub date: String,
    /// Write the Delta of day `days` (at least 1) instead of a Complet.
    pub delta: bool,
    /// Days of life after the base population: a Complet of that day, or
    /// the Delta of that day (see `evolve`). 0: the base population.
    pub days: u32,
    /// Schools inside the perimeter.
    pub schools: usize,
    /// Extra schools the académie sends although outside the perimeter.
    pub schools_outside: usize,
    pub pupils_per_school: usize,
    /// Records per file part (`_0000`, `_0001`…).
    pub part_size: usize,
    /// Encoding per category, in `FileCategory::IMPORTED` order.
    pub encodings: [GenEncoding; 4],
    pub crlf: bool,
    /// First UAI number (7 digits; the check letter is computed).
    pub uai_base: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            prefix: "ENT1D".into(),
            date: "20250904".into(),
            delta: false,
            days: 0,
            schools: 2,
            schools_outside: 1,
            pupils_per_school: 40,
            part_size: 100_000,
            encodings: [
                GenEncoding::Utf8,
                GenEncoding::Latin9,
                GenEncoding::Utf8DeclaredLatin9,
                GenEncoding::Latin9NoDecl,
            ],
            crlf: false,
            uai_base: 920_100,
        }
    }
}

/// What was generated (for tests and the demo config).
#[derive(Debug, Clone, Default)]
pub struct GenSummary {
    pub files: Vec<PathBuf>,
    /// UAIs of the schools inside the perimeter.
    pub uai_inside: Vec<String>,
    pub uai_outside: Vec<String>,
    pub schools: usize,
    pub pupils: usize,
    pub parents: usize,
    pub staff: usize,
    /// Requests of a Delta by category and operation (`Eleve add`...).
    pub changes: std::collections::BTreeMap<String, usize>,
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

fn word(rng: &mut Rng, syllables: u64) -> String {
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

fn given_name(rng: &mut Rng) -> String {
    let n = 2 + rng.below(2);
    let mut g = capitalize(&(word(rng, n) + *rng.pick(GIVEN_END)));
    if rng.chance(8) {
        g = format!("{g}-{}", capitalize(&word(rng, 2)));
    }
    g
}

fn family_name(rng: &mut Rng) -> String {
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
struct School {
    sid: String,
    uai: String,
    name: String,
    classes: Vec<(String, String)>, // (code, label)
}

#[derive(Debug, Clone)]
struct Person {
    id: String,
    nom: String,
    prenom: String,
    civ: &'static str,
    birth: String,
}

fn person(rng: &mut Rng, id: String, adult: bool) -> Person {
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
    let year = if adult {
        1965 + rng.below(30)
    } else {
        2014 + rng.below(8)
    };
    Person {
        id,
        nom: family_name(rng),
        prenom: given_name(rng),
        civ,
        birth: format!("{:02}/{:02}/{year}", 1 + rng.below(28), 1 + rng.below(12)),
    }
}

fn v(x: &str) -> Vec<String> {
    vec![x.to_string()]
}

/// A staff record (`teacher`: in charge of `classes`).
fn staff_attrs(
    rng: &mut Rng,
    p: &Person,
    sid: &str,
    func: &str,
    classes: Vec<String>,
    teacher: bool,
    director: bool,
) -> Attrs {
    vec![
        ("ENTPersonJointure", v(&p.id)),
        ("ENTPersonDateNaissance", v(&p.birth)),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("ENTPersonNom", v(&p.nom)),
        ("ENTPersonPrenom", v(&p.prenom)),
        ("ENTPersonAutresPrenoms", vec![]),
        ("ENTPersonCivilite", v(p.civ)),
        (
            "ENTPersonMail",
            v(&format!(
                "{}.{}@ac-test.invalid",
                crate::mapping::login::fold(&p.prenom),
                crate::mapping::login::fold(&p.nom)
            )),
        ),
        ("ENTPersonStructRattach", v(sid)),
        ("ENTPersonFonctions", v(func)),
        (
            "ENTPersonCategorieEnseignant",
            v(if teacher { "O" } else { "N" }),
        ),
        // real 1D files give the id of the school directed
        ("ENTEnsFonctionDir", if director { v(sid) } else { vec![] }),
        ("ENTEnsSpecialites", vec![]),
        ("ENTPersonClasses", classes),
        // not authorised for staff: must never reach LDAP
        (
            "ENTPersonAdresse",
            v(&format!("{} ALLEE DES TILLEULS$$", 1 + rng.below(90))),
        ),
        ("ENTPersonCodePostal", v("94100")),
        ("ENTPersonVille", v("VILLE PRIVEE")),
        (
            "ENTPersRelEleveTelMobile",
            v(&format!(
                "06 00 00 {:02} {:02}",
                rng.below(100),
                rng.below(100)
            )),
        ),
    ]
}

/// A parent record, naming their first pupil.
fn parent_attrs(rng: &mut Rng, par: &Person, pupil: &str) -> Attrs {
    vec![
        ("ENTPersonJointure", v(&par.id)),
        ("ENTPersonNomPatro", v(&par.nom)),
        ("ENTPersonNom", v(&par.nom)),
        ("ENTPersonPrenom", v(&par.prenom)),
        ("ENTPersonAutresPrenoms", vec![]),
        ("ENTPersonCivilite", v(par.civ)),
        ("ENTPersRelEleveEleve", v(pupil)),
        (
            "ENTPersonAdresse",
            v(&format!("{} RUE DU MOULIN$BATIMENT B$", 1 + rng.below(120))),
        ),
        ("ENTPersonCodePostal", v("94000")),
        ("ENTPersonVille", v("VILLE TEST")),
        ("ENTPersonPays", v("FRANCE")),
        (
            "ENTPersonAdresseDiffusion",
            v(if rng.chance(50) { "O" } else { "N" }),
        ),
        (
            "ENTPersonTelPerso",
            v(&format!(
                "01 45 {:02} {:02} {:02}",
                rng.below(100),
                rng.below(100),
                rng.below(100)
            )),
        ),
        (
            "ENTPersRelEleveTelMobile",
            v(&format!(
                "06 12 {:02} {:02} {:02}",
                rng.below(100),
                rng.below(100),
                rng.below(100)
            )),
        ),
        (
            "ENTPersonMail",
            if rng.chance(70) {
                v(&format!("parent{}@example.invalid", par.id))
            } else {
                vec![]
            },
        ),
        ("ENTPersRelEleveTelPro", vec![]),
    ]
}

/// A pupil record in class number `class` of school `s`.
fn pupil_attrs(
    rng: &mut Rng,
    p: &Person,
    s: &School,
    class: usize,
    pids: &[String],
    choir: bool,
) -> Attrs {
    let (code, label) = s.classes[class].clone();
    let lvl = label.split(' ').next().unwrap_or("CP").to_string();
    vec![
        ("ENTPersonJointure", v(&p.id)),
        (
            "ENTEleveINE",
            v(&format!(
                "{:09}{}{}",
                rng.below(1_000_000_000),
                (b'A' + rng.below(26) as u8) as char,
                (b'A' + rng.below(26) as u8) as char
            )),
        ),
        ("ENTPersonDateNaissance", v(&p.birth)),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("ENTPersonNom", v(&p.nom)),
        ("ENTPersonPrenom", v(&p.prenom)),
        (
            "ENTPersonAutresPrenoms",
            if rng.chance(30) {
                vec![given_name(rng), given_name(rng)]
            } else {
                vec![]
            },
        ),
        ("ENTPersonCivilite", v(p.civ)),
        ("ENTPersonStructRattach", v(&s.sid)),
        (
            "ENTEleveAutoriteParentale",
            pids.iter()
                .enumerate()
                .map(|(k, id)| format!("{id}${}", if k == 0 { 10 } else { 20 }))
                .collect(),
        ),
        (
            "ENTEleveRestaurantScolaire",
            v(if rng.chance(70) { "O" } else { "N" }),
        ),
        ("ENTEleveTransport", v("N")),
        (
            "ENTEleveGarderieMatin",
            v(if rng.chance(30) { "O" } else { "N" }),
        ),
        (
            "ENTEleveGarderieSoir",
            v(if rng.chance(30) { "O" } else { "N" }),
        ),
        ("ENTEleveEtudesSurveillees", v("N")),
        ("ENTEleveNiveau", v(&lvl)),
        (
            "ENTEleveCycle",
            v(if ["PS", "MS", "GS"].contains(&lvl.as_str()) {
                "1"
            } else {
                "2"
            }),
        ),
        ("ENTEleveTypeClasse", v("ORDINAIRE")),
        (
            "ENTPersonClasses",
            v(&format!("{}$1$1${code}${label}", s.sid)),
        ),
        (
            "ENTPersonGroupes",
            if choir {
                v(&format!(
                    "{}$1$1$G{}CHORALE$CHORALE",
                    s.sid,
                    &s.sid[s.sid.len() - 3..]
                ))
            } else {
                vec![]
            },
        ),
    ]
}

/// One request being written: `(attribute, values)`.
type Attrs = Vec<(&'static str, Vec<String>)>;

enum Req {
    Add(String, Attrs),
    Modify(String, Attrs),
    Delete(String),
}

fn esc(v: &str, entities: bool) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' if entities => s.push_str("&apos;"),
            'é' if entities => s.push_str("&eacute;"),
            _ => s.push(c),
        }
    }
    s
}

fn render_req(out: &mut String, cat: FileCategory, req: &Req, entities: bool) {
    let (tag, id, attrs) = match req {
        Req::Add(id, a) => ("addRequest", id, Some(a)),
        Req::Modify(id, a) => ("modifyRequest", id, Some(a)),
        Req::Delete(id) => ("deleteRequest", id, None),
    };
    let opname = if cat == FileCategory::EtabEducNat {
        "categorieStructure"
    } else {
        "categoriePersonne"
    };
    let _ = write!(
        out,
        "<{tag}>\n<operationalAttributes><attr name=\"{opname}\"><value>{cat}</value></attr></operationalAttributes>\n<identifier><id>{id}</id></identifier>\n"
    );
    if let Some(attrs) = attrs {
        let (wrap, item, extra) = if matches!(req, Req::Modify(..)) {
            ("modifications", "modification", " operation=\"replace\"")
        } else {
            ("attributes", "attr", "")
        };
        let _ = writeln!(out, "<{wrap}>");
        for (name, values) in attrs {
            let _ = write!(out, "<{item} name=\"{name}\"{extra}>");
            if values.is_empty() {
                out.push_str("<value/>");
            }
            for v in values {
                let _ = write!(out, "<value>{}</value>", esc(v, entities));
            }
            let _ = writeln!(out, "</{item}>");
        }
        let _ = writeln!(out, "</{wrap}>");
    }
    let _ = writeln!(out, "</{tag}>");
}

fn encode(text: &str, enc: GenEncoding) -> Vec<u8> {
    match enc {
        GenEncoding::Utf8 | GenEncoding::Utf8DeclaredLatin9 => text.as_bytes().to_vec(),
        GenEncoding::Latin9 | GenEncoding::Latin9NoDecl => {
            encoding_rs::ISO_8859_15.encode(text).0.into_owned()
        }
        GenEncoding::Latin1 => encoding_rs::WINDOWS_1252.encode(text).0.into_owned(),
    }
}

fn write_file(
    path: &Path,
    cat: FileCategory,
    reqs: &[Req],
    cfg: &GenConfig,
    enc: GenEncoding,
    entities: bool,
) -> io::Result<()> {
    let mut s = String::new();
    let decl = match enc {
        GenEncoding::Utf8 => Some("UTF-8"),
        GenEncoding::Latin9 | GenEncoding::Utf8DeclaredLatin9 => Some("ISO-8859-15"),
        GenEncoding::Latin1 => Some("ISO-8859-1"),
        GenEncoding::Latin9NoDecl => None,
    };
    if let Some(d) = decl {
        let _ = writeln!(s, "<?xml version=\"1.0\" encoding=\"{d}\"?>");
    }
    s.push_str("<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<ficAlimMENESR>\n");
    let _ = writeln!(
        s,
        "<!-- versionAF=\"AAF-VE2407\" -->\n<!-- codeAcademieExport=\"24\" -->\n<!-- degre=\"1D\" -->\n<!-- dateGenerationExport=\"{}/{}/{}\" -->",
        &cfg.date[6..8],
        &cfg.date[4..6],
        &cfg.date[0..4]
    );
    for r in reqs {
        render_req(&mut s, cat, r, entities);
    }
    s.push_str("</ficAlimMENESR>\n");
    if cfg.crlf {
        s = s.replace('\n', "\r\n");
    }
    let mut f = std::fs::File::create(path)?;
    f.write_all(&encode(&s, enc))?;
    Ok(())
}

fn latin1_safe(s: &str) -> String {
    s.replace('œ', "oe").replace('Œ', "OE")
}

/// Writes an extraction into `dir`.
pub fn generate(cfg: &GenConfig, dir: &Path) -> io::Result<GenSummary> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(cfg.seed);
    let mut sum = GenSummary::default();
    let levels = ["PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2"];
    let total_schools = cfg.schools + cfg.schools_outside;
    let mut schools = Vec::new();
    for i in 0..total_schools {
        let sid = format!("{}", 100_000 + cfg.seed % 1000 * 1000 + i as u64);
        let u = uai(cfg.uai_base + i as u32);
        if i < cfg.schools {
            sum.uai_inside.push(u.clone());
        } else {
            sum.uai_outside.push(u.clone());
        }
        let nclasses = (cfg.pupils_per_school / 24).max(1);
        let classes = (0..nclasses)
            .map(|c| {
                let lvl = levels[c % levels.len()];
                (
                    format!("C{}{c:02}", &sid[sid.len() - 3..]),
                    format!("{lvl} {}", (b'A' + (c / levels.len()) as u8) as char),
                )
            })
            .collect();
        let name = if i == 0 {
            // escaped twice, as real files do
            "ECOLE ELEMENTAIRE D&apos;APPLICATION".to_string()
        } else {
            format!("ECOLE PRIMAIRE {}", word(&mut rng, 3).to_uppercase())
        };
        schools.push(School {
            sid,
            uai: u,
            name,
            classes,
        });
    }
    let mut etab = Vec::new();
    let mut eleves = Vec::new();
    let mut parents = Vec::new();
    let mut parent_index: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    let mut staff = Vec::new();
    let mut next_pupil = 2_000_000 + cfg.seed % 1000 * 100_000;
    let mut next_parent = 3_000_000 + cfg.seed % 1000 * 100_000;
    let mut next_staff = 4_000_000 + cfg.seed % 1000 * 100_000;
    for (si, s) in schools.iter().enumerate() {
        let v = |x: &str| vec![x.to_string()];
        etab.push(Req::Add(
            s.sid.clone(),
            vec![
                ("ENTStructureJointure", v(&s.sid)),
                ("ENTStructureUAI", v(&s.uai)),
                ("ENTStructureSIREN", vec![]),
                ("ENTStructureNomCourant", v(&s.name)),
                ("ENTStructureTypeStruct", v("ECOLE ELEMENTAIRE PUBLIQUE")),
                (
                    "ENTEcoleMinistereTutelle",
                    v("MINISTERE DE L'EDUCATION NATIONALE"),
                ),
                ("ENTEcoleSecteur", v("PU")),
                ("ENTEcoleCirconscription", v("CIRCONSCRIPTION NORD")),
                ("ENTEcoleCommune", v("COMMUNE TEST")),
                ("ENTEcoleRPI", vec![]),
                ("ENTServAcAcademie", v("CRETEIL")),
                (
                    "ENTStructureAdresse",
                    v(&format!("{} RUE DES ECOLES", 1 + si)),
                ),
                ("ENTStructureBoitePostale", vec![]),
                ("ENTStructureCodePostal", v("94000")),
                ("ENTStructureVille", v("VILLE TEST")),
                (
                    "ENTStructureTelephone",
                    v(&format!("01 40 00 00 {:02}", si % 100)),
                ),
                ("ENTStructureFax", vec![]),
                (
                    "ENTStructureEmail",
                    v(&format!("ce.{}@ac-test.invalid", s.uai.to_lowercase())),
                ),
                ("ENTStructureMailSI", vec![]),
                ("ENTStructureCodeTypeStruct", v("151")),
            ],
        ));
        sum.schools += 1;
        // staff: a director, one teacher per class, one non-teaching member
        for role in 0..(s.classes.len() + 2) {
            let p = person(&mut rng, format!("{next_staff}"), true);
            next_staff += 1;
            let (func, classes) = if role == 0 {
                (format!("{}$DIR$DIRECTION$-$-", s.sid), vec![])
            } else if role <= s.classes.len() {
                let (code, label) = &s.classes[role - 1];
                (
                    format!("{}$ENS$ENSEIGNEMENT$-$-", s.sid),
                    vec![format!("{}$1$1${code}${label}", s.sid)],
                )
            } else {
                (format!("{}$ASE$ACCOMPAGNEMENT$-$-", s.sid), vec![])
            };
            staff.push(Req::Add(
                p.id.clone(),
                staff_attrs(
                    &mut rng,
                    &p,
                    &s.sid,
                    &func,
                    classes,
                    role > 0 && role <= s.classes.len(),
                    role == 0,
                ),
            ));
            sum.staff += 1;
        }
        // pupils and their parents (siblings share them)
        let mut family: Option<(Vec<String>, String)> = None;
        for n in 0..cfg.pupils_per_school {
            let mut p = person(&mut rng, format!("{next_pupil}"), false);
            next_pupil += 1;
            if n % 17 == 5 {
                // a homonym of the previous pupil: logins must differ
                if let Some(Req::Add(_, prev)) = eleves.last() {
                    for (k, vals) in prev {
                        match *k {
                            "ENTPersonNom" => p.nom = vals[0].clone(),
                            "ENTPersonPrenom" => p.prenom = vals[0].clone(),
                            _ => {}
                        }
                    }
                }
            }
            let sibling = n > 0 && rng.chance(20) && family.is_some();
            let (pids, fam_name) = if sibling {
                family.clone().unwrap_or_default()
            } else {
                let np = if rng.chance(15) { 1 } else { 2 };
                let mut ids = Vec::new();
                for k in 0..np {
                    let mut par = person(&mut rng, format!("{next_parent}"), true);
                    next_parent += 1;
                    par.civ = if k == 0 { "Mme" } else { "M." };
                    if k == 1 {
                        par.nom = p.nom.clone();
                    }
                    ids.push(par.id.clone());
                    parent_index.insert(par.id.clone(), parents.len());
                    parents.push(Req::Add(
                        par.id.clone(),
                        parent_attrs(&mut rng, &par, &p.id),
                    ));
                    sum.parents += 1;
                }
                (ids, p.nom.clone())
            };
            if sibling {
                p.nom = fam_name.clone();
                // the sibling is also named on the parents' records (found
                // by index: a scan of every parent would be quadratic)
                for pid in &pids {
                    let Some(&i) = parent_index.get(pid) else {
                        continue;
                    };
                    if let Some(Req::Add(_, attrs)) = parents.get_mut(i) {
                        if let Some((_, vals)) =
                            attrs.iter_mut().find(|(k, _)| *k == "ENTPersRelEleveEleve")
                        {
                            vals.push(p.id.clone());
                        }
                    }
                }
            }
            family = Some((pids.clone(), p.nom.clone()));
            let mut attrs = pupil_attrs(&mut rng, &p, s, n % s.classes.len(), &pids, n % 5 == 0);
            if n % 11 == 3 {
                // a newer AAF version's attribute: dropped and counted
                attrs.push(("ENTEleveNouvelAttribut", v("X")));
            }
            eleves.push(Req::Add(p.id.clone(), attrs));
            sum.pupils += 1;
        }
    }
    let enc_for = |i: usize| cfg.encodings[i];
    let mut pop = evolve::Population {
        etab,
        eleves,
        parents,
        staff,
    };
    let days = if cfg.delta { cfg.days.max(1) } else { cfg.days };
    let delta = evolve::live(&mut pop, &schools, cfg.schools, cfg.seed, days);
    sum.pupils = pop.eleves.len();
    sum.parents = pop.parents.len();
    sum.staff = pop.staff.len();
    let mut by_cat: Vec<(FileCategory, Vec<Req>)> = if cfg.delta {
        sum.changes = evolve::describe(&delta);
        let mut v: Vec<(FileCategory, Vec<Req>)> = FileCategory::IMPORTED
            .iter()
            .map(|c| (*c, Vec::new()))
            .collect();
        for (c, r) in delta {
            if let Some((_, list)) = v.iter_mut().find(|(k, _)| *k == c) {
                list.push(r);
            }
        }
        v
    } else {
        vec![
            (FileCategory::EtabEducNat, pop.etab),
            (FileCategory::Eleve, pop.eleves),
            (FileCategory::PersRelEleve, pop.parents),
            (FileCategory::PersEducNat, pop.staff),
        ]
    };
    let kind = if cfg.delta { "Delta" } else { "Complet" };
    for (i, (cat, reqs)) in by_cat.iter_mut().enumerate() {
        let enc = enc_for(i);
        if enc == GenEncoding::Latin1 {
            for r in reqs.iter_mut() {
                if let Req::Add(_, a) | Req::Modify(_, a) = r {
                    for (_, vals) in a.iter_mut() {
                        for v in vals.iter_mut() {
                            *v = latin1_safe(v);
                        }
                    }
                }
            }
        }
        let chunks: Vec<&[Req]> = if reqs.is_empty() {
            vec![&[]]
        } else {
            reqs.chunks(cfg.part_size.max(1)).collect()
        };
        for (part, chunk) in chunks.into_iter().enumerate() {
            let path = dir.join(format!(
                "{}_{kind}_{}_{}_{part:04}.xml",
                cfg.prefix, cfg.date, cat
            ));
            // the parents' files carry HTML named entities, as some real ones do
            write_file(
                &path,
                *cat,
                chunk,
                cfg,
                enc,
                *cat == FileCategory::PersRelEleve,
            )?;
            sum.files.push(path);
        }
    }
    Ok(sum)
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
    fn reproducible_from_seed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cfg = GenConfig::default();
        let sa = generate(&cfg, a.path()).unwrap();
        generate(&cfg, b.path()).unwrap();
        assert_eq!(sa.files.len(), 4);
        for f in &sa.files {
            let name = f.file_name().unwrap();
            assert_eq!(
                std::fs::read(f).unwrap(),
                std::fs::read(b.path().join(name)).unwrap()
            );
        }
    }
}
