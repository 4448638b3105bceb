//! Times reads of a directory's tree, for comparing the wire search
//! (`ldap::wire`) with the sync's `ldap3` read and with `ldapsearch`
//! (issue 23).
//!
//! ```sh
//! cargo run --release --example wire_read -- CONFIG READER [PAGE]
//! cargo run --release --example wire_read -- CONFIG bench [PAGE [ROUNDS]]
//! ```
//!
//! `CONFIG` is an aaf-sync configuration (its `[ldap]` section and
//! `[source] name`); `PAGE` overrides `page_size`. One reader prints
//! `READER ENTRIES SECONDS ENTRIES/S`; `bench` runs every reader and
//! `ldapsearch` (with `-w` and the configured password: a test server's)
//! ROUNDS times (default 5), interleaved, and prints each one's best and
//! spread. `READER` is one of:
//!
//! - `wire`: the wire search, `(objectClass=*)`, every user attribute,
//!   entries counted only (what `ldapsearch … > /dev/null` does);
//! - `wire-entry`: the same, each entry built with `Entry::from_attrs`
//!   into an `EntryMap`, as the sync would build its tree;
//! - `wire-managed`: the wire search with the filter and the attributes of
//!   the sync's read of the managed tree, entries built;
//! - `read-managed`: the sync's own read (`Directory::read_managed`:
//!   the wire search, each entry classed, logins collected);
//! - `ldapsearch`, `ldapsearch-managed`: `ldapsearch -E pr=PAGE/noprompt`
//!   to `/dev/null`, of `(objectClass=*)`, or with the sync's filter and
//!   attributes.

use aaf_sync::config::Config;
use aaf_sync::ldap::{read_attrs, read_filter, wire, Directory};
use aaf_sync::mapping::layout::Layout;
use aaf_sync::model::{Dn, Entry, EntryMap};
use std::time::Instant;

// as the aaf-sync binary
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `ldapsearch` of the tree to `/dev/null`: the entries it printed.
fn ldapsearch(
    c: &aaf_sync::config::LdapConfig,
    filter: &str,
    attrs: &[String],
) -> anyhow::Result<u64> {
    let out = std::process::Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &c.url, "-D", &c.bind_dn])
        .args(["-w", c.bind_password.as_deref().unwrap_or("")])
        .args([
            "-b",
            &c.base_dn,
            "-E",
            &format!("pr={}/noprompt", c.page_size),
        ])
        .arg(filter)
        .args(attrs)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(out.success(), "ldapsearch: {out}");
    Ok(0)
}

/// One read with `reader`: the entries it read.
fn read(
    rt: &tokio::runtime::Runtime,
    c: &Config,
    ldap: &aaf_sync::config::LdapConfig,
    reader: &str,
) -> anyhow::Result<u64> {
    // the sync's own read: its filter and attributes
    let layout = Layout::new(&ldap.base_dn, &c.source);
    let (managed_filter, managed_attrs) = (read_filter(&layout), read_attrs());
    let all = || vec!["*".to_string()];
    let base = ldap.base_dn.as_str();
    let url = ldap.url.as_str();
    let any = "(objectClass=*)";
    match reader {
        "ldapsearch" => return ldapsearch(ldap, any, &[]),
        "ldapsearch-managed" => return ldapsearch(ldap, &managed_filter, &managed_attrs),
        _ => {}
    }
    rt.block_on(async {
        anyhow::Ok(match reader {
            "wire" => wire::search(ldap, url, base, any, &all(), |_, _| {}).await?,
            "wire-entry" | "wire-managed" => {
                let mut tree = EntryMap::default();
                let (filter, attrs) = if reader == "wire-entry" {
                    (any.to_string(), all())
                } else {
                    (managed_filter.clone(), managed_attrs.clone())
                };
                wire::search(ldap, url, base, &filter, &attrs, |dn, a| {
                    let e = Entry::from_attrs(Dn::new(dn), a);
                    tree.insert(e);
                })
                .await?;
                tree.len() as u64
            }
            "read-managed" => {
                let d = Directory::connect_n(ldap, 1).await?;
                let snap = d.read_managed(&layout).await?;
                d.close().await;
                (snap.managed.len() + snap.adoptable.len()) as u64
            }
            other => anyhow::bail!("unknown reader {other}"),
        })
    })
}

const READERS: &[&str] = &[
    "ldapsearch",
    "wire",
    "wire-entry",
    "ldapsearch-managed",
    "wire-managed",
    "read-managed",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, reader, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: wire_read CONFIG READER|bench [PAGE [ROUNDS]]");
    };
    let c = Config::load(std::path::Path::new(config))?;
    let mut ldap = c.ldap.clone();
    if let Some(p) = rest.first() {
        ldap.page_size = p.parse()?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let rounds: usize = if reader == "bench" {
        rest.get(1).map(|r| r.parse()).transpose()?.unwrap_or(5)
    } else {
        1
    };
    let readers: Vec<&str> = if reader == "bench" {
        READERS.to_vec()
    } else {
        vec![reader.as_str()]
    };
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); readers.len()];
    let mut counts = vec![0u64; readers.len()];
    for _ in 0..rounds {
        for (i, r) in readers.iter().enumerate() {
            let t = Instant::now();
            let n = read(&rt, &c, &ldap, r)?;
            times[i].push(t.elapsed().as_secs_f64());
            counts[i] = counts[i].max(n);
        }
    }
    // ldapsearch counts nothing: the entries of the reader of its search
    let same = |name: &str| {
        readers
            .iter()
            .position(|r| *r == name)
            .map_or(0, |i| counts[i])
    };
    for (i, r) in readers.iter().enumerate() {
        let n = match *r {
            "ldapsearch" => same("wire"),
            "ldapsearch-managed" => same("wire-managed"),
            _ => counts[i],
        };
        let mut t = times[i].clone();
        t.sort_by(f64::total_cmp);
        let (best, worst) = (t[0], t[t.len() - 1]);
        println!(
            "{r:20} {n:>8} entries  best {best:.3} s  {:>9.0} entries/s  (spread {best:.2}–{worst:.2} s, n={})",
            n as f64 / best,
            t.len()
        );
    }
    Ok(())
}
