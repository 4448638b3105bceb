//! What a Delta planned on a targeted read (`ldap::targeted`) needs beside
//! the plan itself: the rails' counts the read gave, the new logins looked
//! up in the directory, and the check (`AAF_SYNC_CHECK_TARGETED`) that
//! plans it again over the whole tree.

use crate::config::Config;
use crate::ldap::{Directory, Snapshot};
use crate::mapping::{self, layout::Layout};
use crate::model::plan::Plan;
use crate::model::Store;
use crate::ops::report::Report;
use crate::run::plan;
use crate::run::read::{interruptible_read, Prelude};
use crate::run::sync::{SyncError, SyncOptions};
use crate::safety;
use crate::schema::{EntryKind, State};
use std::collections::BTreeMap;

/// With this variable set, a Delta planned on a targeted read is planned
/// again on the whole tree, and the run refuses to go on if the two plans
/// differ (a check for the first weeks of a deployment, and for tests).
pub const CHECK_TARGETED: &str = "AAF_SYNC_CHECK_TARGETED";

/// Plans the extraction of `pre` again over the whole tree, and errs when
/// that plan is not `planned`'s (see [`CHECK_TARGETED`]).
pub(crate) async fn check(
    cfg: &Config,
    opts: &SyncOptions,
    layout: &Layout,
    dir: &Directory,
    mut pre: Prelude<'_>,
    planned: &plan::Planned,
    store: Option<&Store>,
) -> Result<(), SyncError> {
    let mut whole_cfg = cfg.clone();
    whole_cfg.targeted_delta = false;
    let mut report = Report::default();
    let mut snap = interruptible_read(dir, layout, &mut report, store).await?;
    let whole = plan::plan_all(
        &whole_cfg,
        opts,
        &mut report,
        layout,
        dir,
        &mut pre,
        &mut snap,
        None,
        false,
        store,
    )
    .await?;
    // each change by its DN: which entries the two plans treat apart (DNs
    // only: the values may be personal data)
    let by_dn = |p: &Plan| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in &p.changes {
            m.entry(c.change.dn().key())
                .or_default()
                .push(serde_json::to_string(c).unwrap_or_default());
        }
        for a in &p.absent {
            m.entry(a.dn.key()).or_default().push("absent".into());
        }
        m
    };
    for (a, b) in planned.steps.iter().zip(&whole.steps) {
        let (ma, mb) = (by_dn(&a.plan), by_dn(&b.plan));
        let apart: Vec<String> = ma
            .keys()
            .chain(mb.keys())
            .filter(|k| ma.get(*k) != mb.get(*k))
            .map(|k| crate::mapping::layout::log_dn(k).into_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !apart.is_empty() {
            return Err(SyncError::Input(format!(
                "{}: the plan made on the targeted read differs from the plan over the whole tree \
                 ({CHECK_TARGETED}) for {} entries, nothing written: {}",
                a.label,
                apart.len(),
                apart
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
    }
    tracing::info!("the targeted plan is the plan over the whole tree ({CHECK_TARGETED})");
    Ok(())
}

/// Active entries per category before a plan: counted in the tree read, or
/// given beside it by a targeted read (which holds part of the tree).
pub(crate) fn active_counts(snap: &Snapshot) -> BTreeMap<String, u64> {
    match &snap.counts {
        Some(c) => c.active().clone(),
        None => safety::active_counts(&snap.managed),
    }
}

/// Classes and groups before a plan, as [`active_counts`] counts.
pub(crate) fn group_count(snap: &Snapshot) -> u64 {
    match &snap.counts {
        Some(c) => c.groups(),
        None => snap
            .managed
            .values()
            .filter(|e| EntryKind::of(*e).is_some_and(EntryKind::is_group))
            .count() as u64,
    }
}

/// A targeted read holds the logins of the entries it read only: the
/// logins the new people of `tree` may get (`login::assign` takes the
/// first free of `stem`, `stem2`, `stem3`…) are looked up in the directory
/// and the taken ones added to `snap`, until each stem has a free one per
/// person who needs it.
pub(crate) async fn check_logins(
    dir: &Directory,
    layout: &Layout,
    tree: &mapping::MappedTree,
    snap: &mut Snapshot,
) -> Result<(), SyncError> {
    let mut need: BTreeMap<String, usize> = BTreeMap::new();
    for d in tree.entries.iter().filter(|d| d.kind.is_person()) {
        let has = snap
            .managed
            .get(&d.entry.dn.key())
            .and_then(|c| c.first("ENTPersonLogin"))
            .is_some();
        if !has {
            let stem = mapping::login::stem(d.entry.first("givenName"), d.entry.first("sn"));
            *need.entry(stem).or_default() += 1;
        }
    }
    let candidate = |stem: &str, n: usize| {
        if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}{n}")
        }
    };
    // candidates looked up so far, per stem: 1..=checked
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        let mut ask = Vec::new();
        for (stem, n) in &need {
            let upto = checked.get(stem).copied().unwrap_or(0);
            let free = (1..=upto)
                .filter(|i| !snap.taken_logins.contains(&candidate(stem, *i)))
                .count();
            if upto > 0 && free >= *n {
                continue;
            }
            let more = (2 * upto).max(8).max(*n + 4);
            ask.extend((upto + 1..=upto + more).map(|i| candidate(stem, i)));
            checked.insert(stem.clone(), upto + more);
        }
        if ask.is_empty() {
            return Ok(());
        }
        let taken = dir.logins_taken(layout, &ask).await?;
        snap.taken_logins.extend(taken);
    }
}

/// A Delta mapped on a targeted read: the active people the read did not
/// see (of `active`, the rails' counts), per category, who are in step too
/// and count as mapped, as a whole plan counts them (the rails judge the
/// rejected share by these counts). `read`: the active people read, per
/// kind. A category with none unread is not listed (a whole plan lists
/// only the categories it maps).
pub(crate) fn unread(
    active: &BTreeMap<String, u64>,
    read: &BTreeMap<EntryKind, u64>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for kind in PEOPLE {
        let all = active.get(kind.as_str()).copied().unwrap_or(0);
        let seen = read.get(&kind).copied().unwrap_or(0);
        if let (true, Some(cat)) = (all > seen, mapping::inverse::category(kind)) {
            out.insert(cat.as_str().to_string(), all - seen);
        }
    }
    out
}

/// The active people of `active` (the rails' counts).
pub(crate) fn people_total(active: &BTreeMap<String, u64>) -> u64 {
    PEOPLE
        .iter()
        .map(|k| active.get(k.as_str()).copied().unwrap_or(0))
        .sum()
}

const PEOPLE: [EntryKind; 3] = [EntryKind::Pupil, EntryKind::Parent, EntryKind::Staff];

/// The active entries a targeted read did not see: unchanged by its plan,
/// as a whole plan counts them (0 after a whole read).
pub(crate) fn unchanged_unread(snap: &Snapshot) -> u64 {
    let Some(c) = &snap.counts else {
        return 0;
    };
    let all = c.active().values().sum::<u64>() + c.groups();
    let read = snap
        .managed
        .values()
        .filter(|e| {
            EntryKind::of(*e).is_some_and(|k| safety::CATEGORIES.contains(&k) || k.is_group())
                && !State::of(*e).departed()
        })
        .count() as u64;
    all.saturating_sub(read)
}
