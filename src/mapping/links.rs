//! The links a kept person brings: their classes and groups (gathered as
//! each person is kept, built into entries when [`Mapper::finish`] ends
//! the extraction) and a pupil's links to their parents (rewritten then
//! when a parent is not kept).

use super::layout::{GroupKind, Layout};
use super::{Desired, Mapper};
use crate::aaf::Record;
use crate::model::Entry;
use crate::schema::{EntryKind, ATTR_SOURCE, STATE_CLASS};

#[derive(Default)]
pub(super) struct GroupAcc {
    pub(super) name: Option<String>,
    /// Ids of the members (their DNs are made in `finish`: an id is a
    /// third of a DN, and an académie has a million memberships).
    pub(super) members: Vec<Box<str>>,
}

/// A pupil's parent as the pupil's record names it: id, relation code.
pub(super) type ParentRef = (Box<str>, Option<Box<str>>);

/// Writes a pupil's links to `parents`: `ENTEleveParents` (DNs) and
/// `ENTEleveAutoriteParentale` (DN, then `$` and the relation code if any).
fn add_parent_links(layout: &Layout, pupil: &mut Entry, parents: &[ParentRef]) {
    let mut auth = Vec::with_capacity(parents.len());
    let mut dns = Vec::with_capacity(parents.len());
    for (pid, code) in parents {
        let pdn = layout.person_dn(pid).to_string();
        auth.push(match code {
            Some(c) => format!("{pdn}${c}"),
            None => pdn.clone(),
        });
        dns.push(pdn);
    }
    pupil.add("ENTEleveAutoriteParentale", auth);
    pupil.add("ENTEleveParents", dns);
}

impl Mapper<'_> {
    /// Bookkeeping once a person is kept: class/group membership and the
    /// pupil ↔ parent links, checked at the end.
    pub(super) fn after_insert(&mut self, d: &mut Desired, rec: &Record) {
        if !d.kind.is_person() {
            return;
        }
        let id: Box<str> = d.id.as_str().into();
        for (attr, kind) in [
            ("ENTPersonClasses", GroupKind::Classe),
            ("ENTPersonGroupes", GroupKind::Groupe),
        ] {
            for v in rec.values(attr) {
                // 1D: sid$?$?$code$label; fields 1 and 2 are not interpreted
                let f: Vec<&str> = v.split('$').map(str::trim).collect();
                let sid = f[0];
                let label = f.get(4).copied().filter(|s| !s.is_empty());
                let code = f
                    .get(3)
                    .copied()
                    .filter(|s| !s.is_empty())
                    .or(label)
                    .or_else(|| f.get(1).copied().filter(|s| !s.is_empty()));
                let Some(code) = code else {
                    *self
                        .stats
                        .invalid_values
                        .entry(attr.to_string())
                        .or_default() += 1;
                    continue;
                };
                if !self.perimeter.has(sid) {
                    continue;
                }
                let acc = self
                    .groups
                    .entry((kind, sid.to_string(), code.to_string()))
                    .or_default();
                if d.kind == EntryKind::Pupil || acc.name.is_none() {
                    if let Some(l) = label {
                        acc.name = Some(l.to_string());
                    }
                }
                acc.members.push(id.clone());
            }
        }
        match d.kind {
            EntryKind::Pupil => {
                self.kept_pupils.insert(id.clone());
                let mut refs = Vec::new();
                for v in rec.values("ENTEleveAutoriteParentale") {
                    let (pid, code) = match v.split_once('$') {
                        Some((p, c)) => (
                            p.trim(),
                            Some(c.trim()).filter(|c| !c.is_empty()).map(Box::from),
                        ),
                        None => (v.trim(), None),
                    };
                    if pid.is_empty() {
                        continue;
                    }
                    self.pupils_of_parent
                        .entry(pid.into())
                        .or_default()
                        .push(id.clone());
                    refs.push((pid.into(), code));
                }
                // written now, while the entry is being built: `finish`
                // only rewrites the pupils naming a parent the extraction
                // does not keep (an entry is stored once, not twice)
                add_parent_links(self.layout, &mut d.entry, &refs);
                self.parents_of_pupil.insert(id, refs);
            }
            EntryKind::Parent => {
                self.kept_parents.insert(id);
            }
            _ => {}
        }
    }

    /// Drops the pupil → parent links to parents the extraction does not
    /// keep (a parent whose record was rejected is still there).
    pub(super) fn drop_unkept_parents(&mut self) {
        for (pupil, mut refs) in std::mem::take(&mut self.parents_of_pupil) {
            let before = refs.len();
            refs.retain(|(pid, _)| {
                self.kept_parents.contains(pid) || self.protected.people.contains(pid)
            });
            if refs.len() == before {
                continue;
            }
            self.stats.dangling_links += (before - refs.len()) as u64;
            let key = self.layout.person_dn(&pupil).key();
            let Some(d) = self.desired.get_mut(&key) else {
                continue;
            };
            d.entry.remove("ENTEleveAutoriteParentale");
            d.entry.remove("ENTEleveParents");
            add_parent_links(self.layout, &mut d.entry, &refs);
        }
    }

    /// The class and group entries, built from the memberships gathered
    /// as people were kept.
    pub(super) fn build_groups(&mut self) {
        for ((kind, sid, code), acc) in std::mem::take(&mut self.groups) {
            let l = self.layout;
            let mut e = Entry::new(l.class_dn(kind, &sid, &code));
            e.add(
                "objectClass",
                ["top", "groupOfNames", kind.object_class(), STATE_CLASS],
            );
            e.set("cn", l.class_cn(kind, &sid, &code));
            e.add(
                "member",
                acc.members.iter().map(|id| l.person_dn(id).to_string()),
            );
            if let Some(n) = acc.name {
                e.set("description", n);
            }
            e.set("aafSyncStructure", l.structure_dn(&sid).to_string());
            e.set("aafSyncCode", code.clone());
            e.set(ATTR_SOURCE, l.source.clone());
            let d = Desired {
                kind: match kind {
                    GroupKind::Classe => EntryKind::Classe,
                    GroupKind::Groupe => EntryKind::Groupe,
                },
                id: format!("{sid}${code}"),
                entry: e,
            };
            let mut d = d;
            self.finish_entry(d.kind, None, &mut d.entry);
            self.freeze(&mut d.entry);
            self.desired.insert(d.entry.dn.key(), d);
        }
    }
}
