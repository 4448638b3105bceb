//! Replication as the sync sees it: the `contextCSN` of the suffix entry,
//! which every syncrepl provider and consumer keeps (one value per server
//! id, the CSN of the newest change from that server it holds).
//!
//! Two uses. Before the managed tree is read from a consumer (`[ldap]
//! read_url`), the consumer must be in step with the provider the run
//! writes to ([`caught_up`]): it holds every change the provider held when
//! the check began (for every server id, a CSN at least as new), and none
//! the provider does not hold (a consumer that also replicates from
//! another provider may be ahead of this one — after a provider crashed,
//! with changes that provider never passed on — and a plan made from it
//! would miss what the provider lacks); otherwise the tree is read from
//! the provider. And `status`, `check` and the metrics show the
//! topology ([`probe`]): which server answers, and how far each one is
//! behind the newest change any of them holds (the lag, in seconds between
//! CSN times; 0 when in step, infinite when a server holds nothing from a
//! server id the others know).

use super::{op_err, Directory, DirectoryError};
use crate::config::LdapConfig;
use crate::model::dn_key;
use crate::schema::date;
use ldap3::{Scope, SearchEntry};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `contextCSN` values by server id (the third `#` field of a CSN).
pub type ContextCsn = BTreeMap<String, String>;

/// The server id of a CSN (`YYYYmmddHHMMSS.ffffffZ#count#sid#mod`).
fn sid(csn: &str) -> Option<&str> {
    let mut it = csn.split('#');
    let (_, _, sid) = (it.next()?, it.next()?, it.next()?);
    Some(sid)
}

/// The time of a CSN, in seconds since the epoch (with its fraction).
pub fn csn_secs(csn: &str) -> Option<f64> {
    let ts = csn.split('#').next()?;
    let ts = ts.strip_suffix('Z')?;
    let (whole, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let t = date::parse_generalized_seconds(&format!("{whole}Z"))?;
    let frac: f64 = format!("0.{frac}").parse().ok()?;
    Some(t.unix_timestamp() as f64 + frac)
}

/// The values of `contextCSN`, by server id (the newest per id, should a
/// server hold two).
pub fn context_csn<'a>(values: impl IntoIterator<Item = &'a str>) -> ContextCsn {
    let mut m = ContextCsn::new();
    for v in values {
        if let Some(s) = sid(v) {
            let cur = m.entry(s.to_string()).or_default();
            if v > cur.as_str() {
                *cur = v.to_string();
            }
        }
    }
    m
}

/// True when `a` holds every change `b` holds: for each server id of `b`,
/// a CSN at least as new (CSNs of one server id compare as strings:
/// fixed-width fields).
pub fn covers(a: &ContextCsn, b: &ContextCsn) -> bool {
    b.iter().all(|(s, csn)| a.get(s).is_some_and(|x| x >= csn))
}

/// True when a consumer whose `contextCSN` is `replica` may stand for a
/// provider that held `before` when the check began and holds `now` (read
/// after the replica's): it holds every change of `before`, and none that
/// the provider lacks now. An empty provider proves nothing: false.
pub fn caught_up(before: &ContextCsn, replica: &ContextCsn, now: &ContextCsn) -> bool {
    !before.is_empty() && covers(replica, before) && covers(now, replica)
}

/// How far `replica` is behind `newest` (the newest CSN per server id
/// among the servers compared): the largest gap between CSN times, 0 when
/// in step; infinite when the replica holds nothing from a server id.
pub fn lag_secs(newest: &ContextCsn, replica: &ContextCsn) -> f64 {
    let mut lag: f64 = 0.0;
    for (s, csn) in newest {
        match replica.get(s) {
            Some(r) if r >= csn => {}
            Some(r) => {
                let gap = match (csn_secs(csn), csn_secs(r)) {
                    (Some(a), Some(b)) => (a - b).max(0.0),
                    _ => f64::INFINITY,
                };
                lag = lag.max(gap);
            }
            None => lag = f64::INFINITY,
        }
    }
    lag
}

/// The newest CSN per server id among `all`.
pub fn newest<'a>(all: impl IntoIterator<Item = &'a ContextCsn>) -> ContextCsn {
    let mut m = ContextCsn::new();
    for c in all {
        for (s, csn) in c {
            let cur = m.entry(s.clone()).or_default();
            if csn > cur {
                *cur = csn.clone();
            }
        }
    }
    m
}

impl Directory {
    /// The suffix (naming context) holding the base DN: where syncrepl
    /// keeps `contextCSN`. The base DN itself when the root DSE does not
    /// say.
    async fn suffix(&self) -> String {
        let base = self.cfg.base_dn.clone();
        let mut l = self.conn(0).await;
        let found = l
            .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
            .await
            .and_then(|r| r.success());
        let Ok((rs, _)) = found else {
            return base;
        };
        let key = dn_key(&base);
        rs.into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_values().flatten())
            .filter(|nc| {
                let k = dn_key(nc);
                key == k || key.ends_with(&format!(",{k}"))
            })
            .max_by_key(|nc| nc.len())
            .unwrap_or(base)
    }

    /// The `contextCSN` of the suffix holding the base DN, on the server
    /// the connections go to (empty without replication).
    pub async fn context_csn(&self) -> Result<ContextCsn, DirectoryError> {
        let suffix = self.suffix().await;
        let mut l = self.conn(0).await;
        let what = || format!("read contextCSN of {suffix}");
        let (rs, _) = l
            .search(&suffix, Scope::Base, "(objectClass=*)", vec!["contextCSN"])
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err(what(), e))?;
        let values: Vec<String> = rs
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_values().flatten())
            .collect();
        Ok(context_csn(values.iter().map(String::as_str)))
    }

    /// The consumer of `read_url`, connected, once its `contextCSN` has
    /// caught up with the provider's (waiting up to `read_wait_secs`);
    /// `None` (read from the provider) when there is none, it does not
    /// answer, or it stays behind. The provider's CSN is read first: the
    /// consumer then holds at least what the provider held at that moment.
    pub(super) async fn fresh_reader(&self) -> Option<Directory> {
        let url = self.cfg.read_url.as_deref()?;
        let provider = self.url().to_string();
        let want = match self.context_csn().await {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => {
                tracing::warn!(%provider, consumer = url, "the provider has no contextCSN (no syncprov?): the consumer's freshness cannot be told, the managed tree is read from the provider");
                return None;
            }
            Err(error) => {
                tracing::warn!(%provider, %error, "cannot read the provider's contextCSN: the managed tree is read from the provider");
                return None;
            }
        };
        let reader = match Directory::connect_n(&self.cfg.only(url), 1).await {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(consumer = url, %error, "the consumer does not answer: the managed tree is read from the provider");
                return None;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(self.cfg.read_wait_secs);
        loop {
            // the consumer's first, then the provider's (it only grows)
            let both = match reader.context_csn().await {
                Ok(have) => self.context_csn().await.map(|now| (have, now)),
                Err(e) => Err(e),
            };
            match both {
                Ok((have, now)) if caught_up(&want, &have, &now) => {
                    tracing::info!(consumer = url, %provider, "the consumer has caught up with the provider: the managed tree is read from it");
                    return Some(reader);
                }
                Ok((have, now)) if Instant::now() >= deadline => {
                    let behind = lag_secs(&want, &have);
                    let ahead = lag_secs(&have, &now);
                    tracing::warn!(
                        consumer = url,
                        %provider,
                        behind_secs = behind,
                        ahead_secs = ahead,
                        wait_secs = self.cfg.read_wait_secs,
                        "the consumer is not in step with the provider (contextCSN): the managed tree is read from the provider"
                    );
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(error) => {
                    tracing::warn!(consumer = url, %error, "cannot compare the consumer's contextCSN with the provider's: the managed tree is read from the provider");
                    break;
                }
            }
        }
        reader.close().await;
        None
    }
}

/// The role of a server in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The first of `[ldap] url`: the run lock lives there.
    DesignatedProvider,
    /// Another provider of `[ldap] url` (failover).
    Provider,
    /// `[ldap] read_url`.
    Consumer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::DesignatedProvider => "designated provider",
            Role::Provider => "provider",
            Role::Consumer => "consumer",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::DesignatedProvider => "designated_provider",
            Role::Provider => "provider",
            Role::Consumer => "consumer",
        }
    }
}

/// One configured server as seen now.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    pub url: String,
    pub role: Role,
    /// It answered (connection and bind).
    pub answered: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// Its `contextCSN` values (empty: no replication there).
    pub context_csn: Vec<String>,
    /// Seconds behind the newest change any answering server holds (0 in
    /// step; `None` when it did not answer; infinite, serialized as
    /// `null` by JSON, when it holds nothing from a server id the others
    /// know: see `missing`).
    pub lag_secs: Option<f64>,
    /// Server ids the others hold changes of and this one holds none.
    pub missing: Vec<String>,
}

/// Every configured server, in the order of the configuration: providers
/// (the designated one first), then the consumer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Topology {
    pub servers: Vec<Server>,
    /// The provider a run would write through now: the first that answers.
    pub writes_to: Option<String>,
}

impl Topology {
    /// True when the designated provider answers (writing runs take the
    /// run lock there).
    pub fn designated_up(&self) -> bool {
        self.servers
            .first()
            .is_some_and(|s| s.role == Role::DesignatedProvider && s.answered)
    }

    /// True when every server answers and none is behind.
    pub fn healthy(&self) -> bool {
        self.servers
            .iter()
            .all(|s| s.answered && s.lag_secs == Some(0.0))
    }

    /// One line per server.
    pub fn lines(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| {
                let state = if !s.answered {
                    format!(
                        "DOES NOT ANSWER ({})",
                        s.error.as_deref().unwrap_or("no answer")
                    )
                } else if s.context_csn.is_empty() {
                    "answers, no contextCSN (not replicated?)".to_string()
                } else {
                    match s.lag_secs {
                        Some(0.0) => "answers, in step".to_string(),
                        Some(l) if l.is_finite() => {
                            format!("answers, replication lag {l:.3} s (contextCSN)")
                        }
                        _ => format!(
                            "answers, BEHIND: holds no change of server id {} that others hold",
                            s.missing.join(", ")
                        ),
                    }
                };
                let writes = if self.writes_to.as_deref() == Some(s.url.as_str()) {
                    ", writes go here"
                } else {
                    ""
                };
                format!("{} {}: {state}{writes}", s.role.as_str(), s.url)
            })
            .collect()
    }
}

/// [`probe_once`] until every server is in step, for up to `settle` (a
/// run's last writes take a moment to reach the others): what is still
/// behind after that is really behind. A server that does not answer is
/// reported at once.
pub async fn probe(cfg: &LdapConfig, settle: Duration) -> Topology {
    let deadline = Instant::now() + settle;
    loop {
        let t = probe_once(cfg).await;
        let down = t.servers.iter().any(|s| !s.answered);
        if t.healthy() || down || Instant::now() >= deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Connects to every configured server (a few seconds each at most, all
/// at once), reads their `contextCSN` and works out the lag of each.
pub async fn probe_once(cfg: &LdapConfig) -> Topology {
    let mut quick = cfg.clone();
    quick.timeout_secs = cfg.timeout_secs.clamp(1, 5);
    let mut list: Vec<(String, Role)> = cfg
        .providers()
        .enumerate()
        .map(|(i, u)| {
            let role = if i == 0 {
                Role::DesignatedProvider
            } else {
                Role::Provider
            };
            (u.to_string(), role)
        })
        .collect();
    if let Some(r) = &cfg.read_url {
        list.push((r.clone(), Role::Consumer));
    }
    let reads = list.iter().map(|(url, _)| {
        let one = quick.only(url);
        async move {
            let dir = Directory::connect_n(&one, 1).await?;
            let csn = dir.context_csn().await;
            dir.close().await;
            csn
        }
    });
    let results: Vec<Result<ContextCsn, DirectoryError>> = futures::future::join_all(reads).await;
    let all = newest(results.iter().filter_map(|r| r.as_ref().ok()));
    let mut topo = Topology::default();
    for ((url, role), r) in list.into_iter().zip(results) {
        let server = match r {
            Ok(csn) => {
                if topo.writes_to.is_none() && role != Role::Consumer {
                    topo.writes_to = Some(url.clone());
                }
                let lag = lag_secs(&all, &csn);
                Server {
                    missing: all
                        .keys()
                        .filter(|s| !csn.contains_key(*s))
                        .cloned()
                        .collect(),
                    context_csn: csn.into_values().collect(),
                    lag_secs: Some(lag),
                    url,
                    role,
                    answered: true,
                    error: None,
                }
            }
            Err(e) => Server {
                url,
                role,
                answered: false,
                error: Some(e.to_string()),
                context_csn: Vec::new(),
                lag_secs: None,
                missing: Vec::new(),
            },
        };
        topo.servers.push(server);
    }
    topo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(vals: &[&str]) -> ContextCsn {
        context_csn(vals.iter().copied())
    }

    #[test]
    fn freshness_is_judged_per_server_id() {
        let p = c(&[
            "20250904120000.000100Z#000000#001#000000",
            "20250904120005.500000Z#000002#002#000000",
        ]);
        // in step; ahead of the provider is not (it holds what the
        // provider lacks), unless the provider got it meanwhile
        assert!(caught_up(&p, &p, &p));
        let ahead = c(&[
            "20250904120000.000100Z#000000#001#000000",
            "20250904120006.000000Z#000000#002#000000",
            "20250101000000.000000Z#000000#000#000000",
        ]);
        assert!(!caught_up(&p, &ahead, &p));
        assert!(caught_up(&p, &ahead, &ahead));
        assert_eq!(lag_secs(&p, &ahead), 0.0);
        assert!(lag_secs(&ahead, &p).is_infinite());
        // one server id behind by 2.5 s; the count field breaks ties
        let behind = c(&[
            "20250904120000.000100Z#000000#001#000000",
            "20250904120003.000000Z#000000#002#000000",
        ]);
        assert!(!caught_up(&p, &behind, &p));
        assert!((lag_secs(&p, &behind) - 2.5).abs() < 1e-6);
        let same_time = c(&[
            "20250904120000.000100Z#000000#001#000000",
            "20250904120005.500000Z#000001#002#000000",
        ]);
        assert!(!caught_up(&p, &same_time, &p));
        assert_eq!(lag_secs(&p, &same_time), 0.0);
        // a server id it never heard of
        let missing = c(&["20250904120000.000100Z#000000#001#000000"]);
        assert!(!caught_up(&p, &missing, &p));
        assert!(lag_secs(&p, &missing).is_infinite());
        // a provider with no contextCSN proves nothing
        assert!(!caught_up(&ContextCsn::new(), &p, &p));
        // the newest per server id
        let n = newest([&behind, &ahead]);
        assert_eq!(n["002"], "20250904120006.000000Z#000000#002#000000");
        assert_eq!(n.len(), 3);
    }

    #[test]
    fn csn_times() {
        let t = csn_secs("20250904120000.250000Z#000000#001#000000").unwrap();
        assert!((t - 1_756_987_200.25).abs() < 1e-6, "{t}");
        assert!(csn_secs("garbage").is_none());
        assert_eq!(sid("x#1#00a#0"), Some("00a"));
        assert_eq!(sid("x"), None);
    }
}
