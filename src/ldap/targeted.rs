//! The targeted read (issue 23): for a run whose only extraction is a
//! Delta, only the entries the Delta's plan needs, by indexed searches,
//! instead of the whole managed tree.
//!
//! What [`crate::mapping::scope`] computes over a whole tree, read here
//! from the directory itself: the people the Delta names or may name (by
//! `ENTPersonJointure`), the people tied to them either way (their links
//! by DN, and who links to them: `ENTEleveParents`,
//! `ENTAuxPersRelEleveEleve`, `member`), until nothing is added; the
//! classes and groups listing them or named by the records (by `cn`);
//! every structure; the whole departed branch (the retention deadlines).
//! The members of a class the plan rebuilds from all its members' records
//! (most are patched from their entry: `mapping::scope::Patch`) are read
//! after, when the plan asks ([`Directory::read_members`]). The rails'
//! counts of active entries are made once the plan is known, each only as
//! far as the rails' verdict needs, exactly when it may be a hold
//! ([`Counts`]). A new
//! login is checked against the directory's logins by equality
//! (`logins_taken`), as many candidates as needed.
//!
//! Anything this read cannot answer as the whole read would — a departed
//! structure (its deletion waits for whoever still refers to it, anywhere
//! in the tree), a scope grown past a share of the tree — is answered by
//! `Ok(Err(why))`: the caller reads the whole tree.

use super::read::{read_attrs, Class, Classifier};
use super::{escape_filter, Directory, DirectoryError, Snapshot};
use crate::mapping::class_value;
use crate::mapping::layout::{GroupKind, Layout};
use crate::mapping::scope::{refs, Wanted};
use crate::mapping::DN_PREFIXED;
use crate::model::value_key;
use crate::model::{dn_key, Dn, Entry, Store};
use crate::schema::{self, EntryKind, State};
use std::collections::{BTreeMap, HashSet};

/// The AAF id of the structure at `dn`: by the layout's DN, else the
/// structure read there (an adopted tree's own DN).
fn structure_id(layout: &Layout, g: &Gather<'_>, dn: &str) -> Option<String> {
    layout.sid_of_structure_dn(dn).or_else(|| {
        let e = g.snap.managed.get(&dn_key(dn))?;
        crate::mapping::inverse::id_of(EntryKind::Structure, e, layout).map(str::to_string)
    })
}

/// Clauses per search: an OR of this many equalities (each an index
/// lookup on the server). slapd tests every entry it returns against the
/// whole OR, so a search costs its entries times its clauses: at 500, the
/// members of a day's classes read at a quarter of a whole read's rate;
/// much smaller, the round trips add up (measured at 104k: 50, 150, 500).
const BATCH: usize = 150;

/// Past this many people, the whole read costs about the same.
const MAX_PEOPLE: usize = 50_000;

/// The counts the safety rails judge a run by, when the read did not see
/// the whole tree: the active entries per category, the classes and
/// groups. LDAP has no count: exact figures take a walk of every managed
/// entry (8–10 s of slapd's CPU at 1.5 M, on one of two cores, beside the
/// reads). A plan's verdict rarely needs them: the rails hold a change
/// that is too large a share of what the directory holds, and they judge
/// more leniently the more it holds, so knowing that a category holds at
/// least so many is enough for a run they let through.
/// [`settle`](Counts::settle) counts each figure only as far as the plan's
/// verdict needs, and exactly when that verdict may be a hold.
#[derive(Debug, Default)]
pub struct Counts {
    /// Active entries per category (`safety::active_counts`).
    active: BTreeMap<String, u64>,
    /// Classes and groups.
    groups: u64,
    /// Whether the figures are the directory's (else lower bounds).
    exact: bool,
    /// Where to count, until [`Counts::settle`] did.
    at: Option<Counter>,
}

/// Where the counts are made, and how entries are told apart there.
#[derive(Debug, Clone)]
struct Counter {
    cfg: crate::config::LdapConfig,
    url: String,
    base: String,
    /// The filter of this source's managed entries.
    own: String,
    classes: Classifier,
}

/// What the rails make of counts given as lower bounds: the figures that
/// must be larger for the verdict not to depend on them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Short {
    /// Categories (`safety::CATEGORIES`).
    pub categories: Vec<EntryKind>,
    pub groups: bool,
    /// A hold no count can lift: every figure is counted exactly.
    pub exactly: bool,
}

/// Structures, by any of the classes `EntryKind::of` takes for one.
const STRUCTURES: &str = "(|(objectClass=ENTStructure)(objectClass=ENTEtablissement)\
                          (objectClass=ENTServAc)(objectClass=ENTCollLoc))";

/// A figure the counts hold: a category's active entries, or the classes
/// and groups.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    Active(EntryKind),
    Groups,
}

impl Figure {
    fn all() -> impl Iterator<Item = Figure> {
        crate::safety::CATEGORIES
            .into_iter()
            .map(Figure::Active)
            .chain([Figure::Groups])
    }

    fn in_short(self, s: &Short) -> bool {
        match self {
            Figure::Active(k) => s.categories.contains(&k),
            Figure::Groups => s.groups,
        }
    }

    /// The server's filter for it: entries not departed, of a class
    /// (indexed) that entries of this figure have, so that a walk finds
    /// them without testing the others. Not every entry counted there
    /// need match it: a walk that ends short of what the verdict needs
    /// makes an exact count (see [`Counts::settle`]).
    fn filter(self, own: &str) -> String {
        let class = |c: &str| format!("(objectClass={c})");
        let which = match self {
            Figure::Active(EntryKind::Pupil) => class("ENTEleve"),
            Figure::Active(EntryKind::Parent) => class("ENTAuxPersRelEleve"),
            // not `ENTPerson`, which every person has: the server would
            // test every pupil and parent before the first staff member
            // (4 s at 1.5 M); staff without these classes are not counted
            // here, and may make the walk end short
            Figure::Active(EntryKind::Staff) => format!(
                "(|{}{}{}{})",
                class("ENTAuxEnseignant"),
                class("ENTAuxNonEnsEtab"),
                class("ENTAuxNonEnsServAc"),
                class("ENTAuxNonEnsCollLoc")
            ),
            Figure::Active(_) => STRUCTURES.to_string(),
            Figure::Groups => format!("(|{}{})", class("ENTClasse"), class("ENTGroupe")),
        };
        format!("(&{own}{which}(!({}=*)))", schema::ATTR_DEPARTURE)
    }
}

impl Counts {
    /// Counts as far as `judge` needs: `judge` gives what the rails make
    /// of lower bounds (active entries per category, classes and groups).
    /// The rails judge more leniently the larger a figure (the guard floor
    /// aside, which `judge` names short below it), so the least value of
    /// each figure that `judge` accepts, the others as large as can be, is
    /// found from `judge` itself; each figure is then counted by a walk of
    /// its own entries that stops once it reaches that value. Where a
    /// walk ends short of it, or `judge` still finds something short, or a
    /// hold does not depend on the counts, every figure is counted
    /// exactly: a run the rails hold is always judged on the directory's
    /// own figures.
    pub async fn settle(
        &mut self,
        judge: impl Fn(&BTreeMap<String, u64>, u64) -> Short,
    ) -> Result<(), DirectoryError> {
        let Some(at) = self.at.take() else {
            return Ok(());
        };
        let t = std::time::Instant::now();
        let bounds: Option<Vec<(Figure, u64)>> = Figure::all()
            .map(|f| least(f, &judge).map(|n| (f, n)))
            .collect();
        if let Some(bounds) = bounds {
            let mut reader = super::wire::Reader::open(&at.cfg, &at.url).await?;
            let mut c = Counts {
                active: crate::safety::no_counts(),
                ..Counts::default()
            };
            let mut reached = true;
            for (f, need) in bounds {
                reached &= at.walk(&mut reader, f, need, &mut c).await? >= need;
                if !reached {
                    break;
                }
            }
            reader.close().await;
            if reached && judge(&c.active, c.groups) == Short::default() {
                tracing::debug!(
                    secs = t.elapsed().as_secs_f64(),
                    "targeted read: the rails' counts, as far as their verdict needs"
                );
                self.active = c.active;
                self.groups = c.groups;
                return Ok(());
            }
        }
        let c = at.all().await?;
        tracing::debug!(
            secs = t.elapsed().as_secs_f64(),
            "targeted read: the rails' counts, exact"
        );
        self.active = c.active;
        self.groups = c.groups;
        self.exact = true;
        Ok(())
    }

    /// Active entries per category.
    pub fn active(&self) -> &BTreeMap<String, u64> {
        debug_assert!(self.at.is_none(), "counts read before settle");
        &self.active
    }

    /// Classes and groups.
    pub fn groups(&self) -> u64 {
        debug_assert!(self.at.is_none(), "counts read before settle");
        self.groups
    }

    /// Adds `n` entries to figure `f`.
    fn add(&mut self, f: Figure, n: u64) {
        match f {
            Figure::Active(k) => *self.active.entry(k.as_str().to_string()).or_default() += n,
            Figure::Groups => self.groups += n,
        }
    }

    /// Whether the figures are the directory's, or lower bounds that
    /// were enough for the rails' verdict.
    pub fn exact(&self) -> bool {
        self.exact
    }
}

/// The least value of `f` that `judge` does not find short, every other
/// figure as large as can be (`None`: none is, or something else is short
/// whatever the counts).
fn least(f: Figure, judge: &impl Fn(&BTreeMap<String, u64>, u64) -> Short) -> Option<u64> {
    // far beyond any directory, yet safe in the rails' arithmetic
    const LARGE: u64 = 1 << 40;
    let short = |n: u64| {
        let mut active = crate::safety::no_counts();
        for k in crate::safety::CATEGORIES {
            let v = if f == Figure::Active(k) { n } else { LARGE };
            active.insert(k.as_str().to_string(), v);
        }
        let groups = if f == Figure::Groups { n } else { LARGE };
        judge(&active, groups)
    };
    let at_most = short(LARGE);
    if at_most != Short::default() {
        return None;
    }
    let (mut lo, mut hi) = (0u64, LARGE);
    // the verdict is monotonic in each figure: the least accepted value
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let s = short(mid);
        if f.in_short(&s) || s.exactly {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

impl Counter {
    /// Counts `f` into `c` by a walk of its entries, stopped once `need`
    /// are counted; returns the count.
    async fn walk(
        &self,
        reader: &mut super::wire::Reader,
        f: Figure,
        need: u64,
        c: &mut Counts,
    ) -> Result<u64, DirectoryError> {
        if need == 0 {
            return Ok(0);
        }
        let attrs = count_attrs();
        let n = std::cell::Cell::new(0u64);
        reader
            .search_until(
                &self.base,
                &f.filter(&self.own),
                &attrs,
                |_, a| {
                    if self.classes.managed(&a) && figure_of(&a) == Some(f) {
                        n.set(n.get() + 1);
                    }
                },
                || n.get() >= need,
            )
            .await?;
        c.add(f, n.get());
        Ok(n.get())
    }

    /// Every figure exactly, over one walk of the managed entries, each
    /// read with the few attributes that classify it, and classified as
    /// the whole read classifies (`Classifier`, `safety::counted`), so that
    /// the figures are the whole read's by construction (a filter per
    /// category made slapd walk them five times).
    async fn all(&self) -> Result<Counts, DirectoryError> {
        let mut reader = super::wire::Reader::open(&self.cfg, &self.url).await?;
        let mut c = Counts {
            active: crate::safety::no_counts(),
            exact: true,
            ..Counts::default()
        };
        // classified where the answer lies, without an entry built for each
        // of the 1.5 M (that took this process 2.7 s of a core slapd needed)
        reader
            .search(
                &self.base,
                &format!("(&{})", self.own),
                &count_attrs(),
                |_, a| {
                    if !self.classes.managed(&a) {
                        return;
                    }
                    if let Some(f) = figure_of(&a) {
                        c.add(f, 1);
                    }
                },
            )
            .await?;
        reader.close().await;
        Ok(c)
    }
}

/// The attributes that classify an entry for the counts.
fn count_attrs() -> [String; 4] {
    [
        "objectClass",
        schema::ATTR_SOURCE,
        "ENTPersonProfils",
        schema::ATTR_DEPARTURE,
    ]
    .map(String::from)
}

/// The figure a managed entry counts in, if any.
fn figure_of(e: &super::wire::Attrs<'_>) -> Option<Figure> {
    if EntryKind::of(e).is_some_and(EntryKind::is_group) {
        Some(Figure::Groups)
    } else {
        crate::safety::counted(e).map(Figure::Active)
    }
}

/// The entries a targeted read gathers, once each, over one connection
/// (two for a list of searches: [`Directory::read_any`]).
struct Gather<'a> {
    reader: super::wire::Reader,
    /// The second connection, opened at the first list of searches, to
    /// the server the first one reads (`url`: not another one a failover
    /// moved to since).
    second: Option<super::wire::Reader>,
    url: String,
    snap: Snapshot,
    seen: HashSet<String>,
    classes: Classifier,
    store: Option<&'a Store>,
    /// Whether the people of this source read now are followed (their
    /// links, and who links to them), and those already followed.
    follow: bool,
    followed: HashSet<String>,
    /// People of this source found, not yet followed.
    frontier: Vec<Entry>,
}

impl Gather<'_> {
    /// Unbinds and closes the connections.
    async fn close(self) -> Snapshot {
        self.reader.close().await;
        if let Some(r) = self.second {
            r.close().await;
        }
        self.snap
    }

    /// Takes one entry read (again, maybe); a managed person is followed
    /// next when following.
    fn take(&mut self, e: Entry) {
        let key = e.dn.key();
        let class = self.classes.class(&e);
        if self.follow
            && class == Class::Managed
            && EntryKind::of(&e).is_some_and(EntryKind::is_person)
            && self.followed.insert(key.clone())
        {
            self.frontier.push(e.clone());
        }
        if self.seen.insert(key) {
            self.snap.take(e, class, self.store);
        }
    }

    /// Follows an entry already read, when it is a managed person.
    fn follow_known(&mut self, key: &str) {
        let Some(e) = self.snap.managed.get(key) else {
            return;
        };
        if EntryKind::of(e).is_some_and(EntryKind::is_person)
            && self.followed.insert(key.to_string())
        {
            self.frontier.push(e.clone());
        }
    }
}

impl Directory {
    /// Entries under `base` matching `filter`, with the read's attributes;
    /// `about`: how many at most, when the filter says.
    async fn read_matching(
        &self,
        base: &str,
        filter: &str,
        about: Option<usize>,
        g: &mut Gather<'_>,
    ) -> Result<(), DirectoryError> {
        let mut found = Vec::new();
        let about = about.map(|n| n as u64);
        let r = g
            .reader
            .search_expecting(base, filter, &read_attrs(), about, |dn, a| {
                found.push(Entry::from_attrs(Dn::new(dn), a))
            })
            .await;
        take_found(r, found, g)
    }

    /// Each batch of `clauses` ORed, under the base: two at a time, over
    /// two connections. One search at a time left the server idle while
    /// this process took each answer in, and this process idle while the
    /// server looked the next one up.
    async fn read_any(
        &self,
        layout: &Layout,
        clauses: Vec<String>,
        g: &mut Gather<'_>,
    ) -> Result<(), DirectoryError> {
        self.two_at_a_time(
            layout,
            &clauses,
            &read_attrs(),
            g,
            |dn, a| Entry::from_attrs(Dn::new(dn), a),
            |found, g| {
                for e in found {
                    g.take(e);
                }
            },
        )
        .await
    }

    /// Each batch of `clauses` ORed, searched under the base with `attrs`,
    /// two at a time over two connections ([`Directory::read_any`]): each
    /// entry found made into a `T` as it comes, then each search's handed
    /// to `take` (the first connection's first). A base that does not
    /// exist found nothing.
    async fn two_at_a_time<T>(
        &self,
        layout: &Layout,
        clauses: &[String],
        attrs: &[String],
        g: &mut Gather<'_>,
        make: impl Fn(&str, super::wire::Attrs<'_>) -> T,
        mut take: impl FnMut(Vec<T>, &mut Gather<'_>),
    ) -> Result<(), DirectoryError> {
        let base = layout.base.as_str();
        let batches: Vec<(String, u64)> = clauses
            .chunks(BATCH)
            .map(|b| (format!("(|{})", b.concat()), b.len() as u64))
            .collect();
        let found = |r: Result<u64, DirectoryError>| match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(super::ResultCode::NO_SUCH_OBJECT) => Ok(()),
            Err(e) => Err(e),
        };
        if batches.len() < 2 {
            for (filter, n) in &batches {
                let mut one = Vec::new();
                let r = g
                    .reader
                    .search_expecting(base, filter, attrs, Some(*n), |dn, a| one.push(make(dn, a)))
                    .await;
                found(r)?;
                take(one, g);
            }
            return Ok(());
        }
        let mut second = match g.second.take() {
            Some(r) => r,
            None => super::wire::Reader::open(&self.cfg, &g.url).await?,
        };
        let mut read = Ok(());
        for pair in batches.chunks(2) {
            let (mut one, mut two) = (Vec::new(), Vec::new());
            let (f1, n1) = &pair[0];
            let first = g
                .reader
                .search_expecting(base, f1, attrs, Some(*n1), |dn, a| one.push(make(dn, a)));
            let (r1, r2) = match pair.get(1) {
                Some((f2, n2)) => {
                    let other = second.search_expecting(base, f2, attrs, Some(*n2), |dn, a| {
                        two.push(make(dn, a))
                    });
                    let (r1, r2) = futures::join!(first, other);
                    (r1, Some(r2))
                }
                None => (first.await, None),
            };
            read = found(r1).and_then(|()| r2.map_or(Ok(()), found));
            if read.is_err() {
                break;
            }
            take(one, g);
            take(two, g);
        }
        g.second = Some(second);
        read
    }

    /// The classes and groups of `codes` (structure id, code key) not
    /// asked for yet, by their cn.
    async fn read_groups(
        &self,
        layout: &Layout,
        codes: impl Iterator<Item = (String, String)>,
        asked: &mut HashSet<(String, String)>,
        g: &mut Gather<'_>,
    ) -> Result<(), DirectoryError> {
        let mut cns = Vec::new();
        for (sid, code) in codes {
            if asked.contains(&(sid.clone(), code.clone())) {
                continue;
            }
            for kind in [GroupKind::Classe, GroupKind::Groupe] {
                cns.push(format!(
                    "(cn={})",
                    escape_filter(&layout.class_cn(kind, &sid, &code))
                ));
            }
            asked.insert((sid, code));
        }
        cns.sort();
        cns.dedup();
        self.read_any(layout, cns, g).await
    }
    /// Reads what a Delta naming `wanted` needs of the managed tree (see
    /// the module's doc), with the rails' counts; `Ok(Err(why))` when only
    /// the whole tree answers.
    pub async fn read_targeted(
        &self,
        layout: &Layout,
        wanted: &Wanted,
        store: Option<&Store>,
    ) -> Result<Result<(Snapshot, Counts), String>, DirectoryError> {
        let src = escape_filter(&layout.source);
        let own = format!(
            "(objectClass={})({}={src})",
            schema::STATE_CLASS,
            schema::ATTR_SOURCE
        );
        let url = self.url().to_string();
        // the rails' counts: made once the plan knows what it changes
        let counts = Counts {
            at: Some(Counter {
                cfg: self.cfg.clone(),
                url: url.clone(),
                base: layout.base.to_string(),
                own: own.clone(),
                classes: Classifier::new(layout),
            }),
            ..Counts::default()
        };
        let mut g = Gather {
            reader: super::wire::Reader::open(&self.cfg, &url).await?,
            second: None,
            url: url.clone(),
            snap: Snapshot::default(),
            seen: HashSet::new(),
            classes: Classifier::new(layout),
            store,
            follow: false,
            followed: HashSet::new(),
            frontier: Vec::new(),
        };
        // every structure, wherever it is (an adopted tree keeps its own)
        let structures = format!("(&{own}{STRUCTURES})");
        self.read_matching(layout.base.as_str(), &structures, None, &mut g)
            .await?;
        // the departed branch: the deadlines
        let departed = layout.branches()[3].1.as_str().to_string();
        self.read_matching(&departed, &format!("(&{own})"), None, &mut g)
            .await?;
        if g.snap
            .managed
            .values()
            .any(|e| EntryKind::of(e) == Some(EntryKind::Structure) && State::of(e).departed())
        {
            return Ok(Err(
                "a departed structure waits for whoever still refers to it".into(),
            ));
        }
        let t = std::time::Instant::now();
        tracing::debug!(
            entries = g.seen.len(),
            "targeted read: structures and departed branch"
        );
        // from here, the people read are followed: the named ones first
        // (departed too: they may come back)
        g.follow = true;
        let jointure = |id: &str| format!("(ENTPersonJointure={}${})", src, escape_filter(id));
        self.read_any(
            layout,
            wanted.ids.iter().map(|id| jointure(id)).collect(),
            &mut g,
        )
        .await?;
        // pupils who may have come of age (their `ENTEleveMajeur`)
        for batch in wanted.births.chunks(BATCH) {
            let filter = format!(
                "(&{own}(objectClass=ENTEleve)(|{}))",
                batch
                    .iter()
                    .map(|b| format!("(ENTPersonDateNaissance={})", escape_filter(b)))
                    .collect::<String>()
            );
            self.read_matching(layout.base.as_str(), &filter, None, &mut g)
                .await?;
        }
        tracing::debug!(
            secs = t.elapsed().as_secs_f64(),
            "targeted read: the people named"
        );
        // the classes and groups the records may name, by their cn
        let mut asked: HashSet<(String, String)> = HashSet::new();
        self.read_groups(layout, wanted.codes.iter().cloned(), &mut asked, &mut g)
            .await?;
        // people tied to people, either way, until nothing is added (each
        // round follows people not followed before: a long step-family
        // chain is followed to its end, only the number of people bounds
        // it, as docs/scale.md says)
        while !g.frontier.is_empty() {
            if g.followed.len() > MAX_PEOPLE {
                return Ok(Err(format!(
                    "the Delta's people are tied to more than {MAX_PEOPLE} others"
                )));
            }
            let frontier = std::mem::take(&mut g.frontier);
            let mut forward = Vec::new();
            let mut reverse = Vec::new();
            let mut known = Vec::new();
            for e in &frontier {
                for r in refs(e) {
                    let k = dn_key(r);
                    if g.seen.contains(&k) {
                        known.push(k);
                    } else if layout.sid_of_structure_dn(r).is_none() {
                        // (structures are all read)
                        forward.push(r.to_string());
                    }
                }
                let dn = escape_filter(e.dn.as_str());
                for a in ["ENTEleveParents", "ENTAuxPersRelEleveEleve", "member"] {
                    reverse.push(format!("({a}={dn})"));
                }
            }
            for k in known {
                g.follow_known(&k);
            }
            // the classes a person's own lists name (`<school DN>$code`): a
            // departed pupil named again goes back into them
            let mut codes = Vec::new();
            for e in &frontier {
                for (attr, vs) in DN_PREFIXED.iter().filter_map(|a| Some((a, e.get(a)?))) {
                    for v in vs.iter() {
                        let Some((sdn, code)) = class_value(attr, v) else {
                            continue;
                        };
                        if let Some(sid) = structure_id(layout, &g, sdn) {
                            codes.push((sid, value_key(code).into_owned()));
                        }
                    }
                }
            }
            let t0 = std::time::Instant::now();
            self.read_groups(layout, codes.into_iter(), &mut asked, &mut g)
                .await?;
            let t1 = std::time::Instant::now();
            self.read_at(layout, forward, &mut g).await?;
            let t2 = std::time::Instant::now();
            self.read_linking(layout, reverse, &mut g).await?;
            tracing::debug!(
                groups = (t1 - t0).as_secs_f64(),
                forward = (t2 - t1).as_secs_f64(),
                linking = t2.elapsed().as_secs_f64(),
                followed = frontier.len(),
                "targeted read: a round of ties"
            );
        }
        tracing::debug!(
            entries = g.seen.len(),
            secs = t.elapsed().as_secs_f64(),
            "targeted read: the Delta's people and classes"
        );
        Ok(Ok((g.close().await, counts)))
    }

    /// Reads the entries at `dns` not read yet: people by jointure (where
    /// the layout's DN names them: equality searches, as many as a batch
    /// holds), anything else one by one.
    async fn read_at(
        &self,
        layout: &Layout,
        dns: Vec<String>,
        g: &mut Gather<'_>,
    ) -> Result<(), DirectoryError> {
        let src = escape_filter(&layout.source);
        let mut by_jointure = Vec::new();
        let mut elsewhere = Vec::new();
        for dn in dns {
            if g.seen.contains(&dn_key(&dn)) {
                continue;
            }
            match layout.id_of_person_dn(&dn) {
                Some(id) => by_jointure.push(format!(
                    "(ENTPersonJointure={}${})",
                    src,
                    escape_filter(&id)
                )),
                // an entry at a DN of its own (an adopted tree's)
                None => elsewhere.push(dn),
            }
        }
        by_jointure.sort();
        by_jointure.dedup();
        self.read_any(layout, by_jointure, g).await?;
        for dn in elsewhere {
            if !g.seen.contains(&dn_key(&dn)) {
                read_one(&dn, g).await?;
            }
        }
        Ok(())
    }

    /// The entries matching any of `clauses` (who links to the people
    /// followed), by DN first: nearly all are read already (links go both
    /// ways) and are followed as they are; the others are read whole.
    /// Asked whole, the classes listing a batch's people came back with
    /// all their members each time, for nothing.
    async fn read_linking(
        &self,
        layout: &Layout,
        clauses: Vec<String>,
        g: &mut Gather<'_>,
    ) -> Result<(), DirectoryError> {
        let mut found = Vec::new();
        let dn_only = ["1.1".to_string()];
        self.two_at_a_time(
            layout,
            &clauses,
            &dn_only,
            g,
            |dn, _| dn.to_string(),
            |dns, _| found.extend(dns),
        )
        .await?;
        let mut unread = Vec::new();
        for dn in found {
            let k = dn_key(&dn);
            if g.seen.contains(&k) {
                g.follow_known(&k);
            } else {
                unread.push(dn);
            }
        }
        self.read_at(layout, unread, g).await
    }

    /// Reads the people at `dns` (members of classes a Delta's plan
    /// rebuilds from all their members' records) into `snap`, a targeted
    /// read's; the DNs not found there go to its `absent`.
    pub async fn read_members(
        &self,
        layout: &Layout,
        dns: &[String],
        snap: &mut Snapshot,
        store: Option<&Store>,
    ) -> Result<(), DirectoryError> {
        let t = std::time::Instant::now();
        let url = self.url().to_string();
        let mut g = Gather {
            reader: super::wire::Reader::open(&self.cfg, &url).await?,
            second: None,
            url: url.clone(),
            seen: snap
                .managed
                .iter()
                .chain(snap.adoptable.iter())
                .map(|e| e.dn.key())
                .collect(),
            snap: std::mem::take(snap),
            classes: Classifier::new(layout),
            store,
            follow: false,
            followed: HashSet::new(),
            frontier: Vec::new(),
        };
        let read = self.read_at(layout, dns.to_vec(), &mut g).await;
        *snap = g.close().await;
        read?;
        for m in dns {
            let k = dn_key(m);
            if !snap.managed.contains_key(&k) {
                snap.absent.insert(k);
            }
        }
        tracing::debug!(
            asked = dns.len(),
            secs = t.elapsed().as_secs_f64(),
            "targeted read: members of the classes rebuilt from their records"
        );
        Ok(())
    }

    /// Which of the `candidates` logins the directory already gives (as
    /// a login or an alias, anyone's), lower case.
    pub async fn logins_taken(
        &self,
        layout: &Layout,
        candidates: &[String],
    ) -> Result<HashSet<String>, DirectoryError> {
        let mut taken = HashSet::new();
        let url = self.url().to_string();
        let mut reader = super::wire::Reader::open(&self.cfg, &url).await?;
        let attrs = ["ENTPersonLogin".to_string(), "ENTPersonAlias".to_string()];
        for batch in candidates.chunks(BATCH) {
            let filter = format!(
                "(|{})",
                batch
                    .iter()
                    .map(|c| {
                        let c = escape_filter(c);
                        format!("(ENTPersonLogin={c})(ENTPersonAlias={c})")
                    })
                    .collect::<String>()
            );
            let about = Some(batch.len() as u64);
            reader
                .search_expecting(layout.base.as_str(), &filter, &attrs, about, |_, a| {
                    for (_, values) in a {
                        taken.extend(values.iter().map(|v| crate::mapping::login::login_key(v)));
                    }
                })
                .await?;
        }
        reader.close().await;
        Ok(taken)
    }
}

/// The entry at `dn` into `g`, if there is one.
async fn read_one(dn: &str, g: &mut Gather<'_>) -> Result<(), DirectoryError> {
    let mut found = Vec::new();
    let r = g
        .reader
        .read_entry(dn, &read_attrs(), |dn, a| {
            found.push(Entry::from_attrs(Dn::new(dn), a))
        })
        .await;
    take_found(r, found, g)
}

/// The entries a search `found` into `g`, once it ended with `r`; a base
/// that does not exist (no departed branch yet, a link to an entry gone)
/// found none.
fn take_found(
    r: Result<u64, DirectoryError>,
    found: Vec<Entry>,
    g: &mut Gather<'_>,
) -> Result<(), DirectoryError> {
    match r {
        Ok(_) => {}
        Err(e) if e.code() == Some(super::ResultCode::NO_SUCH_OBJECT) => {}
        Err(e) => return Err(e),
    }
    for e in found {
        g.take(e);
    }
    Ok(())
}
