//! The human summary a run prints on stderr: what it read, planned,
//! applied and held, in counts and ids (never a name).

use super::{Report, StepReport};
use crate::mapping::layout::{log_dn, log_scrub};
use std::collections::BTreeMap;
use std::fmt::Write;

fn ids_line(s: &mut String, what: &str, map: &BTreeMap<String, Vec<String>>) {
    if map.is_empty() {
        return;
    }
    let parts: Vec<String> = map
        .iter()
        .map(|(cat, ids)| format!("{cat} {}", ids.len()))
        .collect();
    let _ = writeln!(s, "  {what}: {}", parts.join(", "));
}

impl Report {
    /// The human summary printed on stderr.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "aaf-sync {} {} run {}{}: {}",
            self.head.version,
            self.head.command,
            self.head.run_id,
            if self.head.dry_run { " (dry run)" } else { "" },
            self.head.outcome
        );
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  error: {e}");
        }
        for n in &self.ignored_notes {
            let _ = writeln!(s, "ignored: {n}");
        }
        if let Some(prev) = &self.lock_taken_over_from {
            let _ = writeln!(s, "  took over the stale run lock of {prev}");
        }
        for l in &self.already_applied {
            let _ = writeln!(s, "extraction {l}: applied already, skipped");
        }
        for st in &self.steps {
            st.summary(&mut s);
        }
        if let Some(sf) = &self.safety {
            if !sf.holds.is_empty() {
                let state = match &sf.approved_by {
                    Some(_) => "approved",
                    None if self.head.dry_run => "the real run would be held",
                    None => "held, nothing written",
                };
                let _ = writeln!(s, "safety rails: {state}; plan digest {}", sf.digest);
                for h in &sf.holds {
                    let _ = writeln!(s, "  {h}");
                }
            }
        }
        for f in &self.plan_files {
            let _ = writeln!(s, "plan saved: {f}");
        }
        s
    }
}

impl StepReport {
    fn summary(&self, s: &mut String) {
        match &self.extraction {
            Some(x) => {
                let _ = writeln!(s, "extraction {} ({} files)", x.label, x.files.len());
            }
            None => {
                let _ = writeln!(s, "retention pass");
            }
        }
        // the 2D reference tables have the longest names (MatiereEducNat)
        let w = self
            .mapping
            .categories
            .keys()
            .chain(self.delta.iter().flat_map(|d| d.categories.keys()))
            .map(|c| c.len() + 1)
            .max()
            .unwrap_or(0)
            .max(13);
        if let Some(d) = &self.delta {
            for (cat, c) in &d.categories {
                let outside = c.out_of_perimeter
                    + self
                        .mapping
                        .categories
                        .get(cat)
                        .map_or(0, |m| m.out_of_perimeter);
                let _ = writeln!(
                    s,
                    "  {cat:<w$} add {:>6}  modify {:>6}  delete {:>6}  out of perimeter {:>5}  rejected {:>5}",
                    c.add, c.modify, c.delete, outside, c.rejected
                );
            }
        } else {
            for (cat, c) in &self.mapping.categories {
                let _ = writeln!(
                    s,
                    "  {cat:<w$} mapped {:>7}  out of perimeter {:>5}  rejected {:>5}",
                    c.mapped, c.out_of_perimeter, c.rejected
                );
            }
        }
        let dropped: u64 = self.mapping.dropped_attributes.values().sum();
        if dropped > 0 {
            let _ = writeln!(
                s,
                "  dropped, not authorised: {} attributes, in {} records",
                self.mapping.dropped_attributes.len(),
                dropped
            );
        }
        if self.mapping.staff_address_withheld > 0 {
            let _ = writeln!(
                s,
                "  staff home addresses withheld: {}",
                self.mapping.staff_address_withheld
            );
        }
        if self.mapping.relations_not_legal > 0 {
            let _ = writeln!(
                s,
                "  relations without legal responsibility, not linked: {}",
                self.mapping.relations_not_legal
            );
        }
        for (field, n) in &self.mapping.unknown_codes {
            let _ = writeln!(
                s,
                "  {field}: {n} values name a code the extraction's table does not list"
            );
        }
        if !self.perimeter_missing_uai.is_empty() {
            let _ = writeln!(
                s,
                "  perimeter schools absent from the extraction: {}",
                self.perimeter_missing_uai.join(", ")
            );
        }
        if !self.perimeter_outside_uai.is_empty() {
            let _ = writeln!(
                s,
                "  schools outside the perimeter (UAI: pupils and staff): {}",
                uai_counts(&self.perimeter_outside_uai, 12)
            );
        }
        if let Some(y) = self.school_year_rebuild {
            let _ = writeln!(s, "  school year {y}-{}: classes and groups rebuilt", y + 1);
        }
        let _ = writeln!(
            s,
            "  changes planned: {} (unchanged entries: {}{})",
            self.plan.total,
            if self.plan.unchanged_at_least {
                "at least "
            } else {
                ""
            },
            self.plan.unchanged
        );
        for (kind, ops) in &self.plan.by_kind {
            let ops: Vec<String> = ops.iter().map(|(o, n)| format!("{o} {n}")).collect();
            let _ = writeln!(s, "    {kind:<13} {}", ops.join(", "));
        }
        let l = &self.lifecycle;
        ids_line(s, "departed", &l.departed);
        ids_line(s, "disabled", &l.disabled);
        ids_line(s, "restored", &l.restored);
        ids_line(s, "deleted", &l.deleted);
        if !l.pending.is_empty() {
            let parts: Vec<String> = l.pending.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = writeln!(
                s,
                "  departed, kept until their deadline: {}",
                parts.join(", ")
            );
        }
        if self.erasures.skipped + self.erasures.lifted > 0 {
            let _ = writeln!(
                s,
                "  erased on request: {} records skipped, {} blocks lifted",
                self.erasures.skipped, self.erasures.lifted
            );
        }
        if self.protected_ids > 0 {
            let _ = writeln!(
                s,
                "  records rejected, their people and structures kept exactly as they are: {} ids",
                self.protected_ids
            );
        }
        for (cat, n) in &self.unidentified_rejects {
            let _ = writeln!(
                s,
                "  {cat}: {n} records rejected without a readable id: no {cat} departure can be proven by this extraction"
            );
        }
        if !self.settle.conflicts.is_empty() {
            let _ = writeln!(
                s,
                "  entries left out, their DN held by an entry aaf-sync does not manage: {}",
                self.settle.conflicts.len()
            );
            for c in self.settle.conflicts.iter().take(10) {
                let _ = writeln!(
                    s,
                    "    {} (id {}): {}",
                    log_dn(&c.dn),
                    c.id,
                    log_scrub(&c.reason, &c.dn)
                );
            }
        }
        let adopted: u64 = self.aligned.adopted.values().sum();
        if adopted > 0 {
            let parts: Vec<String> = self
                .aligned
                .adopted
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  adopted, existing entries of the source matched by jointure: {}",
                parts.join(", ")
            );
        }
        if self.aligned.named_dns > 0 {
            let _ = writeln!(
                s,
                "  warning: {} managed entries have DNs whose RDN value is not an AAF id (an adopted \
                 tree, perhaps built from names): logs, the journal and reports write it as a \
                 pseudonym (uid=#sha256:…); `subject export --dn` takes the pseudonym back",
                self.aligned.named_dns
            );
        }
        if self.aligned.left_alone > 0 {
            let _ = writeln!(
                s,
                "  entries of the source not managed and not in the extraction, left alone: {}",
                self.aligned.left_alone
            );
        }
        if self.aligned.returned > 0 {
            let _ = writeln!(
                s,
                "  back from the departed branch: {}",
                self.aligned.returned
            );
        }
        if self.settle.dropped_links > 0 {
            let _ = writeln!(
                s,
                "  links to entries that will not exist, left out: {}",
                self.settle.dropped_links
            );
        }
        if let Some(a) = &self.applied {
            let unknown = if a.unknown > 0 {
                format!(", {} sent without an answer (done or not)", a.unknown)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  operations: {} done, {} failed, {} not attempted{unknown} (of {} planned)",
                a.done_count(),
                a.failures.len(),
                a.not_attempted,
                a.planned
            );
            if let Some(f) = &a.failover {
                let _ = writeln!(
                    s,
                    "  failed over from {} to {}: {} operations acknowledged before read back there, {} missing, {} sent again, {} not recovered{}",
                    f.from.join(", "),
                    f.to,
                    f.checked,
                    f.missing,
                    f.replayed,
                    f.unrecovered,
                    if f.unrecovered > 0 {
                        " (not recorded as applied: the next run plans them again)"
                    } else {
                        ""
                    }
                );
            }
            if let Some(why) = &a.halted {
                let _ = writeln!(
                    s,
                    "  apply stopped: {why}; the next run converges from there"
                );
            }
            if a.dropped_links > 0 || a.repairs > 0 {
                let _ = writeln!(
                    s,
                    "  links to entries whose add failed: {} left out, {} taken back",
                    a.dropped_links, a.repairs
                );
            }
            if !a.failures.is_empty() {
                let _ = writeln!(s, "  LDAP operations failed: {}", a.failures.len());
                for f in a.failures.iter().take(10) {
                    let _ = writeln!(s, "    {} {}: {}", f.op, f.shown_dn(), f.shown_error());
                }
            }
        }
        match self.in_step {
            Some(true) => {}
            Some(false) => {
                let _ = writeln!(
                    s,
                    "  NOT in step: this extraction is not recorded as applied; the next run applies it again"
                );
            }
            None => {}
        }
        if !self.rejected_records.is_empty() {
            let _ = writeln!(s, "  records rejected: {}", self.rejected_records.len());
            for r in self.rejected_records.iter().take(10) {
                let _ = writeln!(s, "    {r}");
            }
        }
    }
}

/// `UAI: count` pairs, the first `max` of them and how many more.
pub fn uai_counts(m: &BTreeMap<String, u64>, max: usize) -> String {
    let mut out: Vec<String> = m
        .iter()
        .take(max)
        .map(|(u, n)| format!("{u}: {n}"))
        .collect();
    if m.len() > max {
        out.push(format!("and {} more", m.len() - max));
    }
    out.join(", ")
}
