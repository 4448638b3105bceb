//! What only 2D records need from the mapper: the reference tables of
//! subjects and formations (read to check the codes people carry, never
//! written), the class and
//! group labels a school's record lists, a pupil's links to their legal
//! guardians from `ENTElevePersRelEleve`, and the codes checked against the
//! tables. The field tables themselves are [`super::fields_2d`].

use super::layout::GroupKind;
use super::links::ParentRef;
use super::MapStats;
use crate::aaf::{FileCategory, Record};
use crate::model::{value_key, Entry};
use std::collections::{HashMap, HashSet};

/// The reference tables of one 2D extraction and the labels its schools
/// give their classes and groups.
#[derive(Debug, Default)]
pub(super) struct Tables {
    subjects: HashSet<String>,
    formations: HashSet<String>,
    /// (kind, school id, code) → label, from `ENTStructureClasses` and
    /// `ENTStructureGroupes` (`code$label$…`).
    labels: HashMap<(GroupKind, String, String), String>,
}

impl Tables {
    /// Takes one record of a reference table.
    pub(super) fn reference(&mut self, rec: &Record) {
        match rec.category {
            FileCategory::MatiereEducNat => {
                self.subjects.insert(rec.id.trim().to_string());
            }
            FileCategory::MefEducNat => {
                self.formations.insert(rec.id.trim().to_string());
            }
            _ => {}
        }
    }

    /// Takes the class and group labels of a school's record.
    pub(super) fn school(&mut self, sid: &str, rec: &Record) {
        for (attr, kind) in [
            ("ENTStructureClasses", GroupKind::Classe),
            ("ENTStructureGroupes", GroupKind::Groupe),
        ] {
            for v in rec.values(attr) {
                let mut f = v.split('$').map(str::trim);
                let (Some(code), Some(label)) = (f.next(), f.next()) else {
                    continue;
                };
                if !code.is_empty() && !label.is_empty() {
                    let key = (
                        kind,
                        value_key(sid).into_owned(),
                        value_key(code).into_owned(),
                    );
                    self.labels.insert(key, label.into());
                }
            }
        }
    }

    /// The label a school gives one of its classes or groups.
    pub(super) fn label(&self, kind: GroupKind, sid: &str, code: &str) -> Option<&str> {
        let key = (
            kind,
            value_key(sid).into_owned(),
            value_key(code).into_owned(),
        );
        self.labels.get(&key).map(String::as_str)
    }

    /// Counts a pupil's formation code the `MefEducNat` table does not
    /// list. The pupil's own labels are written as the record gives them,
    /// never completed from the table: what a record does not carry would
    /// then depend on whether the day's extraction had the table (a Delta
    /// has none), and a label kept from an old code would outlive it.
    pub(super) fn check_formation(&self, e: &Entry, stats: &mut MapStats) {
        let Some(code) = e.first("ENTEleveMEF") else {
            return;
        };
        if !self.formations.is_empty() && !self.formations.contains(code.trim()) {
            *stats.unknown_codes.entry("ENTEleveMEF".into()).or_default() += 1;
        }
    }

    /// Counts subject codes of a teacher's lists (`sid$code$subject`) the
    /// `MatiereEducNat` table does not list.
    pub(super) fn check_subjects(&self, rec: &Record, stats: &mut MapStats) {
        if self.subjects.is_empty() {
            return;
        }
        for attr in ["ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres"] {
            for v in rec.values(attr) {
                let Some(subject) = v.split('$').nth(2).map(str::trim) else {
                    continue;
                };
                if !subject.is_empty() && !self.subjects.contains(subject) {
                    *stats.unknown_codes.entry(attr.into()).or_default() += 1;
                }
            }
        }
    }
}

/// The legal guardians a 2D pupil's record names: each
/// `ENTElevePersRelEleve` value (`id$relation$financial$legal$contact$
/// payment`) with a legal responsibility (1 or 2), its financial and
/// payment flags cleared (see [`super::fields_2d`]); then the ids of
/// `ENTEleveAutoriteParentale` not listed already. Relations without legal
/// responsibility are counted in `stats`, not linked.
pub(super) fn guardians(rec: &Record, stats: &mut MapStats) -> Vec<ParentRef> {
    let mut refs: Vec<ParentRef> = Vec::new();
    for v in rec.values("ENTElevePersRelEleve") {
        let f: Vec<&str> = v.split('$').map(str::trim).collect();
        let id = f[0];
        if id.is_empty() {
            continue;
        }
        let field = |i: usize| f.get(i).copied().unwrap_or("");
        if !matches!(field(3), "1" | "2") {
            stats.relations_not_legal += 1;
            continue;
        }
        if refs.iter().any(|r| crate::model::same_value(&r.id, id)) {
            continue;
        }
        let relation = field(1);
        refs.push(ParentRef {
            id: id.into(),
            code: Some(relation).filter(|c| !c.is_empty()).map(Box::from),
            relation: Some(format!("{relation}$${}${}$", field(3), field(4)).into()),
        });
    }
    for v in rec.values("ENTEleveAutoriteParentale") {
        // bare ids in 2D; `id$code` when rebuilt from the directory
        let id = v.split('$').next().unwrap_or(v).trim();
        if id.is_empty() || refs.iter().any(|r| crate::model::same_value(&r.id, id)) {
            continue;
        }
        refs.push(ParentRef {
            id: id.into(),
            code: None,
            relation: None,
        });
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aaf::reader::RecordAttr;
    use crate::aaf::Operation;

    fn pupil(attrs: &[(&str, &[&str])]) -> Record {
        Record {
            op: Operation::Add,
            category: FileCategory::Eleve,
            id: "1".into(),
            attrs: attrs
                .iter()
                .map(|(n, v)| RecordAttr {
                    name: n.to_string(),
                    values: v.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            index: 0,
        }
    }

    #[test]
    fn only_legal_guardians_are_linked_and_payment_flags_cleared() {
        let mut stats = MapStats::default();
        let rec = pupil(&[
            (
                "ENTElevePersRelEleve",
                &["10$20$1$1$1$1", "11$10$0$2$1$0", "12$39$0$0$1$0"],
            ),
            ("ENTEleveAutoriteParentale", &["10", "13"]),
        ]);
        let refs = guardians(&rec, &mut stats);
        let ids: Vec<&str> = refs.iter().map(|r| &*r.id).collect();
        assert_eq!(ids, ["10", "11", "13"]);
        assert_eq!(refs[0].relation.as_deref(), Some("20$$1$1$"));
        assert_eq!(refs[0].code.as_deref(), Some("20"));
        assert_eq!(refs[2].relation, None);
        assert_eq!(stats.relations_not_legal, 1);
        // what the directory gives back maps the same
        let again = pupil(&[
            ("ENTElevePersRelEleve", &["10$20$$1$1$", "11$10$$2$1$"]),
            ("ENTEleveAutoriteParentale", &["10$20", "11$10", "13"]),
        ]);
        let back = guardians(&again, &mut MapStats::default());
        assert_eq!(
            back.iter().map(|r| &*r.id).collect::<Vec<_>>(),
            ids,
            "round trip"
        );
        assert_eq!(back[0].relation, refs[0].relation);
    }
}
