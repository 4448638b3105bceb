//! Small reads: one entry, a few searches, the sync's own entries, the
//! squatters a plan's adds would meet.

use super::{escape_filter, op_err, Directory, DirectoryError, ResultCode};
use crate::mapping::layout::{log_dn, Layout};
use crate::model::{Dn, Entry};
use crate::schema;
use futures::stream::{self, StreamExt};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry};
use std::collections::HashSet;

pub(super) fn to_entry(se: SearchEntry) -> Entry {
    Entry::from_attrs(
        Dn::new(se.dn),
        se.attrs
            .iter()
            .map(|(n, v)| (n.as_str(), v.iter().map(String::as_str))),
    )
}

impl Directory {
    /// True when an entry exists.
    pub async fn exists(&self, dn: &Dn) -> Result<bool, DirectoryError> {
        let mut l = self.conn(0).await;
        match l
            .search(dn.as_str(), Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
        {
            Ok(r) => match r.success() {
                Ok(_) => Ok(true),
                Err(e) if ResultCode::of(&e) == Some(ResultCode::NO_SUCH_OBJECT) => Ok(false),
                Err(e) => Err(op_err(format!("read {}", log_dn(dn.as_str())), e).at(dn)),
            },
            Err(e) => Err(op_err(format!("read {}", log_dn(dn.as_str())), e).at(dn)),
        }
    }

    /// The DN keys, among `candidates` (DNs the plan would add), of
    /// entries that exist and that this source does not manage: squatters
    /// an add would fail on. A few candidates are looked up one by one;
    /// many (a first sync) by one paged search of the branches for entries
    /// that are not ours, DNs only.
    pub async fn foreign_at(
        &self,
        layout: &Layout,
        candidates: &[&Dn],
    ) -> Result<HashSet<String>, DirectoryError> {
        let not_ours = format!(
            "(!(&(objectClass={})({}={})))",
            schema::STATE_CLASS,
            schema::ATTR_SOURCE,
            escape_filter(&layout.source)
        );
        let mut found = HashSet::new();
        if candidates.is_empty() {
            return Ok(found);
        }
        if candidates.len() <= 2000 {
            let not_ours = &not_ours;
            let mut results = stream::iter(candidates.iter().enumerate())
                .map(|(i, dn)| async move {
                    let mut l = self.conn(i).await;
                    let r = l
                        .search(dn.as_str(), Scope::Base, not_ours, vec!["1.1"])
                        .await
                        .and_then(|r| r.success());
                    (dn, r)
                })
                .buffer_unordered(self.cfg.in_flight.max(1));
            while let Some((dn, r)) = results.next().await {
                match r {
                    Ok((rs, _)) if !rs.is_empty() => {
                        found.insert(dn.key());
                    }
                    Ok(_) => {}
                    Err(e) if ResultCode::of(&e) == Some(ResultCode::NO_SUCH_OBJECT) => {}
                    Err(e) => return Err(op_err(format!("read {}", log_dn(dn.as_str())), e).at(dn)),
                }
            }
            return Ok(found);
        }
        let wanted: HashSet<String> = candidates.iter().map(|d| d.key()).collect();
        for (_, branch) in layout.branches() {
            if !self.exists(branch).await? {
                continue;
            }
            let mut l = self.conn(0).await;
            let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
                Box::new(EntriesOnly::new()),
                Box::new(PagedResults::new(self.page_size)),
            ];
            let what = || format!("read {branch}");
            let mut s = l
                .streaming_search_with(
                    adapters,
                    branch.as_str(),
                    Scope::Subtree,
                    &not_ours,
                    vec!["1.1"],
                )
                .await
                .map_err(|e| op_err(what(), e).at(branch))?;
            while let Some(re) = s.next().await.map_err(|e| op_err(what(), e).at(branch))? {
                let se = SearchEntry::construct(re);
                let key = crate::model::dn_key(&se.dn);
                if wanted.contains(&key) {
                    found.insert(key);
                }
            }
            s.finish()
                .await
                .success()
                .map_err(|e| op_err(what(), e).at(branch))?;
        }
        Ok(found)
    }

    /// How many entries carry a jointure of the layout's source without
    /// being managed (an existing tree the sync may adopt).
    pub async fn count_adoptable(&self, layout: &Layout) -> Result<usize, DirectoryError> {
        let src = escape_filter(&layout.source);
        let filter = format!(
            "(&(|(ENTPersonJointure={src}$*)(ENTStructureJointure={src}$*))(!(objectClass={})))",
            schema::STATE_CLASS
        );
        Ok(self.search(&layout.base, &filter, &["1.1"]).await?.len())
    }

    /// How many entries of the source, managed or adoptable, have a DN whose
    /// first RDN value the layout does not build from an id (an adopted
    /// tree's `uid=zoe.coeur`): logs write those as pseudonyms.
    pub async fn count_named_dns(&self, layout: &Layout) -> Result<usize, DirectoryError> {
        let src = escape_filter(&layout.source);
        let filter = format!(
            "(|(&(objectClass={})({}={src})(|(objectClass=ENTPerson)(ENTStructureJointure=*)))\
             (ENTPersonJointure={src}$*)(ENTStructureJointure={src}$*))",
            schema::STATE_CLASS,
            schema::ATTR_SOURCE,
        );
        let fixed = layout.fixed_keys();
        Ok(self
            .search(&layout.base, &filter, &["1.1"])
            .await?
            .iter()
            .filter(|e| !layout.clear_among(e.dn.as_str(), &fixed))
            .count())
    }

    /// Entries under `base` (whole subtree) matching `filter`, with `attrs`
    /// (`*` for all user attributes). For small answers: one search, no
    /// paging.
    pub async fn search(
        &self,
        base: &Dn,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<Entry>, DirectoryError> {
        let mut l = self.conn(0).await;
        let (rs, _) = l
            .search(base.as_str(), Scope::Subtree, filter, attrs.to_vec())
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err(format!("search {}", log_dn(base.as_str())), e).at(base))?;
        Ok(rs
            .into_iter()
            .map(|re| {
                let se = SearchEntry::construct(re);
                let bin = se.bin_attrs.clone();
                let mut e = to_entry(se);
                // values that are not UTF-8 (photos, some hashes)
                for (name, vs) in bin {
                    use base64::Engine;
                    let enc = base64::engine::general_purpose::STANDARD;
                    e.add(
                        &name,
                        vs.iter().map(|v| format!("base64:{}", enc.encode(v))),
                    );
                }
                e
            })
            .collect())
    }

    /// Reads the control entry of the layout's source, if there is one.
    pub async fn read_control(&self, layout: &Layout) -> Result<Option<Entry>, DirectoryError> {
        self.read_own(&layout.control_dn(), schema::CONTROL_CLASS, "control entry")
            .await
    }

    /// Reads one of the sync's own entries (control, erasures), refusing
    /// an entry of someone else at its DN: the sync would otherwise read
    /// its state from it, or fail to write it on every run.
    pub async fn read_own(
        &self,
        dn: &Dn,
        class: &str,
        what: &str,
    ) -> Result<Option<Entry>, DirectoryError> {
        let Some(e) = self.read_entry(dn).await? else {
            return Ok(None);
        };
        let classes = e.get("objectClass").unwrap_or_default();
        if classes.iter().any(|c| c.eq_ignore_ascii_case(class)) {
            return Ok(Some(e));
        }
        Err(op_err(
            format!("{what} {}", log_dn(dn.as_str())),
            format!(
                "an entry that is not aaf-sync's {what} is there (object classes {}): \
                 aaf-sync never takes over an entry it did not make; remove or rename it",
                classes.iter().collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    /// One entry by DN, all user attributes; `None` if absent.
    pub async fn read_entry(&self, dn: &Dn) -> Result<Option<Entry>, DirectoryError> {
        let mut l = self.conn(0).await;
        let what = || format!("read {dn}");
        match l
            .search(dn.as_str(), Scope::Base, "(objectClass=*)", vec!["*"])
            .await
        {
            Ok(r) => match r.success() {
                Ok((rs, _)) => Ok(rs
                    .into_iter()
                    .next()
                    .map(|re| to_entry(SearchEntry::construct(re)))),
                Err(e) if ResultCode::of(&e) == Some(ResultCode::NO_SUCH_OBJECT) => Ok(None),
                Err(e) => Err(op_err(what(), e).at(dn)),
            },
            Err(e) => Err(op_err(what(), e).at(dn)),
        }
    }
}
