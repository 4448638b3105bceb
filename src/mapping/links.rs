//! The links a kept person brings: their classes and groups (gathered as
//! each person is kept, built into entries when [`Mapper::finish`] ends
//! the extraction) and a pupil's links to their parents (rewritten then
//! when a parent is not kept).

use super::layout::{GroupKind, Layout};
use super::scope::Patch;
use super::{Desired, Mapper};
use crate::aaf::degree::Degree;
use crate::aaf::{FileCategory, Record};
use crate::model::{value_key, Entry};
use crate::schema::{EntryKind, ATTR_SOURCE, STATE_CLASS};

/// The parents a 1D pupil's record names: `ENTEleveAutoriteParentale`
/// values `id$relationCode`.
fn one_d_parents(rec: &Record) -> Vec<ParentRef> {
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
        refs.push(ParentRef {
            id: pid.into(),
            code,
            relation: None,
        });
    }
    refs
}

/// Strings the link tables name many times (people's ids, relation
/// codes), each held once and named by its number: an académie's
/// million pupils each appeared in four or five tables.
///
/// Strings are numbered by their matching form ([`value_key`]), as the
/// directory matches ids (`caseIgnoreMatch`): a parent whose record names
/// their pupil `ABC1` is the parent of pupil `abc1` (spelt apart, the
/// parent was found to have no pupil, and left). A number's spelling is
/// its person's own record's once that record is mapped, else the first
/// one seen: the DNs made of it do not follow the order of the records.
#[derive(Default)]
pub(super) struct Interned {
    /// Matching forms.
    set: indexmap::IndexSet<Box<str>>,
    /// Spellings that are not their matching form (few: ids are digits).
    spelt: std::collections::HashMap<u32, Box<str>>,
    /// [`Mark`]s, by number: whether the person was kept as a pupil, as a
    /// parent; whether their own record spelt their id.
    marks: Vec<u8>,
}

/// What [`Interned::mark`] records of a number.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    KeptPupil = 1,
    KeptParent = 2,
    /// Spelt by the person's own record.
    Own = 4,
    /// A record of the extraction named this person as its own id.
    Seen = 8,
    /// And another one after it (see `Mapper::seen_before`).
    Twice = 16,
}

impl Interned {
    /// The number of `s`, given it now if it had none.
    pub(super) fn number(&mut self, s: &str) -> u32 {
        self.number_spelt(s, false)
    }

    /// [`Interned::number`] of a person's own id, as their record spells it.
    pub(super) fn number_own(&mut self, s: &str) -> u32 {
        self.number_spelt(s, true)
    }

    fn number_spelt(&mut self, s: &str, own: bool) -> u32 {
        let k = value_key(s);
        let i = match self.set.get_index_of(k.as_ref()) {
            Some(i) => i,
            None => self.set.insert_full(k.as_ref().into()).0,
        };
        // four billion distinct strings would not fit in memory first
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        if own {
            self.mark(n, Mark::Own);
            if k.as_ref() == s {
                self.spelt.remove(&n);
            } else {
                self.spelt.insert(n, s.into());
            }
        } else if k.as_ref() != s && !self.is(n, Mark::Own) && !self.spelt.contains_key(&n) {
            self.spelt.insert(n, s.into());
        }
        n
    }

    /// The number of `s`, if it has one.
    pub(super) fn find(&self, s: &str) -> Option<u32> {
        self.set
            .get_index_of(value_key(s).as_ref())
            .and_then(|i| u32::try_from(i).ok())
    }
    /// The spelling of the string numbered `n` by [`Interned::number`].
    pub(super) fn get(&self, n: u32) -> &str {
        match self.spelt.get(&n) {
            Some(s) => s,
            None => self.set.get_index(n as usize).map_or("", |s| s),
        }
    }
    pub(super) fn mark(&mut self, n: u32, m: Mark) {
        let i = n as usize;
        if self.marks.len() <= i {
            self.marks.resize(i + 1, 0);
        }
        self.marks[i] |= m as u8;
    }
    pub(super) fn unmark(&mut self, n: u32, m: Mark) {
        if let Some(b) = self.marks.get_mut(n as usize) {
            *b &= !(m as u8);
        }
    }
    pub(super) fn is(&self, n: u32, m: Mark) -> bool {
        self.marks.get(n as usize).is_some_and(|b| b & m as u8 != 0)
    }
}

/// A pupil's link to a parent, kept until the extraction ends: a
/// [`ParentRef`] by numbers ([`Interned`]), with its pupil's.
pub(super) struct Link {
    pupil: u32,
    parent: u32,
    code: Option<u32>,
    relation: Option<Box<str>>,
}

#[derive(Default)]
pub(super) struct GroupAcc {
    /// The school id and the code as their smallest spelling (see
    /// `after_insert`): the map is keyed by
    /// their matching forms, as the directory compares the class's DN
    /// (`6A` and `6a` are one class).
    pub(super) sid: String,
    pub(super) code: String,
    pub(super) name: Option<String>,
    /// Whether `name` is a pupil's (a pupil's label wins over a teacher's).
    pub(super) pupil_named: bool,
    /// Ids of the members (their DNs are made in `finish`: an id is a
    /// third of a DN, and an académie has a million memberships).
    /// Numbered by the mapper's [`Interned`].
    pub(super) members: Vec<u32>,
    /// Started from its entry (a Delta's [`Patch`]), not by a record.
    pub(super) patched: bool,
}

/// A pupil's parent as the pupil's record names it.
#[derive(Debug, Clone)]
pub(super) struct ParentRef {
    pub(super) id: Box<str>,
    /// The relation code (father, mother, guardian…), when given.
    pub(super) code: Option<Box<str>>,
    /// 2D: the rest of the `ENTElevePersRelEleve` value after the id, as
    /// written (see [`super::two_d::guardians`]).
    pub(super) relation: Option<Box<str>>,
}

/// The attributes a pupil's parent links are written in.
const PARENT_LINKS: [&str; 3] = [
    "ENTEleveAutoriteParentale",
    "ENTEleveParents",
    "ENTElevePersRelEleve",
];

/// Writes a pupil's links to `parents`: `ENTEleveParents` (DNs),
/// `ENTEleveAutoriteParentale` (DN, then `$` and the relation code if any)
/// and, in 2D, `ENTElevePersRelEleve` (DN, then the rest of the value).
fn add_parent_links(layout: &Layout, pupil: &mut Entry, parents: &[ParentRef]) {
    let mut auth = Vec::with_capacity(parents.len());
    let mut dns = Vec::with_capacity(parents.len());
    let mut relations = Vec::new();
    for p in parents {
        let pdn = layout.person_dn(&p.id).to_string();
        auth.push(match &p.code {
            Some(c) => format!("{pdn}${c}"),
            None => pdn.clone(),
        });
        if let Some(r) = &p.relation {
            relations.push(format!("{pdn}${r}"));
        }
        dns.push(pdn);
    }
    pupil.add(PARENT_LINKS[0], auth);
    pupil.add(PARENT_LINKS[1], dns);
    pupil.add(PARENT_LINKS[2], relations);
}

/// How a class or group value names its class.
#[derive(Debug, Clone, Copy)]
enum ListFormat {
    /// 1D: `sid$?$?$code$label`; fields 1 and 2 are not interpreted.
    OneD,
    /// 2D: `sid$code`, maybe followed by a subject (`sid$code$subject`).
    Code,
}

/// The fields of a person's record that make them a member of a class or
/// group entry, by degree and category.
fn memberships(
    degree: Degree,
    category: FileCategory,
) -> &'static [(&'static str, GroupKind, ListFormat)] {
    use GroupKind::*;
    use ListFormat::*;
    match (degree, category) {
        (Degree::OneD, FileCategory::Eleve | FileCategory::PersEducNat) => &[
            ("ENTPersonClasses", Classe, OneD),
            ("ENTPersonGroupes", Groupe, OneD),
        ],
        (Degree::TwoD, FileCategory::Eleve) => &[
            ("ENTEleveClasses", Classe, Code),
            ("ENTEleveGroupes", Groupe, Code),
        ],
        // a teacher teaching a subject in a class is one of its members
        (Degree::TwoD, FileCategory::PersEducNat) => &[
            ("ENTAuxEnsClasses", Classe, Code),
            ("ENTAuxEnsClassesMatieres", Classe, Code),
            ("ENTAuxEnsClassesPrincipal", Classe, Code),
            ("ENTAuxEnsGroupes", Groupe, Code),
            ("ENTAuxEnsGroupesMatieres", Groupe, Code),
        ],
        _ => &[],
    }
}

/// How `attr` writes classes, when it is one of the class and group lists
/// of either degree.
fn list_format(attr: &str) -> Option<ListFormat> {
    let all = [Degree::OneD, Degree::TwoD].into_iter().flat_map(|d| {
        [FileCategory::Eleve, FileCategory::PersEducNat]
            .into_iter()
            .flat_map(move |c| memberships(d, c).iter())
    });
    let mut found = None;
    for (name, _, format) in all {
        if *name == attr {
            found = Some(*format);
        }
    }
    found
}

/// The field of a class or group value that holds the code, when `attr`
/// is one of the class and group lists of either degree (1D: the fourth
/// of `sid$?$?$code$label`; 2D: the second of `sid$code[$subject]`).
pub(super) fn code_field(attr: &str) -> Option<usize> {
    list_format(attr).map(|format| match format {
        ListFormat::OneD => 3,
        ListFormat::Code => 1,
    })
}

/// The school field and the code of value `v` of `attr`, one of the class
/// and group lists of either degree, as the mapper reads them (the school
/// field as written: an entry's holds the school's DN).
pub fn class_value<'v>(attr: &str, v: &'v str) -> Option<(&'v str, &'v str)> {
    class_of(v, list_format(attr)?).map(|(school, code, _)| (school, code))
}

/// (school id, class code, label) of one class or group value; `None`
/// when it names no class.
fn class_of(v: &str, format: ListFormat) -> Option<(&str, &str, Option<&str>)> {
    let f: Vec<&str> = v.split('$').map(str::trim).collect();
    let given = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
    match format {
        ListFormat::OneD => {
            let label = given(4);
            let code = given(3).or(label).or_else(|| given(1))?;
            Some((f[0], code, label))
        }
        ListFormat::Code => Some((f[0], given(1)?, None)),
    }
}

/// The key a class or group is known by: its kind, and its school id and
/// code in their matching forms, as the directory compares the class's DN
/// (`6A` and `6a` are one class).
pub type ClassKey = (GroupKind, String, String);

/// A class or group a record names, as its first value naming it writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming<'r> {
    pub sid: &'r str,
    /// The code as written (the class takes its members' smallest spelling).
    pub code: &'r str,
    /// 1D: the label the value gives.
    pub label: Option<&'r str>,
}

/// Each class and group `rec` names by the membership fields of its
/// degree and category, of the schools `keep` takes, once, in field
/// order; `Err`: a value of that field names no class. A record naming
/// one class twice (`cpa$X`, `CPA$Y`) names it as the smallest of its
/// values writes it (smallest code, then a label over none, then the
/// smallest label): its values come in file order from an extraction,
/// sorted from an entry, and both must give the same.
pub fn classes_named<'r>(
    degree: Degree,
    rec: &'r Record,
    keep: impl Fn(&str) -> bool + 'r,
) -> Vec<Result<(ClassKey, Naming<'r>), &'static str>> {
    // a record names a few classes: found again by a look along the list
    let mut out: Vec<Result<(ClassKey, Naming<'r>), &'static str>> = Vec::new();
    fn order<'n>(n: &Naming<'n>) -> (&'n str, bool, Option<&'n str>) {
        (n.code, n.label.is_none(), n.label)
    }
    for &(attr, kind, format) in memberships(degree, rec.category) {
        for v in rec.values(attr) {
            let Some((sid, code, label)) = class_of(v, format) else {
                out.push(Err(attr));
                continue;
            };
            if !keep(sid) {
                continue;
            }
            let key = (
                kind,
                value_key(sid).into_owned(),
                value_key(code).into_owned(),
            );
            let n = Naming { sid, code, label };
            let seen = out.iter_mut().find_map(|o| match o {
                Ok((k, old)) if *k == key => Some(old),
                _ => None,
            });
            match seen {
                Some(old) => {
                    if order(&n) < order(old) {
                        *old = n;
                    }
                }
                None => out.push(Ok((key, n))),
            }
        }
    }
    out
}

impl Mapper<'_> {
    /// Starts the classes and groups of `patches` from their entries: the
    /// records mapped then add their people (see [`Patch`]).
    pub fn with_patches<'p>(mut self, patches: impl Iterator<Item = &'p Patch>) -> Self {
        for p in patches {
            let members = p.others.iter().map(|id| self.names.number(id)).collect();
            self.groups.insert(
                p.key.clone(),
                GroupAcc {
                    sid: p.sid.clone(),
                    code: p.code.clone(),
                    name: p.label.clone(),
                    pupil_named: false,
                    members,
                    patched: true,
                },
            );
        }
        self
    }

    /// Bookkeeping once a person is kept: class/group membership and the
    /// pupil ↔ parent links, checked at the end (`wanted`: whether the
    /// caller keeps the entry, see `Mapper::with_outputs`).
    pub(super) fn after_insert(&mut self, d: &mut Desired, rec: &Record, wanted: bool) {
        if !d.kind.is_person() {
            return;
        }
        let id = self.names.number_own(&d.id);
        let perimeter = &self.perimeter;
        for named in classes_named(self.degree, rec, |sid| perimeter.has(sid)) {
            let (key, n) = match named {
                Ok(found) => found,
                Err(attr) => {
                    *self
                        .stats
                        .invalid_values
                        .entry(attr.to_string())
                        .or_default() += 1;
                    continue;
                }
            };
            let acc = self.groups.entry(key).or_insert_with(|| GroupAcc {
                sid: n.sid.to_string(),
                code: n.code.to_string(),
                ..Default::default()
            });
            // members may spell the code (or the school's id) in other
            // cases: the smallest spelling is the class's, whatever order
            // the records come in (a Complet in file order, a Delta over
            // the tree by id; the first one seen made them disagree)
            if !acc.patched {
                if n.code < acc.code.as_str() {
                    acc.code = n.code.to_string();
                }
                if n.sid < acc.sid.as_str() {
                    acc.sid = n.sid.to_string();
                }
            }
            // the label: a pupil's over a teacher's, the smallest of
            // those, whatever order the records come in (as the code); a
            // patched class keeps its entry's: the people mapped write it
            // as it is, or gave another one before (only all its members'
            // records tell which one wins)
            if let (false, Some(l)) = (acc.patched, n.label) {
                let pupil = d.kind == EntryKind::Pupil;
                let wins = match &acc.name {
                    None => true,
                    Some(old) => {
                        (pupil && !acc.pupil_named)
                            || (pupil == acc.pupil_named && l < old.as_str())
                    }
                };
                if wins {
                    acc.name = Some(l.to_string());
                    acc.pupil_named = pupil;
                }
            }
            acc.members.push(id);
        }
        match d.kind {
            EntryKind::Pupil => {
                self.names.mark(id, Mark::KeptPupil);
                let refs = match self.degree {
                    Degree::OneD => one_d_parents(rec),
                    Degree::TwoD => super::two_d::guardians(rec, &mut self.stats),
                };
                for r in &refs {
                    let parent = self.names.number(&r.id);
                    self.pupils_of_parent.entry(parent).or_default().push(id);
                }
                // written now, while the entry is being built: `finish`
                // only rewrites the pupils naming a parent the extraction
                // does not keep (an entry is stored once, not twice); a
                // pupil whose entry is not wanted has nothing to rewrite
                add_parent_links(self.layout, &mut d.entry, &refs);
                if wanted {
                    // one flat list for every pupil: a vector per pupil
                    // cost more than the links it held
                    for r in refs {
                        let link = Link {
                            pupil: id,
                            parent: self.names.number(&r.id),
                            code: r.code.map(|c| self.names.number(&c)),
                            relation: r.relation,
                        };
                        self.parents_of_pupil.push(link);
                    }
                }
            }
            EntryKind::Parent => {
                self.names.mark(id, Mark::KeptParent);
            }
            _ => {}
        }
    }

    /// Drops the pupil → parent links to parents the extraction does not
    /// keep (a parent whose record was rejected is still there).
    pub(super) fn drop_unkept_parents(&mut self) {
        let names = &self.names;
        let all = std::mem::take(&mut self.parents_of_pupil);
        // a pupil's links were pushed together
        for links in all.chunk_by(|a, b| a.pupil == b.pupil) {
            let kept = |l: &&Link| {
                names.is(l.parent, Mark::KeptParent)
                    || self.protected.holds_person(names.get(l.parent))
            };
            let left = links.iter().filter(kept).count();
            if left == links.len() {
                continue;
            }
            self.stats.dangling_links += (links.len() - left) as u64;
            let dn = self.layout.person_dn(names.get(links[0].pupil));
            let Some(d) = self.desired.get_mut(dn.as_str()) else {
                continue;
            };
            let refs: Vec<ParentRef> = links
                .iter()
                .filter(kept)
                .map(|l| ParentRef {
                    id: names.get(l.parent).into(),
                    code: l.code.map(|c| names.get(c).into()),
                    relation: l.relation.clone(),
                })
                .collect();
            for a in PARENT_LINKS {
                d.entry.remove(a);
            }
            add_parent_links(self.layout, &mut d.entry, &refs);
        }
    }

    /// The class and group entries, built from the memberships gathered
    /// as people were kept.
    pub(super) fn build_groups(&mut self) {
        for ((kind, _, _), acc) in std::mem::take(&mut self.groups) {
            // a class started from its entry that no one is left in, or of
            // a school out of the perimeter: no record makes it
            if acc.patched && (acc.members.is_empty() || !self.perimeter.has(&acc.sid)) {
                continue;
            }
            let (sid, code) = (acc.sid, acc.code);
            let l = self.layout;
            let mut e = Entry::new(l.class_dn(kind, &sid, &code));
            e.add(
                "objectClass",
                ["top", "groupOfNames", kind.object_class(), STATE_CLASS],
            );
            e.set("cn", l.class_cn(kind, &sid, &code));
            e.add(
                "member",
                acc.members
                    .iter()
                    .map(|&id| l.person_dn(self.names.get(id)).to_string()),
            );
            let label = acc
                .name
                .or_else(|| self.two_d.label(kind, &sid, &code).map(str::to_string));
            if let Some(n) = label {
                e.set("description", n);
            }
            e.set("aafSyncStructure", l.structure_dn(&sid));
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
            self.desired.insert(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Interned;

    #[test]
    fn ids_are_numbered_by_their_matching_form_and_spelt_by_their_own_record() {
        let mut n = Interned::default();
        let a = n.number("ABC1");
        assert_eq!(n.number("abc1"), a);
        assert_eq!(n.find("Abc1"), Some(a));
        assert_eq!(n.get(a), "ABC1", "the first spelling seen");
        assert_eq!(n.number_own("abc1"), a);
        assert_eq!(n.get(a), "abc1", "the person's own record's");
        assert_eq!(n.number("ABC1"), a);
        assert_eq!(n.get(a), "abc1", "a reference spells it no more");
        let e = n.number_own("ÉLÈVE");
        assert_eq!(n.find("élève"), Some(e));
        assert_eq!(n.get(e), "ÉLÈVE");
        assert_eq!(n.find("other"), None);
    }
}
