//! Per-record limits on multi-valued fields (spec §9: bounded input).
//!
//! One record of a real extraction lists one class or two for a pupil, a
//! handful of functions for a teacher, a few pupils for a parent. A record
//! listing thousands (a corrupted or hostile file) would create thousands of
//! class entries or links: it is rejected instead, naming the field and the
//! limit, and the person is kept exactly as the directory holds them (a
//! rejected record is not a departure). The defaults leave a wide margin
//! above real life; `[safety.record]` changes them.

use crate::aaf::FileCategory;
use serde::Serialize;

/// The most values one record may carry, per field and category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordLimits {
    /// `ENTPersonClasses` of a pupil.
    pub pupil_classes: usize,
    /// `ENTPersonGroupes` of a pupil.
    pub pupil_groups: usize,
    /// `ENTEleveAutoriteParentale` of a pupil.
    pub parents_per_pupil: usize,
    /// `ENTPersRelEleveEleve` of a parent.
    pub pupils_per_parent: usize,
    /// `ENTPersonClasses` of a staff member (a director lists every class
    /// of a school).
    pub staff_classes: usize,
    /// `ENTPersonGroupes` of a staff member.
    pub staff_groups: usize,
    /// `ENTPersonFonctions` of a staff member.
    pub staff_functions: usize,
    /// `ENTPersonStructRattach` of anyone.
    pub structures_per_person: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            pupil_classes: 8,
            pupil_groups: 32,
            parents_per_pupil: 10,
            pupils_per_parent: 30,
            staff_classes: 100,
            staff_groups: 100,
            staff_functions: 50,
            structures_per_person: 50,
        }
    }
}

impl RecordLimits {
    /// The limit on `field` for a record of `cat`, with its config key.
    pub fn of(&self, cat: FileCategory, field: &str) -> Option<(usize, &'static str)> {
        use FileCategory::*;
        Some(match (cat, field) {
            (Eleve, "ENTPersonClasses") => (self.pupil_classes, "pupil_classes"),
            (Eleve, "ENTPersonGroupes") => (self.pupil_groups, "pupil_groups"),
            (Eleve, "ENTEleveAutoriteParentale") => (self.parents_per_pupil, "parents_per_pupil"),
            (PersRelEleve, "ENTPersRelEleveEleve") => (self.pupils_per_parent, "pupils_per_parent"),
            (PersEducNat, "ENTPersonClasses") => (self.staff_classes, "staff_classes"),
            (PersEducNat, "ENTPersonGroupes") => (self.staff_groups, "staff_groups"),
            (PersEducNat, "ENTPersonFonctions") => (self.staff_functions, "staff_functions"),
            (Eleve | PersRelEleve | PersEducNat, "ENTPersonStructRattach") => {
                (self.structures_per_person, "structures_per_person")
            }
            // the 2D names of the same lists
            (Eleve, "ENTEleveClasses") => (self.pupil_classes, "pupil_classes"),
            (Eleve, "ENTEleveGroupes") => (self.pupil_groups, "pupil_groups"),
            (Eleve, "ENTElevePersRelEleve") => (self.parents_per_pupil, "parents_per_pupil"),
            (PersRelEleve, "ENTAuxPersRelEleveEleve") => {
                (self.pupils_per_parent, "pupils_per_parent")
            }
            (
                PersEducNat,
                "ENTAuxEnsClasses"
                | "ENTAuxEnsClassesMatieres"
                | "ENTAuxEnsClassesPrincipal"
                | "ENTAuxEnsMEF"
                | "ENTAuxEnsMatiereEnseignEtab"
                | "ENTAuxEnsCategoDiscipline",
            ) => (self.staff_classes, "staff_classes"),
            (PersEducNat, "ENTAuxEnsGroupes" | "ENTAuxEnsGroupesMatieres") => {
                (self.staff_groups, "staff_groups")
            }
            _ => return None,
        })
    }

    /// Why `rec` breaks a limit (field, message), if it does.
    pub fn check<'r>(&self, rec: &'r crate::aaf::Record) -> Option<(&'r str, String)> {
        if let Some(over) = long_code(rec) {
            return Some(over);
        }
        rec.attrs.iter().find_map(|a| {
            let (max, key) = self.of(rec.category, &a.name)?;
            let n = a.non_empty().count();
            (n > max).then(|| {
                (
                    a.name.as_str(),
                    format!(
                        "{n} values, more than the {max} one {} record may carry ([safety.record] {key})",
                        rec.category
                    ),
                )
            })
        })
    }
}

/// The longest class or group code a record may give: real codes are a
/// few characters (`6A`, `TS2`, `4ESP2`); the class entry's DN holds the
/// code, and slapd refuses a DN past its key size, so a code hundreds of
/// characters long would fail the class's every write, every day.
pub const MAX_CODE_CHARS: usize = 64;

/// A class or group value of `rec` whose code is longer than
/// [`MAX_CODE_CHARS`]: the field, and why.
fn long_code(rec: &crate::aaf::Record) -> Option<(&str, String)> {
    rec.attrs.iter().find_map(|a| {
        let code_at = super::links::code_field(&a.name)?;
        let n = a
            .non_empty()
            .filter_map(|v| v.split('$').nth(code_at))
            .map(|c| c.trim().chars().count())
            .max()?;
        (n > MAX_CODE_CHARS).then(|| {
            (
                a.name.as_str(),
                format!("a class or group code of {n} characters, more than {MAX_CODE_CHARS}"),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aaf::reader::RecordAttr;
    use crate::aaf::{Operation, Record};

    #[test]
    fn a_record_over_a_limit_is_named_with_its_field() {
        let classes: Vec<String> = (0..4000).map(|i| format!("1$$$C{i}$C")).collect();
        let rec = Record {
            op: Operation::Add,
            category: FileCategory::Eleve,
            id: "1".into(),
            attrs: vec![RecordAttr {
                name: "ENTPersonClasses".into(),
                values: classes,
            }],
            index: 1,
        };
        let (field, why) = RecordLimits::default().check(&rec).expect("over");
        assert_eq!(field, "ENTPersonClasses");
        assert_eq!(
            why,
            "4000 values, more than the 8 one Eleve record may carry ([safety.record] pupil_classes)"
        );
        let staff = Record {
            category: FileCategory::PersEducNat,
            ..rec.clone()
        };
        assert!(RecordLimits::default().check(&staff).is_some());
        let mut few = rec;
        few.attrs[0].values.truncate(8);
        assert!(RecordLimits::default().check(&few).is_none());
        // the 2D lists count the same
        let mut two_d = few.clone();
        two_d.attrs[0].name = "ENTEleveClasses".into();
        two_d.attrs[0].values = (0..9).map(|i| format!("1$C{i}")).collect();
        assert_eq!(
            RecordLimits::default().check(&two_d).unwrap().0,
            "ENTEleveClasses"
        );
        // a code no real class has
        let mut long = few;
        long.attrs[0].values = vec![format!("1$$${}$label", "x".repeat(65))];
        let (field, why) = RecordLimits::default().check(&long).unwrap();
        assert_eq!(field, "ENTPersonClasses");
        assert!(why.contains("65 characters"), "{why}");
    }
}
