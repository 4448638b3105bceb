//! Extraction files → mapped tree: the records of a Complet go straight
//! into the mapper; a Delta is played over the directory's records, then
//! mapped. No LDAP here, and no clock: the run date is a parameter.
//!
//! This is the CPU-heavy stage of a run (an académie's Complet takes
//! minutes): its callers run it off the async workers
//! ([`super::read::cpu`], or the scoped thread beside the tree read in
//! [`super::read::read_directory_and_first`]), and the files are parsed
//! on a thread of their own ahead of the mapping ([`super::ahead`]).

use crate::aaf::filename::{Extraction, FileCategory};
use crate::aaf::{ReadItem, RecordReader};
use crate::config::Config;
use crate::mapping::delta::Overlay;
use crate::mapping::sdet::Adaptation;
use crate::mapping::{self, layout::Layout, perimeter::Perimeter, scope, Mapper};
use crate::model::{EntryMap, Store};
use crate::ops::report::{DeltaScope, StepReport};
use crate::rights::erasure::Blocks;
use crate::run::ahead::{read_files, Sink};
use crate::run::sync::SyncError;
use crate::schema::EntryKind;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use time::Date;

fn perimeter(cfg: &Config) -> Perimeter {
    Perimeter::new(&cfg.perimeter_uai, cfg.perimeter_all)
}

/// Reads and maps one Complet extraction (no LDAP here), its entries on
/// the heap.
pub fn read_extraction(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    blocks: &mut Blocks,
    step: &mut StepReport,
) -> Result<mapping::MappedTree, SyncError> {
    read_extraction_for(cfg, layout, extraction, now, blocks, step, None, None)
}

/// [`read_extraction`] into a directory whose schema needs `adapt`, the
/// entries frozen into the run's entry `store` when it has one.
#[allow(clippy::too_many_arguments)]
pub fn read_extraction_for(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    blocks: &mut Blocks,
    step: &mut StepReport,
    adapt: Option<Arc<Adaptation>>,
    store: Option<&Store>,
) -> Result<mapping::MappedTree, SyncError> {
    let mapper = Mapper::new(layout, perimeter(cfg), &cfg.staff_address_consent, now)
        .with_degree(cfg.degree)
        .with_limits(cfg.record_limits)
        .with_adaptation(adapt)
        .with_store(store);
    let mut sink = Sink::Complet(Box::new(mapper));
    read_files(cfg, extraction, &mut sink, blocks, step)?;
    let Sink::Complet(mapper) = sink else {
        unreachable!("the sink keeps its kind")
    };
    Ok(mapper.finish())
}

/// Reads one Delta extraction, plays it over the directory's records
/// (`current`) and maps the result (no LDAP here), its entries on the
/// heap.
pub fn read_delta(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
) -> Result<mapping::MappedTree, SyncError> {
    read_delta_for(
        cfg, layout, extraction, now, current, blocks, step, None, None, None,
    )
}

/// [`read_delta`] into a directory whose schema needs `adapt`, the
/// entries frozen into the run's entry `store` when it has one. `partial`:
/// `current` is a targeted read's part of the directory
/// ([`crate::ldap::targeted`]), not the whole managed tree, with the DN
/// keys that read looked for and did not find. A plan that needs class
/// members `current` does not hold maps nothing and says which
/// ([`mapping::MappedTree::unread_members`]); a caller that reads them
/// uses [`play_delta`] and [`resume_delta`], which do not read the files
/// again.
#[allow(clippy::too_many_arguments)]
pub fn read_delta_for(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
    adapt: Option<Arc<Adaptation>>,
    store: Option<&Store>,
    partial: Option<&HashSet<String>>,
) -> Result<mapping::MappedTree, SyncError> {
    let d = DeltaRun {
        cfg,
        layout,
        extraction,
        now,
        adapt,
        store,
    };
    Ok(match play_delta(&d, current, blocks, step, partial)? {
        DeltaTree::Mapped(tree) => tree,
        DeltaTree::Needs(p) => {
            (*blocks, *step) = p.before;
            mapping::MappedTree::needing(p.scope)
        }
    })
}

/// What a Delta is played and mapped with.
pub(crate) struct DeltaRun<'a> {
    pub cfg: &'a Config,
    pub layout: &'a Layout,
    pub extraction: &'a Extraction,
    pub now: Date,
    pub adapt: Option<Arc<Adaptation>>,
    pub store: Option<&'a Store>,
}

impl DeltaRun<'_> {
    /// Whether an entry's desired state changes with the run date alone
    /// (see [`scope::Lookups::dated`]).
    fn dated(&self) -> impl Fn(&crate::model::Entry) -> bool + '_ {
        let majority = self.adapt.as_ref().is_some_and(|a| a.fills_majority());
        move |e| majority && mapping::sdet::majority_changed(e, self.now)
    }
}

/// A Delta played over a targeted read's tree: mapped, or waiting for
/// the members of the classes its records rebuild.
// one per extraction, moved once: its size does not matter
#[allow(clippy::large_enum_variant)]
pub(crate) enum DeltaTree {
    Mapped(mapping::MappedTree),
    Needs(Box<Pending>),
}

/// A Delta played and scoped, whose scope lacks class members: its
/// requests and who it touches are kept for [`resume_delta`].
pub(crate) struct Pending {
    scope: scope::Scope,
    played: crate::mapping::delta::Played,
    /// The run's state before the files were read: a plan redone over
    /// the whole tree starts from it.
    before: (Blocks, StepReport),
}

impl Pending {
    /// The DNs of the members to read.
    pub fn members(&self) -> &[String] {
        &self.scope.missing
    }
}

/// Reads the Delta's files, plays them over `current` and maps them; see
/// [`read_delta_for`].
pub(crate) fn play_delta(
    d: &DeltaRun<'_>,
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
    partial: Option<&HashSet<String>>,
) -> Result<DeltaTree, SyncError> {
    let (cfg, layout, extraction) = (d.cfg, d.layout, d.extraction);
    // as they are before the files are read: a targeted plan that has to
    // be redone in full starts from them
    let before = (blocks.clone(), step.clone());
    let uai = perimeter(cfg);
    let overlay = Overlay::from_directory(current, layout, &uai, cfg.degree);
    if overlay.structures() == 0 {
        return Err(SyncError::Input(format!(
            "{}: a Delta needs a Complet applied first: the directory holds no structure of source {}",
            extraction.label(),
            layout.source
        )));
    }
    let mut sink = Sink::Delta(Box::new(overlay));
    read_files(cfg, extraction, &mut sink, blocks, step)?;
    let Sink::Delta(overlay) = sink else {
        unreachable!("the sink keeps its kind")
    };
    step.delta = Some(overlay.stats.clone());
    let scope = if cfg.targeted_delta {
        scope_of(d, current, &overlay, partial)
    } else {
        Err("[source] targeted_delta = false".to_string())
    };
    match scope {
        Ok(s) if !s.missing.is_empty() => Ok(DeltaTree::Needs(Box::new(Pending {
            scope: s,
            played: overlay.into_played(),
            before,
        }))),
        scope => map_delta(d, current, blocks, step, partial, *overlay, scope, before),
    }
}

/// The scope of the Delta played in `overlay` over `current`.
fn scope_of(
    d: &DeltaRun<'_>,
    current: &EntryMap,
    overlay: &Overlay<'_>,
    partial: Option<&HashSet<String>>,
) -> Result<scope::Scope, String> {
    scope::scope(
        current,
        d.layout,
        d.cfg.degree,
        &overlay.named(),
        scope::Lookups {
            by_id: |k: EntryKind, id: &str| overlay.entry_of(k, id),
            old_record: |k: EntryKind, id: &str| overlay.old_record(k, id),
            dated: d.dated(),
        },
        partial,
    )
}

/// [`play_delta`] again over `current`, which now holds the members the
/// scope of `p` lacked: the same requests, the scope finished again.
pub(crate) fn resume_delta(
    d: &DeltaRun<'_>,
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
    partial: Option<&HashSet<String>>,
    p: Pending,
) -> Result<DeltaTree, SyncError> {
    let Some(s) = scope::resume(p.scope, current, d.layout, d.cfg.degree, partial, d.dated())
    else {
        // a member read joins the people the Delta touches: played again
        // over the tree that holds them, from the state before
        (*blocks, *step) = p.before;
        return play_delta(d, current, blocks, step, partial);
    };
    let uai = perimeter(d.cfg);
    let overlay = Overlay::replay(current, d.layout, &uai, d.cfg.degree, p.played);
    // the tests' oracle: finished again, the scope is the one computed
    // whole over the same tree
    #[cfg(debug_assertions)]
    if let Ok(whole) = scope_of(d, current, &overlay, partial) {
        assert_eq!(
            s.decisions(),
            whole.decisions(),
            "a resumed scope differs from the scope computed over the same tree"
        );
    }
    if !s.missing.is_empty() {
        return Ok(DeltaTree::Needs(Box::new(Pending {
            scope: s,
            played: overlay.into_played(),
            before: p.before,
        })));
    }
    map_delta(d, current, blocks, step, partial, overlay, Ok(s), p.before)
}

/// Maps the records of `overlay` the scope needs (all of them when there
/// is none: `scope` says why).
#[allow(clippy::too_many_arguments)]
fn map_delta(
    d: &DeltaRun<'_>,
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
    partial: Option<&HashSet<String>>,
    overlay: Overlay<'_>,
    scope: Result<scope::Scope, String>,
    before: (Blocks, StepReport),
) -> Result<DeltaTree, SyncError> {
    let (cfg, layout, extraction, now) = (d.cfg, d.layout, d.extraction, d.now);
    let mapper = Mapper::new(layout, perimeter(cfg), &cfg.staff_address_consent, now)
        .with_degree(cfg.degree)
        .with_limits(cfg.record_limits)
        .with_adaptation(d.adapt.clone())
        .with_store(d.store);
    let from = Path::new("(directory records with the Delta applied)");
    let (scope, whole) = match scope {
        Ok(s) => (Some(s), None),
        Err(why) => (None, Some(why)),
    };
    let inputs = scope.as_ref().map(|s| s.inputs.clone());
    // the other inputs' records matter for the classes and groups they
    // make (and the ties they keep), not their entries; the classes and
    // groups patched start from their entries
    let mut mapper = mapper
        .with_outputs(scope.as_ref().map(|s| s.people.clone()))
        .with_patches(scope.iter().flat_map(|s| s.patches.values()));
    let mut rejected = Vec::new();
    for rec in overlay.into_records_within(inputs) {
        if let Err(e) = mapper.map(&rec, from) {
            rejected.push(e);
        }
    }
    let mut tree = mapper.finish();
    if let Some(s) = scope {
        if let Err(why) = narrow(&mut tree, s, current, partial.is_some()) {
            // the scope missed something: plan this Delta in full, from
            // the state before the files were read
            tracing::warn!(reason = %why, "targeted Delta plan abandoned: planning over the whole tree");
            drop(tree);
            let (mut cfg, mut blocks_then) = (cfg.clone(), before.0);
            cfg.targeted_delta = false;
            *step = before.1;
            let tree = read_delta_for(
                &cfg,
                layout,
                extraction,
                now,
                current,
                &mut blocks_then,
                step,
                d.adapt.clone(),
                d.store,
                partial,
            )?;
            debug_assert!(
                tree.unread_members().is_none(),
                "a whole plan reads nothing more"
            );
            *blocks = blocks_then;
            step.delta_scope = Some(DeltaScope::whole(why, current));
            return Ok(DeltaTree::Mapped(tree));
        }
    }
    step.rejected_records.extend(rejected);
    step.delta_scope = Some(match (&tree.scope, whole) {
        (Some(s), _) => DeltaScope::of(s),
        (None, why) => DeltaScope::whole(why.unwrap_or_default(), current),
    });
    Ok(DeltaTree::Mapped(tree))
}

/// Keeps of `tree` (a Delta mapped over its scope's records) only the
/// entries the scope computes again, and counts the untouched entries'
/// records as mapped, as a whole plan counts them. A class or group the
/// records make that `current` does not hold, listing people of the
/// scope, is new or one the directory lost (deleted by hand), whose other
/// members the scope does not hold: only a whole plan builds it right (an
/// error); one that lists none of them is an untouched class a targeted
/// read did not read (`partial`: kept as it is).
fn narrow(
    tree: &mut mapping::MappedTree,
    s: scope::Scope,
    current: &EntryMap,
    partial: bool,
) -> Result<(), String> {
    // a class patched from its entry holds what a whole plan makes only if
    // the scope's people it lists are in it again (see `scope::Patch`)
    let groups: HashMap<String, &crate::model::Entry> = tree
        .entries
        .iter()
        .filter(|d| d.kind.is_group())
        .map(|d| (d.entry.dn.key(), &d.entry))
        .collect();
    for (k, p) in &s.patches {
        let listed: HashSet<String> = groups
            .get(k)
            .and_then(|e| e.get("member"))
            .map(|ms| ms.iter().map(crate::model::dn_key).collect())
            .unwrap_or_default();
        if let Some(gone) = p.stay.iter().find(|m| !listed.contains(*m)) {
            return Err(format!(
                "{}: {} leaves a class or group patched from its entry",
                crate::mapping::layout::log_dn(k),
                crate::mapping::layout::log_dn(gone)
            ));
        }
    }
    let people: std::collections::HashSet<String> = tree
        .entries
        .iter()
        .filter(|d| d.kind.is_person() && s.people.contains(&scope::who(d.kind, &d.id)))
        .map(|d| d.entry.dn.key())
        .chain(s.touched.iter().cloned())
        .collect();
    let mut err = None;
    tree.entries.retain(|d| {
        if d.kind == EntryKind::Structure {
            return true;
        }
        if d.kind.is_person() {
            return s.people.contains(&scope::who(d.kind, &d.id));
        }
        let k = d.entry.dn.key();
        if s.touched.contains(&k) {
            return true;
        }
        if current.contains_key(&k) {
            return false;
        }
        let members = d.entry.get("member").unwrap_or_default();
        let ours = members
            .iter()
            .filter(|m| people.contains(&crate::model::dn_key(m)))
            .count();
        if ours == members.len() {
            // new, or one the directory lost (deleted by hand) whose other
            // members the scope does not hold: only the whole tree tells,
            // and builds it right
            err.get_or_insert_with(|| {
                format!(
                    "{}: a class or group the directory does not hold",
                    d.entry.dn
                )
            });
            return false;
        }
        if ours > 0 || !partial {
            err.get_or_insert_with(|| {
                format!(
                    "{}: a new class or group lists people the Delta does not name",
                    d.entry.dn
                )
            });
        }
        false
    });
    if let Some(e) = err {
        return Err(e);
    }
    for (kind, n) in &s.unmapped {
        if let Some(cat) = mapping::inverse::category(*kind) {
            tree.stats
                .categories
                .entry(cat.as_str().to_string())
                .or_default()
                .mapped += n;
        }
    }
    tree.scope = Some(s);
    Ok(())
}

/// What a targeted read of the directory needs for the Delta `extraction`
/// (see [`crate::ldap::targeted`]): the ids and classes its people's
/// records name. `None` when only the whole tree will do: the Delta
/// deletes a structure, or a file does not read (the whole path then
/// reports it as it reports any bad file).
pub fn delta_wanted(cfg: &Config, extraction: &Extraction) -> Option<scope::Wanted> {
    let mut wanted = scope::Wanted::default();
    for &cat in cfg.degree.categories() {
        if cat.is_reference() {
            continue;
        }
        for f in extraction.files_of(cat) {
            let mut reader = RecordReader::open(&f.path, cat, cfg.encoding).ok()?;
            while let Some(item) = reader.next_item().ok()? {
                let ReadItem::Record(rec) = item else {
                    continue;
                };
                if cat == FileCategory::EtabEducNat {
                    // a structure's own change is planned targeted (see
                    // `scope`); one that leaves does not
                    if rec.op == crate::aaf::Operation::Delete {
                        return None;
                    }
                    continue;
                }
                wanted.add(cfg.degree, &rec);
            }
        }
    }
    Some(wanted)
}
