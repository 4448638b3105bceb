//! Records that were present but could not be read (spec §7: "a record that
//! is present but rejected is not an absence").
//!
//! A person or structure whose record was rejected — malformed, a bad byte,
//! over a limit, a `modifyRequest` for an unknown id — is *present, content
//! unknown*: the directory's entry for them is left exactly as it is (not
//! departed, not disabled, not deleted, not modified), links to them are
//! kept where the entry exists, and their class memberships stay. A record
//! the reader could not tie to any id makes its category unable to prove
//! anyone's absence: the safety rails hold that category's departures.

use super::layout::Layout;
use crate::aaf::{FileCategory, RecordError};
use crate::model::value_key;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The ids protected by rejected records, and the rejections tied to none.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Protected {
    /// Person ids (pupils, parents and staff share one namespace of DNs).
    #[serde(skip)]
    pub people: HashSet<Box<str>>,
    /// Their matching forms: a record names a person in any case, as the
    /// directory matches ids (see [`crate::model::value_key`]).
    #[serde(skip)]
    people_keys: HashSet<Box<str>>,
    /// Structure ids.
    #[serde(skip)]
    pub structures: HashSet<Box<str>>,
    /// Rejected records with no readable id, by category (AAF name).
    pub unidentified: BTreeMap<String, u64>,
}

impl Protected {
    /// Protects `id` of a record of category `cat`.
    pub fn protect(&mut self, cat: FileCategory, id: &str) {
        match cat {
            FileCategory::EtabEducNat => self.structures.insert(id.into()),
            // a subject or formation code is no one's id: nothing to keep
            c if c.is_reference() => false,
            _ => {
                self.people_keys.insert(value_key(id).into());
                self.people.insert(id.into())
            }
        };
    }

    /// True when the person `id` (in any spelling) is protected.
    pub fn holds_person(&self, id: &str) -> bool {
        self.people_keys.contains(value_key(id).as_ref())
    }

    /// Protects every id a rejected record is tied to; counts it as
    /// unidentified when it is tied to none.
    pub fn record(&mut self, e: &RecordError, cat: FileCategory) {
        let mut any = false;
        for id in e.tied_ids() {
            self.protect(cat, id);
            any = true;
        }
        if !any && !cat.is_reference() {
            *self
                .unidentified
                .entry(cat.as_str().to_string())
                .or_default() += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && self.structures.is_empty()
    }

    pub fn len(&self) -> usize {
        self.people.len() + self.structures.len()
    }

    /// The DN keys of the protected entries, as `layout` places them.
    pub fn keys(&self, layout: &Layout) -> HashSet<String> {
        self.people
            .iter()
            .map(|id| layout.person_dn(id).key())
            .chain(self.structures.iter().map(|s| layout.structure_dn(s).key()))
            .collect()
    }

    /// The categories whose departures cannot be proven by this
    /// extraction: those with unidentified rejections; parents with their
    /// pupils (a parent leaves when their pupils do); everyone with the
    /// structures (a person leaves the perimeter with their school).
    pub fn unproven(&self) -> Vec<String> {
        let has = |c: FileCategory| self.unidentified.contains_key(c.as_str());
        let mut out = Vec::new();
        for c in FileCategory::IMPORTED {
            let unproven = has(c)
                || has(FileCategory::EtabEducNat)
                || (c == FileCategory::PersRelEleve && has(FileCategory::Eleve));
            if unproven {
                out.push(c.as_str().to_string());
            }
        }
        out
    }
}
