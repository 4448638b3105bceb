//! The read of the managed tree: one paged search, decoded straight from
//! BER, into a [`Snapshot`] (from a consumer when it has caught up). How
//! an entry read is classed (managed, adoptable, someone else's logins) is
//! here too: the incremental read (`incremental`) classes the same way.

use super::{escape_filter, Directory, DirectoryError};
use crate::mapping::{self, layout::Layout};
use crate::model::{Dn, Entry, EntryMap, Store};
use crate::schema::{self, EntryKind};
use ldap3::asn1::{StructureTag, PL};
use ldap3::ResultEntry;
use std::collections::HashSet;

/// The attributes read from managed entries: what the sync owns, plus what
/// identifies an entry. Never `userPassword` or other foreign attributes.
pub fn read_attrs() -> Vec<String> {
    let mut v: Vec<String> = [
        "objectClass",
        "uid",
        "ou",
        "cn",
        "ENTPersonLogin",
        "ENTPersonAlias",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in [
        EntryKind::Structure,
        EntryKind::Pupil,
        EntryKind::Parent,
        EntryKind::Staff,
        EntryKind::Classe,
    ] {
        v.extend(mapping::owned(k).iter().map(|s| s.to_string()));
    }
    v.sort_by_key(|s| s.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

/// The managed tree as read from the directory.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Entries of this source, by DN key.
    pub managed: EntryMap,
    /// Entries whose jointure names this source but that are not managed
    /// (an older feeder's): adopted when the extraction carries them.
    pub adoptable: EntryMap,
    /// Every login in the tree (managed or not), lower case.
    pub taken_logins: HashSet<String>,
    /// A targeted read ([`super::targeted`]): part of the tree only, its
    /// logins those of the entries read; the rails' counts beside it.
    pub counts: Option<super::targeted::Counts>,
    /// A targeted read: the DN keys it looked for and did not find.
    pub absent: HashSet<String>,
}

/// What an entry the read returns is to the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// This source's (`aafSyncState` naming it).
    Managed,
    /// Not managed, but its jointure names this source.
    Adoptable,
    /// Anyone else's: only its logins matter (they are taken).
    Other,
}

/// How the read tells its entries apart, for one source.
#[derive(Debug, Clone)]
pub(super) struct Classifier {
    source: String,
    jointure_prefix: String,
}

impl Classifier {
    pub(super) fn new(layout: &Layout) -> Classifier {
        Classifier {
            source: layout.source.clone(),
            jointure_prefix: format!("{}$", layout.source.to_ascii_lowercase()),
        }
    }

    /// Whether `e` is this source's (one test for every reader, whatever
    /// holds the attributes). `aafSyncSource` matches as the read's filter
    /// does on the server (`caseIgnoreMatch`: case and spaces at either
    /// end aside): an exact comparison took an entry whose source another
    /// tool wrote in other case for a stranger's holding its DN; a coarser
    /// one (tabs too) claimed, then deleted, an entry the server does not
    /// give as ours ([`crate::model::same_strictly`]).
    pub(super) fn managed(&self, e: &impl schema::Attributes) -> bool {
        e.has_value("objectClass", schema::STATE_CLASS)
            && e.first(schema::ATTR_SOURCE)
                .is_some_and(|s| crate::model::same_strictly(s, &self.source))
    }

    pub(super) fn class(&self, e: &Entry) -> Class {
        let state = e.has_value("objectClass", schema::STATE_CLASS);
        if self.managed(e) {
            Class::Managed
        } else if !state
            && ["ENTPersonJointure", "ENTStructureJointure"]
                .iter()
                .any(|a| {
                    e.get(a).is_some_and(|vs| {
                        vs.iter().any(|v| {
                            // as the directory matches it (spaces at
                            // either end aside), as `id_of_jointure` reads it
                            v.trim_start_matches(' ')
                                .to_ascii_lowercase()
                                .starts_with(&self.jointure_prefix)
                        })
                    })
                })
        {
            Class::Adoptable
        } else {
            Class::Other
        }
    }
}

/// The logins an entry takes, lower case: a login must differ from every
/// login and every alias (the ENT's CAS looks people up by either).
pub(super) fn logins_of(e: &Entry) -> impl Iterator<Item = String> + '_ {
    ["ENTPersonLogin", "ENTPersonAlias"]
        .into_iter()
        .flat_map(|a| e.get(a).unwrap_or_default().iter())
        .map(crate::mapping::login::login_key)
}

impl Snapshot {
    /// Adds one entry the read returned.
    pub(super) fn take(&mut self, mut e: Entry, class: Class, store: Option<&Store>) {
        self.taken_logins.extend(logins_of(&e));
        let into = match class {
            Class::Managed => &mut self.managed,
            Class::Adoptable => &mut self.adoptable,
            Class::Other => return,
        };
        if let Some(store) = store {
            e.freeze(store);
        }
        into.insert(e);
    }
}

/// The filter of the read: the source's entries, every login, every
/// entry whose jointure names the source.
pub fn read_filter(layout: &Layout) -> String {
    let src = escape_filter(&layout.source);
    format!(
        "(|(&(objectClass={})({}={src}))(ENTPersonLogin=*)(ENTPersonAlias=*)(ENTPersonJointure={src}$*)(ENTStructureJointure={src}$*))",
        schema::STATE_CLASS,
        schema::ATTR_SOURCE,
    )
}

/// A search result decoded straight from its BER structure, values
/// borrowed until they land in the entry's buffer: the read of an
/// académie's tree spent more time in `SearchEntry::construct` (a map and
/// a string per value) than in the network. As `construct` does, an
/// attribute with a value that is not UTF-8 is left out (none of the
/// managed attributes is binary). `entryUUID`, when asked for (the
/// incremental read keys its snapshot by it), is taken out of the entry
/// and returned beside it, lower case. `None` for a malformed result,
/// where `construct` would panic.
pub(super) fn decode_entry(re: &ResultEntry) -> Option<(Entry, Option<String>)> {
    fn parts(t: &StructureTag) -> Option<&[StructureTag]> {
        match &t.payload {
            PL::C(v) => Some(v),
            PL::P(_) => None,
        }
    }
    fn text(t: &StructureTag) -> Option<&str> {
        match &t.payload {
            PL::P(b) => std::str::from_utf8(b).ok(),
            PL::C(_) => None,
        }
    }
    if re.0.id != 4 {
        return None;
    }
    let [dn, attrs] = parts(&re.0)? else {
        return None;
    };
    let mut list = Vec::new();
    let mut uuid = None;
    for pa in parts(attrs)? {
        let [name, values] = parts(pa)? else {
            return None;
        };
        let values = parts(values)?;
        let vals: Option<Vec<&str>> = values.iter().map(text).collect();
        let name = text(name)?;
        if name.eq_ignore_ascii_case("entryUUID") {
            uuid = vals.and_then(|v| v.first().map(|u| u.to_ascii_lowercase()));
            continue;
        }
        if let Some(vals) = vals {
            list.push((name, vals));
        }
    }
    Some((Entry::from_attrs(Dn::new(text(dn)?), list), uuid))
}

impl Directory {
    /// Reads the managed entries of `source`, and every login under the base
    /// (logins are unique in the whole tree), with one paged search: from
    /// the consumer of `read_url` when it has caught up with the provider,
    /// else from the provider ([`Directory::fresh_reader`]). The entries
    /// stay on the heap: a run that holds the tree for long passes its
    /// store to [`Directory::read_managed_in`].
    pub async fn read_managed(&self, layout: &Layout) -> Result<Snapshot, DirectoryError> {
        self.read_managed_in(layout, None).await
    }

    /// [`Directory::read_managed`], the managed and adoptable entries
    /// frozen into the run's entry `store` when it has one.
    pub async fn read_managed_in(
        &self,
        layout: &Layout,
        store: Option<&Store>,
    ) -> Result<Snapshot, DirectoryError> {
        if let Some(reader) = self.fresh_reader().await {
            let snap = reader.read_managed_with(layout, read_attrs(), store).await;
            let url = reader.url().to_string();
            reader.close().await;
            match snap {
                Ok(snap) => {
                    self.set_read_from(&url);
                    return Ok(snap);
                }
                Err(error) => {
                    tracing::warn!(consumer = %url, %error, "reading the consumer failed: reading the provider instead")
                }
            }
        }
        self.set_read_from(self.url());
        self.read_managed_with(layout, read_attrs(), store).await
    }

    pub(super) fn set_read_from(&self, url: &str) {
        if let Ok(mut r) = self.read_from.lock() {
            *r = Some(url.to_string());
        }
    }

    /// [`Directory::read_managed`] with every user attribute (the audit).
    pub async fn read_managed_all(&self, layout: &Layout) -> Result<Snapshot, DirectoryError> {
        self.read_managed_with(layout, vec!["*".to_string()], None)
            .await
    }

    async fn read_managed_with(
        &self,
        layout: &Layout,
        attrs: Vec<String>,
        store: Option<&Store>,
    ) -> Result<Snapshot, DirectoryError> {
        let mut snap = Snapshot::default();
        let classes = Classifier::new(layout);
        self.read_each(layout, attrs, |e, _| {
            let class = classes.class(&e);
            snap.take(e, class, store);
            Ok(())
        })
        .await?;
        Ok(snap)
    }

    /// The paged search of the read, each entry (and its `entryUUID`
    /// when asked for) handed to `each` as it arrives. It goes through
    /// [`super::wire`], which decodes each result in place from the
    /// connection's buffer: through ldap3, every message became a tree of
    /// tags (a copy of every value) before it could be read, and the read
    /// ran at a third to a half of `ldapsearch`.
    pub(super) async fn read_each(
        &self,
        layout: &Layout,
        attrs: Vec<String>,
        mut each: impl FnMut(Entry, Option<String>) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        let filter = read_filter(layout);
        let bar = crate::host::progress::Progress::new("read", "entries", None);
        let mut failed: Option<DirectoryError> = None;
        let url = self.url().to_string();
        super::wire::search(
            &self.cfg,
            &url,
            layout.base.as_str(),
            &filter,
            &attrs,
            |dn, found| {
                if failed.is_some() {
                    return;
                }
                bar.inc(1);
                let mut uuid = None;
                let kept = found.filter(|(name, values)| {
                    if name.eq_ignore_ascii_case("entryUUID") {
                        uuid = values.first().map(|u| u.to_ascii_lowercase());
                        return false;
                    }
                    true
                });
                let e = Entry::from_attrs(Dn::new(dn), kept);
                if let Err(error) = each(e, uuid) {
                    failed = Some(error);
                }
            },
        )
        .await
        .map_err(|e| e.at(&layout.base))?;
        if let Some(error) = failed {
            return Err(error);
        }
        bar.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::search::to_entry;
    use ldap3::asn1::TagClass;
    use ldap3::SearchEntry;

    fn prim(b: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b.to_vec()),
        }
    }
    fn cons(id: u64, v: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(v),
        }
    }
    fn attr(name: &str, values: &[&[u8]]) -> StructureTag {
        cons(
            16,
            vec![
                prim(name.as_bytes()),
                cons(17, values.iter().map(|v| prim(v)).collect()),
            ],
        )
    }

    #[test]
    fn decodes_a_search_result_as_search_entry_construct_does() {
        let tag = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![
                prim("uid=AC-X-1,ou=people,dc=example,dc=org".as_bytes()),
                cons(
                    16,
                    vec![
                        attr("objectClass", &[b"top", b"ENTEleve", b"top"]),
                        attr("sn", &["Éloïse".as_bytes()]),
                        attr("member", &[b"uid=b,dc=x", b"UID=B,dc=x", b"uid=a,dc=x"]),
                        // not UTF-8: left out, as construct puts it aside
                        attr("jpegPhoto", &[b"\xff\xd8\xff", b"ok"]),
                        attr("description", &[]),
                    ],
                ),
            ]),
        };
        let re = ResultEntry::new(tag);
        let (direct, uuid) = decode_entry(&re).expect("well formed");
        assert!(uuid.is_none());
        let via = to_entry(SearchEntry::construct(re));
        assert_eq!(direct, via);
        assert_eq!(direct.dn.as_str(), "uid=AC-X-1,ou=people,dc=example,dc=org");
        assert_eq!(direct.get("objectclass").unwrap(), &["ENTEleve", "top"]);
        assert_eq!(direct.get("member").unwrap().len(), 2);
        assert!(direct.get("jpegPhoto").is_none());

        // what construct would panic on is refused
        let bad = ResultEntry::new(cons(4, vec![prim(b"uid=x")]));
        assert!(decode_entry(&bad).is_none());
        let bad = ResultEntry::new(cons(4, vec![prim(b"\xff"), cons(16, vec![])]));
        assert!(decode_entry(&bad).is_none());
    }
}
