//! A tree of entries found by DN key without a copy of the key
//! ([`DnTable`]): at an académie's 1.5 million entries, a key string per
//! entry beside its DN was a tenth of a whole-tree run's memory.

use super::dn::{cmp_plain_keys, hash_key, key_is_lower_case};
use super::Entry;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// What a [`DnTable`] holds: something with a DN.
pub trait HasDn {
    fn dn_str(&self) -> &str;
}

impl HasDn for Entry {
    fn dn_str(&self) -> &str {
        self.dn.as_str()
    }
}

/// Items in the order they came (a removal moves the last one into the
/// gap), and a table of their positions hashed by DN key
/// ([`crate::model::dn_key`]). Lookups take a DN in any spelling, or a key
/// (a key is the DN of its own key). Walking it in order walks the entry
/// store front to back when the entries were stored in that order: a page
/// brought in serves the entries after it.
pub struct DnTable<T> {
    items: Vec<T>,
    index: HashTable<usize>,
    hasher: RandomState,
}

impl<T> Default for DnTable<T> {
    fn default() -> Self {
        DnTable {
            items: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<T: Clone> Clone for DnTable<T> {
    fn clone(&self) -> Self {
        DnTable {
            items: self.items.clone(),
            index: self.index.clone(),
            hasher: self.hasher.clone(),
        }
    }
}

impl<T: HasDn + std::fmt::Debug> std::fmt::Debug for DnTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.items).finish()
    }
}

fn hash_of(hasher: &RandomState, dn: &str) -> u64 {
    let mut h = hasher.build_hasher();
    hash_key(dn, &mut h);
    std::hash::Hasher::finish(&h)
}

impl<T: HasDn> DnTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Position of the item whose DN has the key of `dn`, and `dn`'s hash.
    fn find(&self, dn: &str) -> (Option<usize>, u64) {
        let hash = hash_of(&self.hasher, dn);
        let plain = key_is_lower_case(dn);
        let items = &self.items;
        let found = self.index.find(hash, |&i| {
            let other = items[i].dn_str();
            cmp_plain_keys((other, key_is_lower_case(other)), (dn, plain)).is_eq()
        });
        (found.copied(), hash)
    }

    /// Whether an item has the DN key of `dn`.
    pub fn contains_key(&self, dn: &str) -> bool {
        self.find(dn).0.is_some()
    }

    pub fn get(&self, dn: &str) -> Option<&T> {
        self.items.get(self.find(dn).0?)
    }

    /// The item and its position in the order.
    pub fn get_full(&self, dn: &str) -> Option<(usize, &T)> {
        let i = self.find(dn).0?;
        Some((i, self.items.get(i)?))
    }

    /// The item, to change anything but its DN key (the table would lose
    /// it: change a DN by [`Self::swap_remove`] and [`Self::insert`]).
    pub fn get_mut(&mut self, dn: &str) -> Option<&mut T> {
        let i = self.find(dn).0?;
        self.items.get_mut(i)
    }

    /// Adds `item`; one already there under its DN key gives it its place
    /// and is returned.
    pub fn insert(&mut self, item: T) -> Option<T> {
        match self.find(item.dn_str()) {
            (Some(i), _) => Some(std::mem::replace(&mut self.items[i], item)),
            (None, hash) => {
                let DnTable {
                    items,
                    index,
                    hasher,
                } = self;
                index.insert_unique(hash, items.len(), |&j| hash_of(hasher, items[j].dn_str()));
                items.push(item);
                None
            }
        }
    }

    /// Removes the item under the key of `dn`; the last item takes its
    /// place in the order.
    pub fn swap_remove(&mut self, dn: &str) -> Option<T> {
        let (Some(i), hash) = self.find(dn) else {
            return None;
        };
        if let Ok(slot) = self.index.find_entry(hash, |&j| j == i) {
            slot.remove();
        }
        let last = self.items.len() - 1;
        if i != last {
            let moved = hash_of(&self.hasher, self.items[last].dn_str());
            if let Some(slot) = self.index.find_mut(moved, |&j| j == last) {
                *slot = i;
            }
        }
        Some(self.items.swap_remove(i))
    }

    /// Keeps the items `keep` says yes to, in their order.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        let before = self.items.len();
        self.items.retain(keep);
        if self.items.len() != before {
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        let DnTable {
            items,
            index,
            hasher,
        } = self;
        index.clear();
        for (i, item) in items.iter().enumerate() {
            let hash = hash_of(hasher, item.dn_str());
            index.insert_unique(hash, i, |&j| hash_of(hasher, items[j].dn_str()));
        }
    }

    /// Room for `n` more items.
    pub fn reserve(&mut self, n: usize) {
        self.items.reserve(n);
        let DnTable {
            items,
            index,
            hasher,
        } = self;
        index.reserve(n, |&j| hash_of(hasher, items[j].dn_str()));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every item, in the table's order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The same as [`Self::iter`], for the places that read as a map.
    pub fn values(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// Every item, sorted by DN key. The keys are compared without being
    /// built (see [`cmp_plain_keys`]), and the items put in order where
    /// they are: a sorted copy would hold the tree twice.
    pub fn into_sorted(self) -> Vec<T> {
        let DnTable { mut items, .. } = self;
        let plain: Vec<bool> = items
            .iter()
            .map(|d| key_is_lower_case(d.dn_str()))
            .collect();
        // order[k]: where the item that goes to position k is now
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            cmp_plain_keys((items[a].dn_str(), plain[a]), (items[b].dn_str(), plain[b]))
        });
        drop(plain);
        permute(&mut items, order);
        items
    }
}

impl<T: HasDn> FromIterator<T> for DnTable<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut t = DnTable::new();
        t.extend(iter);
        t
    }
}

impl<T: HasDn> Extend<T> for DnTable<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.insert(item);
        }
    }
}

impl<'a, T> IntoIterator for &'a DnTable<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T> IntoIterator for DnTable<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Moves `v[order[k]]` to `v[k]` for every `k`, in place: each cycle of
/// the permutation by swaps along it.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    const DONE: usize = usize::MAX;
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = std::mem::replace(&mut order[at], DONE);
            if from == DONE || from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{dn_key, Dn};

    fn entry(dn: &str, id: &str) -> Entry {
        let mut e = Entry::new(Dn::new(dn));
        e.set("uid", id);
        e
    }

    fn id(e: &Entry) -> String {
        e.first("uid").unwrap_or_default().to_string()
    }

    #[test]
    fn permute_puts_each_element_where_the_order_says() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for n in [0usize, 1, 2, 3, 10, 257] {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            let mut v: Vec<usize> = (0..n).map(|i| i * 10).collect();
            permute(&mut v, order.clone());
            let want: Vec<usize> = order.iter().map(|&i| i * 10).collect();
            assert_eq!(v, want, "n = {n}");
        }
    }

    const DNS: [&str; 7] = [
        "uid=B,ou=people,dc=x",
        "uid=a,ou=people,dc=x",
        "uid=a\\2Bb,ou=people,dc=x",
        "uid=  c  d,ou=people,dc=x",
        "UID=Z,OU=People,DC=x",
        "cn=0750001A$6A,ou=classes,dc=x",
        "uid=a+cn=b,ou=people,dc=x",
    ];

    #[test]
    fn entries_are_found_by_key_and_come_out_sorted_by_key() {
        let mut k = DnTable::new();
        for (i, dn) in DNS.iter().enumerate() {
            assert!(k.insert(entry(dn, &i.to_string())).is_none());
        }
        // other spellings of the same keys, and the keys themselves
        assert!(k.contains_key("UID=b,OU=PEOPLE,DC=X"));
        assert!(k.contains_key("uid=a\\+b,ou=people,dc=x"));
        assert!(k.contains_key("uid=c d,ou=people,dc=x"));
        assert!(k.contains_key("cn=b+uid=a,ou=people,dc=x"));
        for dn in DNS {
            assert!(k.contains_key(&dn_key(dn)), "{dn}");
        }
        assert!(!k.contains_key("uid=ab,ou=people,dc=x"));
        assert_eq!(k.get("uid=z,ou=people,dc=x").map(id), Some("4".into()));
        // a second entry under a key takes the first one's place
        let old = k.insert(entry("uid=b,ou=people,dc=x", "again"));
        assert_eq!(old.as_ref().map(id), Some("0".into()));
        assert_eq!(k.len(), DNS.len());
        assert_eq!(k.get_full("uid=b,ou=people,dc=x").map(|(i, _)| i), Some(0));
        let sorted = k.into_sorted();
        let keys: Vec<String> = sorted.iter().map(|d| d.dn.key()).collect();
        let mut want: Vec<String> = DNS.iter().map(|d| dn_key(d)).collect();
        want.sort();
        assert_eq!(keys, want);
        let b = sorted.iter().find(|d| d.dn.key() == "uid=b,ou=people,dc=x");
        assert_eq!(b.map(id), Some("again".into()));
    }

    #[test]
    fn removals_and_retain_keep_every_other_entry_found_in_order() {
        let mut k: DnTable<Entry> = DNS
            .iter()
            .enumerate()
            .map(|(i, dn)| entry(dn, &i.to_string()))
            .collect();
        // the first one out: the last one takes its place
        assert_eq!(
            k.swap_remove("uid=b,ou=people,dc=x").as_ref().map(id),
            Some("0".into())
        );
        assert!(k.swap_remove("uid=b,ou=people,dc=x").is_none());
        let order: Vec<String> = k.iter().map(id).collect();
        assert_eq!(order, ["6", "1", "2", "3", "4", "5"]);
        // the last one out, then the first one again
        assert!(k.swap_remove("cn=0750001a$6a,ou=classes,dc=x").is_some());
        assert!(k.swap_remove("cn=b+uid=a,ou=people,dc=x").is_some());
        k.retain(|e| id(e) != "2");
        let order: Vec<String> = k.iter().map(id).collect();
        assert_eq!(order, ["4", "1", "3"]);
        for (i, dn) in DNS.iter().enumerate() {
            let want = ["1", "3", "4"].contains(&i.to_string().as_str());
            assert_eq!(k.contains_key(dn), want, "{dn}");
            if want {
                assert_eq!(k.get(dn).map(id), Some(i.to_string()));
            }
        }
        // a DN changed by removal and insertion
        let mut e = k.swap_remove("uid=a,ou=people,dc=x").expect("there");
        e.dn = Dn::new("uid=moved,ou=people,dc=x");
        k.insert(e);
        assert!(k.contains_key("UID=MOVED,ou=people,dc=x"));
        assert!(!k.contains_key("uid=a,ou=people,dc=x"));
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn a_large_tree_comes_out_in_the_order_of_its_keys() {
        let mut k = DnTable::new();
        let mut want = Vec::new();
        for i in 0..5000u32 {
            // plain and escaped DNs interleaved, in no particular order
            let id = (i.wrapping_mul(2_654_435_761) % 100_000).to_string();
            let dn = if i % 7 == 0 {
                format!("uid=X\\,{id},ou=people,dc=x")
            } else {
                format!("uid=AC-{id},ou=people,dc=x")
            };
            if !k.contains_key(&dn) {
                want.push(dn_key(&dn));
            }
            k.insert(entry(&dn, &id));
        }
        // every tenth removed, then found no more
        let gone: Vec<String> = want.iter().step_by(10).cloned().collect();
        for g in &gone {
            assert!(k.swap_remove(g).is_some());
        }
        want.retain(|w| !gone.contains(w));
        for w in &want {
            assert!(k.contains_key(w));
        }
        want.sort();
        let got: Vec<String> = k.into_sorted().iter().map(|d| d.dn.key()).collect();
        assert_eq!(got, want);
    }
}
