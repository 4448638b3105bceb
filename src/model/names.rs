//! Attribute names, interned for the life of the process: an entry stores
//! two small numbers per attribute instead of a string. `fold` numbers the
//! lower-cased name (what lookups compare), `disp` the spelling as written
//! (what LDIF and reports show). The set of names is bounded by the schema.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, RwLock};

/// FNV-1a: names are short and not attacker-chosen, and every attribute
/// lookup hashes one, so SipHash's cost shows in profiles.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Table {
    by_spelling: Map<(u32, u32)>,
    by_fold: Map<u32>,
    spellings: Vec<&'static str>,
    folds: Vec<&'static str>,
}

static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(Default::default);

/// `(fold, disp)` of a name.
pub fn intern(name: &str) -> (u32, u32) {
    let at = name.as_ptr() as usize;
    let slot = ((at >> 3) ^ name.len()) % CACHED;
    let (was, spelling, fold, disp) = LAST.with(|c| c[slot].get());
    if was == at && spelling == name {
        return (fold, disp);
    }
    if let Ok(t) = TABLE.read() {
        if let Some((&spelling, &ids)) = t.by_spelling.get_key_value(name) {
            LAST.with(|c| c[slot].set((at, spelling, ids.0, ids.1)));
            return ids;
        }
    }
    let mut t = match TABLE.write() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(&ids) = t.by_spelling.get(name) {
        return ids;
    }
    let lower = name.to_ascii_lowercase();
    let fold = match t.by_fold.get(lower.as_str()) {
        Some(&f) => f,
        None => {
            let f = t.folds.len() as u32;
            let leaked: &'static str = Box::leak(lower.into_boxed_str());
            t.folds.push(leaked);
            t.by_fold.insert(leaked, f);
            f
        }
    };
    let disp = t.spellings.len() as u32;
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    t.spellings.push(leaked);
    t.by_spelling.insert(leaked, (fold, disp));
    (fold, disp)
}

/// Slots of the per-thread cache of [`fold_of`] and [`intern`].
const CACHED: usize = 64;

thread_local! {
    /// The last names looked up, by where their text is: nearly every
    /// lookup names an attribute with a literal of the program, and the
    /// shared table's lock and hash were a tenth of a targeted plan.
    /// A slot holds the interned spelling it answers for: a name at the
    /// same address with other text (a freed string's place reused) is
    /// compared and misses.
    static LAST: [std::cell::Cell<(usize, &'static str, u32, u32)>; CACHED] =
        const { [const { std::cell::Cell::new((0, "", 0, 0)) }; CACHED] };
}

/// The fold number of a name already interned (`None`: no entry can
/// hold it), without interning it.
pub fn fold_of(name: &str) -> Option<u32> {
    let at = name.as_ptr() as usize;
    let slot = ((at >> 3) ^ name.len()) % CACHED;
    let (was, spelling, fold, _) = LAST.with(|c| c[slot].get());
    if was == at && spelling == name {
        return Some(fold);
    }
    let t = TABLE.read().ok()?;
    if let Some((&spelling, &(f, d))) = t.by_spelling.get_key_value(name) {
        LAST.with(|c| c[slot].set((at, spelling, f, d)));
        return Some(f);
    }
    t.by_fold.get(name.to_ascii_lowercase().as_str()).copied()
}

pub fn spelling(disp: u32) -> &'static str {
    TABLE
        .read()
        .ok()
        .and_then(|t| t.spellings.get(disp as usize).copied())
        .unwrap_or("")
}

/// Runs `f` with [`folded`] under one read of the table, for loops that
/// compare many names. `f` must not intern a name (the table is read).
pub fn with_folded<R>(f: impl FnOnce(&dyn Fn(u32) -> &'static str) -> R) -> R {
    let t = match TABLE.read() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&|fold| t.folds.get(fold as usize).copied().unwrap_or(""))
}

pub fn folded(fold: u32) -> &'static str {
    TABLE
        .read()
        .ok()
        .and_then(|t| t.folds.get(fold as usize).copied())
        .unwrap_or("")
}

/// A set of attribute names, as the numbers entries store: checking an
/// attribute against it is a bit test, not a name lookup.
#[derive(Debug, Clone, Default)]
pub struct FoldSet(Vec<u64>);

impl FoldSet {
    /// The set of `names` (case-insensitive).
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut bits = Vec::new();
        for n in names {
            let (fold, _) = intern(n);
            let (word, bit) = (fold as usize / 64, fold % 64);
            if bits.len() <= word {
                bits.resize(word + 1, 0);
            }
            bits[word] |= 1u64 << bit;
        }
        FoldSet(bits)
    }
    pub(super) fn contains(&self, fold: u32) -> bool {
        self.0
            .get(fold as usize / 64)
            .is_some_and(|w| w & (1u64 << (fold % 64)) != 0)
    }
}
