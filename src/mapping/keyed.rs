//! The desired entries of a mapping, found by DN key without a copy of the
//! key (`Keyed`): at an académie's 1.5 million entries, a key string per
//! entry and a B-tree keyed by them were a quarter of the run's memory.

use super::Desired;
use crate::model::{cmp_plain_keys, hash_key, key_is_lower_case};
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// Desired entries in the order they came, and a table of their positions
/// hashed by DN key ([`crate::model::dn_key`]).
#[derive(Default)]
pub(super) struct Keyed {
    entries: Vec<Desired>,
    index: HashTable<usize>,
    hasher: RandomState,
}

fn hash_of(hasher: &RandomState, dn: &str) -> u64 {
    let mut h = hasher.build_hasher();
    hash_key(dn, &mut h);
    std::hash::Hasher::finish(&h)
}

impl Keyed {
    /// Position of the entry whose DN has the key of `dn`, and `dn`'s hash.
    fn find(&self, dn: &str) -> (Option<usize>, u64) {
        let hash = hash_of(&self.hasher, dn);
        let plain = key_is_lower_case(dn);
        let entries = &self.entries;
        let found = self.index.find(hash, |&i| {
            let other = entries[i].entry.dn.as_str();
            cmp_plain_keys((other, key_is_lower_case(other)), (dn, plain)).is_eq()
        });
        (found.copied(), hash)
    }

    /// Whether an entry has the DN key of `dn`.
    pub(super) fn contains(&self, dn: &str) -> bool {
        self.find(dn).0.is_some()
    }

    pub(super) fn get_mut(&mut self, dn: &str) -> Option<&mut Desired> {
        let i = self.find(dn).0?;
        self.entries.get_mut(i)
    }

    /// Adds `d`; one already there under its DN key gives it its place.
    pub(super) fn insert(&mut self, d: Desired) {
        match self.find(d.entry.dn.as_str()) {
            (Some(i), _) => self.entries[i] = d,
            (None, hash) => {
                let Keyed {
                    entries,
                    index,
                    hasher,
                } = self;
                index.insert_unique(hash, entries.len(), |&j| {
                    hash_of(hasher, entries[j].entry.dn.as_str())
                });
                entries.push(d);
            }
        }
    }

    /// Every entry, sorted by DN key. The keys are compared without being
    /// built (see [`cmp_plain_keys`]), and the entries put in order where
    /// they are: a sorted copy would hold the tree twice.
    pub(super) fn into_sorted(self) -> Vec<Desired> {
        let Keyed { mut entries, .. } = self;
        let plain: Vec<bool> = entries
            .iter()
            .map(|d| key_is_lower_case(d.entry.dn.as_str()))
            .collect();
        // order[k]: where the entry that goes to position k is now
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            cmp_plain_keys(
                (entries[a].entry.dn.as_str(), plain[a]),
                (entries[b].entry.dn.as_str(), plain[b]),
            )
        });
        drop(plain);
        permute(&mut entries, order);
        entries
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
    use crate::model::{dn_key, Dn, Entry};
    use crate::schema::EntryKind;

    fn desired(dn: &str, id: &str) -> Desired {
        Desired {
            kind: EntryKind::Pupil,
            id: id.to_string(),
            entry: Entry::new(Dn::new(dn)),
        }
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

    #[test]
    fn entries_are_found_by_key_and_come_out_sorted_by_key() {
        let dns = [
            "uid=B,ou=people,dc=x",
            "uid=a,ou=people,dc=x",
            "uid=a\\2Bb,ou=people,dc=x",
            "uid=  c  d,ou=people,dc=x",
            "UID=Z,OU=People,DC=x",
            "cn=0750001A$6A,ou=classes,dc=x",
            "uid=a+cn=b,ou=people,dc=x",
        ];
        let mut k = Keyed::default();
        for (i, dn) in dns.iter().enumerate() {
            k.insert(desired(dn, &i.to_string()));
        }
        // other spellings of the same keys
        assert!(k.contains("UID=b,OU=PEOPLE,DC=X"));
        assert!(k.contains("uid=a\\+b,ou=people,dc=x"));
        assert!(k.contains("uid=c d,ou=people,dc=x"));
        assert!(k.contains("cn=b+uid=a,ou=people,dc=x"));
        assert!(!k.contains("uid=ab,ou=people,dc=x"));
        assert_eq!(
            k.get_mut("uid=z,ou=people,dc=x").map(|d| d.id.clone()),
            Some("4".into())
        );
        // a second entry under a key takes the first one's place
        k.insert(desired("uid=b,ou=people,dc=x", "again"));
        let sorted = k.into_sorted();
        let keys: Vec<String> = sorted.iter().map(|d| d.entry.dn.key()).collect();
        let mut want: Vec<String> = dns.iter().map(|d| dn_key(d)).collect();
        want.sort();
        assert_eq!(keys, want);
        let b = sorted
            .iter()
            .find(|d| d.entry.dn.key() == "uid=b,ou=people,dc=x");
        assert_eq!(b.map(|d| d.id.as_str()), Some("again"));
    }

    #[test]
    fn a_large_tree_comes_out_in_the_order_of_its_keys() {
        let mut k = Keyed::default();
        let mut want = Vec::new();
        for i in 0..5000u32 {
            // plain and escaped DNs interleaved, in no particular order
            let id = (i.wrapping_mul(2_654_435_761) % 100_000).to_string();
            let dn = if i % 7 == 0 {
                format!("uid=X\\,{id},ou=people,dc=x")
            } else {
                format!("uid=AC-{id},ou=people,dc=x")
            };
            if !k.contains(&dn) {
                want.push(dn_key(&dn));
            }
            k.insert(desired(&dn, &id));
        }
        want.sort();
        let got: Vec<String> = k.into_sorted().iter().map(|d| d.entry.dn.key()).collect();
        assert_eq!(got, want);
    }
}
