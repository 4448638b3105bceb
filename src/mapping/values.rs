//! A record's fields onto an entry: the category's table of authorised
//! fields, the rule of each value (syntax checks, structure ids to DNs),
//! and, into a directory with another schema, what [`sdet`] carries, drops
//! or fills. Counts what it leaves out (field names only).

use super::attrs::SINGLE_VALUED;
use super::fields::{self, Field, Rule};
use super::{sdet, Mapper};
use crate::aaf::{FileCategory, Record};
use crate::model::Entry;
use crate::schema::EntryKind;

impl Mapper<'_> {
    pub(super) fn count_dropped(&mut self, rec: &Record) {
        let table = fields::fields_of(self.degree, rec.category);
        let handled = fields::handled_of(self.degree, rec.category);
        for a in &rec.attrs {
            let name = a.name.as_str();
            if table.iter().any(|f| f.aaf == name) || handled.contains(&name) {
                continue;
            }
            if rec.category == FileCategory::PersEducNat
                && fields::STAFF_CONSENTED.iter().any(|f| f.aaf == name)
            {
                continue; // counted as withheld by map_staff
            }
            *self
                .stats
                .dropped_attributes
                .entry(a.name.clone())
                .or_default() += 1;
        }
    }

    /// Applies a field table to an entry. Structure references outside the
    /// perimeter are left out. Into a directory with another schema, each
    /// field is carried, dropped or kept single as [`sdet`] says.
    pub(super) fn apply(&mut self, kind: EntryKind, rec: &Record, table: &[Field], e: &mut Entry) {
        let adapt = self.adapt.clone();
        let rules = adapt.as_ref().and_then(|a| a.rules(kind));
        for f in table {
            let Some(a) = rec.attr(f.aaf) else { continue };
            let lower = f.ldap.to_ascii_lowercase();
            if let Some(r) = rules {
                if r.drop.contains_key(&lower) {
                    if a.non_empty().next().is_some() {
                        *self
                            .stats
                            .adapted
                            .dropped
                            .entry(f.ldap.to_string())
                            .or_default() += 1;
                    }
                    continue;
                }
            }
            let mut out: Vec<String> = Vec::new();
            for v in a.non_empty() {
                let mapped = match f.rule {
                    Rule::Text => Some(v.to_string()),
                    Rule::Civility => fields::civility(v).map(str::to_string),
                    Rule::Phone => fields::is_printable_string(v).then(|| v.to_string()),
                    Rule::Mail => fields::is_mail(v).then(|| v.to_string()),
                    Rule::StructureDn => {
                        let v = v.trim();
                        if self.perimeter.has(v) {
                            Some(self.layout.structure_dn(v).to_string())
                        } else {
                            self.stats.dangling_links += 1;
                            continue;
                        }
                    }
                    Rule::StructureComposite => {
                        let (sid, rest) = v.split_once('$').unwrap_or((v, ""));
                        let (sid, rest) = (sid.trim(), rest.trim());
                        if rest.split('$').all(|f| f.trim().is_empty()) {
                            // `sid`, `sid$`, `sid$$`: names nothing in the school
                            None
                        } else if self.perimeter.has(sid) {
                            Some(format!("{}${rest}", self.layout.structure_dn(sid)))
                        } else {
                            self.stats.dangling_links += 1;
                            continue;
                        }
                    }
                };
                match mapped {
                    Some(m) => out.push(m),
                    None => {
                        *self
                            .stats
                            .invalid_values
                            .entry(f.aaf.to_string())
                            .or_default() += 1
                    }
                }
            }
            let mut target = f.ldap;
            if let Some((to, how)) = rules.and_then(|r| r.carry.get(&lower)) {
                if !out.is_empty() {
                    *self
                        .stats
                        .adapted
                        .carried
                        .entry(format!("{} → {to}", f.ldap))
                        .or_default() += 1;
                }
                if *how == sdet::Carry::ClassCode {
                    out = out.iter().map(|v| sdet::class_code(v)).collect();
                }
                target = to;
            }
            // the record's first value is the primary one
            let single = SINGLE_VALUED.contains(&f.ldap)
                || rules.is_some_and(|r| r.single.contains(&target.to_ascii_lowercase()));
            if single {
                out.truncate(1);
            }
            e.add(target, out);
        }
    }

    /// Into a directory with another schema: drops what it cannot hold and
    /// fills the MUSTs the record leaves empty (see [`sdet`]).
    pub(super) fn finish_entry(&mut self, kind: EntryKind, rec: Option<&Record>, e: &mut Entry) {
        let Some(adapt) = self.adapt.clone() else {
            return;
        };
        let Some(r) = adapt.rules(kind) else { return };
        let names: Vec<String> = e
            .attrs
            .values()
            .map(|a| a.name.to_string())
            .filter(|n| r.drop.contains_key(&n.to_ascii_lowercase()))
            .collect();
        for n in names {
            e.remove(&n);
            *self.stats.adapted.dropped.entry(n).or_default() += 1;
        }
        for (attr, how) in &r.fill {
            if e.get(attr).is_some() {
                continue;
            }
            let v = match how {
                sdet::Fill::Neutral => sdet::NEUTRAL,
                sdet::Fill::Majority => sdet::majority(
                    rec.and_then(|r| r.first("ENTPersonDateNaissance")),
                    self.today,
                ),
                sdet::Fill::Contract => {
                    sdet::contract(rec.and_then(|r| r.first("ENTStructureTypeStruct")))
                }
            };
            e.set(attr, v);
            *self
                .stats
                .adapted
                .filled
                .entry(attr.to_string())
                .or_default() += 1;
        }
    }

    /// A complete desired entry, held until the plan is made: its bytes go
    /// to the run's entry store, when the caller gave one; on the heap, they
    /// give back the room they were built in.
    pub(super) fn freeze(&self, e: &mut Entry) {
        if let Some(store) = self.store {
            e.freeze(store);
        }
        e.shrink();
    }
}
