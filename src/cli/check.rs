//! `aaf-sync check`: the configuration valid, the directory reachable, the
//! branches, the access to passwords, the schema the sync writes into, an
//! existing tree to adopt, the equality indexes (warnings), whether reads
//! can be incremental, and in a replicated directory every server.
//! Exit 0 all good, 1 a replica lags or is down, 2 a sync would be refused.

use crate::cli::CheckArgs;
use crate::run::session::{load_local, runtime, settle};

/// Runs `check`.
pub fn check(a: CheckArgs) -> anyhow::Result<u8> {
    let cfg = load_local(&a.config.config)?;
    let rt = runtime()?;
    rt.block_on(async {
        let dir = crate::ldap::Directory::connect(&cfg.ldap).await?;
        let layout = cfg.layout();
        dir.preflight(&layout).await?;
        let missing = dir.ensure_branches(&layout, true).await?;
        let passwords = dir.password_access(&layout).await?;
        let schema = dir.read_schema(&layout.base).await?;
        let adoptable = dir.count_adoptable(&layout).await?;
        let named = dir.count_named_dns(&layout).await?;
        let indexes = dir.check_indexes(layout.base.as_str()).await;
        let content_sync = dir.offers_content_sync(&layout).await;
        let answered = dir.url().to_string();
        dir.close().await;
        for m in &missing {
            println!("branch {m} missing: sync will create it");
        }
        println!("work directory {} writable", cfg.work_dir.display());
        let mut refused = false;
        match passwords {
            None => println!(
                "passwords: no managed person yet: the access of {} to userPassword is checked once there is one",
                cfg.ldap.bind_dn
            ),
            Some(p) => {
                let at = crate::mapping::layout::log_dn(p.dn.as_str());
                if !p.write {
                    refused = true;
                    eprintln!(
                        "aaf-sync: passwords: {} cannot write userPassword and aafSyncSavedPassword (tried on {at}): \
                         departures could not set passwords aside; grant it write access (docs/data-protection.md, \"Departures and retention\")",
                        cfg.ldap.bind_dn
                    );
                } else if !p.read {
                    println!(
                        "passwords: {} may write userPassword; it could not read one (tried on {at}): \
                         if an ACL hides it, departed people keep theirs (docs/data-protection.md, \"Departures and retention\")",
                        cfg.ldap.bind_dn
                    );
                } else {
                    println!("passwords: {} can read and write userPassword and aafSyncSavedPassword", cfg.ldap.bind_dn);
                }
            }
        }
        if refused {
            return Ok(2);
        }
        // what the sync writes into this directory's schema
        let adaptation = crate::mapping::sdet::Adaptation::compile(&schema);
        for line in adaptation.describe(cfg.degree) {
            println!("schema: {line}");
        }
        if adoptable > 0 {
            println!(
                "{adoptable} entries carry a jointure of source {} without being managed (an existing tree): \
                 a sync adopts those its extraction carries and leaves the others alone \
                 (sync --dry-run shows how many)",
                cfg.source
            );
        }
        if named > 0 {
            println!(
                "warning: {named} entries of source {} have DNs whose RDN value is not an AAF id \
                 (an adopted tree, perhaps built from names): logs, the journal and reports \
                 write it as a pseudonym (uid=#sha256:…); `subject export --dn` takes the \
                 pseudonym back",
                cfg.source
            );
        }
        index_lines(&indexes, &cfg.ldap.bind_dn);
        match (&content_sync, cfg.ldap.incremental_read) {
            (Ok(()), true) if cfg.ldap.read_url.is_some() => println!(
                "incremental read: off while [ldap] read_url is set (the tree is read from the consumer, in full), \
                 although the provider offers it"
            ),
            (Ok(()), true) => println!(
                "incremental read: the directory offers content synchronization (syncprov): \
                 a run reads what changed since the last one, over its copy in {}",
                cfg.work_dir.display()
            ),
            (Ok(()), false) => println!(
                "incremental read: off ([ldap] incremental_read = false), although the directory offers it"
            ),
            (Err(why), _) => println!(
                "incremental read: not offered by the directory ({why}): every run reads the whole tree \
                 (docs/scale.md, \"Incremental read\")"
            ),
        }
        if !adaptation.problems.is_empty() {
            for p in &adaptation.problems {
                eprintln!("aaf-sync: schema: {p}");
            }
            eprintln!("aaf-sync: the directory's schema cannot hold what the sync writes: a sync would be refused");
            return Ok(2);
        }
        println!(
            "configuration valid; {answered} reachable, schema loaded, base {} present",
            cfg.ldap.base_dn
        );
        if !cfg.ldap.replicated() {
            return Ok::<_, anyhow::Error>(0);
        }
        // a replicated directory: every server, and the lag
        let topo = crate::ldap::replication::probe(&cfg.ldap, settle(&cfg)).await;
        for l in topo.lines() {
            println!("{l}");
        }
        if !topo.designated_up() {
            println!(
                "the designated provider {} does not answer: writing runs refuse (the run lock lives there)",
                cfg.ldap.url
            );
            return Ok(2);
        }
        Ok(if topo.healthy() { 0 } else { 1 })
    })
}

/// What `check` says of the equality indexes (docs/schema.md): a warning
/// per attribute without one, or that they could not be verified.
fn index_lines(indexes: &crate::ldap::indexes::Indexes, bind: &str) {
    use crate::ldap::indexes::{Indexes, RECOMMENDED};
    match indexes {
        Indexes::Set { suffix } => println!(
            "indexes: {} have an equality index on the database of {suffix}",
            RECOMMENDED.join(", ")
        ),
        Indexes::Missing { suffix, attributes } => {
            for a in attributes {
                println!(
                    "warning: index: {a} has no equality index on the database of {suffix}: \
                     searches by it scan the whole database; add `olcDbIndex: {a} eq` (docs/schema.md)"
                );
            }
        }
        Indexes::Unverified(why) => println!(
            "indexes: could not verify the equality indexes ({why}); docs/schema.md lists those \
             the sync needs ({}); let {} read the database's entry in cn=config for this check",
            RECOMMENDED.join(", "),
            if bind.is_empty() { "the bind" } else { bind }
        ),
    }
}
