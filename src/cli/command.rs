//! One function per `aaf-sync` command (but `check`, in [`super::check`]):
//! what `main` dispatches to, on the library's `run` modules. Each loads the configuration, runs its part
//! of the library under a [`Session`] when it writes, and returns the exit
//! code: 0 done, 1 done with rejected records (the directory is in step
//! with what could be read), 3 done but some operations failed (not in
//! step), 2 refused, held or fatal.

use crate::cli::{
    ApproveArgs, AuditArgs, ExportLdifArgs, FetchArgs, LogFormat, PlanFormat, PurgeArgs,
    RetentionArgs, RunArgs, StatusArgs, SubjectCmd, SyncArgs,
};
use crate::config::Config;
use crate::ops::outcome::Outcome;
use crate::ops::report::Report;
use crate::run::daily::RunReport;
use crate::run::session::{
    approval_of, finish_run, finish_sync, load_checked, load_config, load_local, outcome_of,
    runtime, until_stopped, writing_runtime, Ctx, Session, SyncEnd,
};
use crate::run::sync::{self, SyncError, SyncOptions};
use anyhow::Context;

/// `sync`.
pub fn sync(ctx: &Ctx, a: SyncArgs) -> anyhow::Result<u8> {
    let now = (ctx.run_date)(a.run.now)?;
    let mut opts = SyncOptions::new(a.paths, a.dry_run || a.check, now);
    opts.with_passwords = a.with_passwords;
    opts.force = a.force;
    opts.check = a.check;
    opts.approval = approval_of(a.allow_mass_departure);
    let (rep, end) = sync_or_retention(ctx, &a.config.config, opts, false);
    finish_sync(
        ctx,
        rep,
        end?,
        a.dry_run.then_some(plan_text(a.format)),
        a.run.report,
    )
}

/// `retention`.
pub fn retention(ctx: &Ctx, a: RetentionArgs) -> anyhow::Result<u8> {
    let now = (ctx.run_date)(a.run.now)?;
    let mut opts = SyncOptions::new(Vec::new(), a.dry_run || a.check, now);
    opts.check = a.check;
    let (rep, end) = sync_or_retention(ctx, &a.config.config, opts, true);
    finish_sync(
        ctx,
        rep,
        end?,
        a.dry_run.then_some(plan_text(a.format)),
        a.run.report,
    )
}

/// How a dry run prints its plan.
fn plan_text(format: PlanFormat) -> crate::run::session::PlanWriter {
    match format {
        PlanFormat::Ldif => |p, w| p.write_ldif(w),
        PlanFormat::Json => |p, w| {
            p.write_json(w)?;
            w.write_all(b"\n")
        },
    }
}

/// Loads the configuration and runs `sync` or `retention`; a bad
/// configuration is a refusal. The command names the run in the summary
/// even when the configuration cannot be read.
fn sync_or_retention(
    ctx: &Ctx,
    config: &std::path::Path,
    opts: SyncOptions,
    retention: bool,
) -> (Report, anyhow::Result<SyncEnd>) {
    let mut rep = Report {
        head: ctx.header(),
        ..Default::default()
    };
    rep.head.command = if retention { "retention" } else { "sync" }.into();
    let cfg = match load_config(config) {
        Ok(cfg) => cfg,
        Err(e) => {
            let end = (Err(SyncError::Input(e.to_string())), Outcome::Refused, None);
            return (rep, Ok(end));
        }
    };
    let end = writing_runtime().map(|rt| {
        let (result, outcome) = rt.block_on(under_session(&cfg, opts, &mut rep, retention));
        (result, outcome, Some(cfg))
    });
    (rep, end)
}

/// Runs `sync` or `retention` under a session (lock and journal when it
/// writes).
async fn under_session(
    cfg: &Config,
    opts: SyncOptions,
    rep: &mut Report,
    retention: bool,
) -> (Result<sync::RunPlan, SyncError>, Outcome) {
    let writes = !opts.dry_run && !opts.check;
    if let Err(e) = crate::run::preflight::run(cfg).await {
        return (Err(SyncError::Input(format!("{e:#}"))), Outcome::Refused);
    }
    let command = rep.head.command.clone();
    let session = match Session::open(cfg, &rep.head.run_id, &command, writes).await {
        Ok(s) => s,
        Err(e) => {
            let outcome = if crate::host::interrupt::requested() {
                Outcome::Interrupted
            } else {
                Outcome::Refused
            };
            return (Err(SyncError::Input(format!("{e:#}"))), outcome);
        }
    };
    let opts = session.options(opts);
    session.note(rep);
    let result = until_stopped(
        async {
            if retention {
                sync::retention_pass(cfg, &opts, rep).await
            } else {
                sync::run(cfg, &opts, rep).await
            }
        },
        |why| Err(SyncError::Halted(format!("{why}: the run was cut short"))),
    )
    .await;
    let outcome = outcome_of(&result, rep, opts.check);
    session.close(outcome).await;
    (result, outcome)
}

/// `run`, the daily job.
pub fn run(ctx: &Ctx, a: RunArgs) -> anyhow::Result<u8> {
    let now = (ctx.run_date)(a.run.now)?;
    let mut rep = RunReport {
        head: ctx.header(),
        ..Default::default()
    };
    let cfg = match load_config(&a.config.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            rep.errors.push(e.to_string());
            return finish_run(ctx, rep, 2, None, a.run.report);
        }
    };
    let mut opts = SyncOptions::new(Vec::new(), a.dry_run, now);
    opts.approval = approval_of(a.allow_mass_departure);
    let code = writing_runtime()?.block_on(daily_under_session(ctx, &cfg, opts, &mut rep));
    finish_run(ctx, rep, code, Some(&cfg), a.run.report)
}

async fn daily_under_session(
    ctx: &Ctx,
    cfg: &Config,
    opts: SyncOptions,
    rep: &mut RunReport,
) -> i32 {
    if let Err(e) = crate::run::preflight::run(cfg).await {
        rep.errors.push(format!("{e:#}"));
        return 2;
    }
    let session = match Session::open(cfg, &ctx.run_id, "run", !opts.dry_run).await {
        Ok(s) => s,
        Err(e) => {
            rep.errors.push(format!("{e:#}"));
            return 2;
        }
    };
    let opts = session.options(opts);
    let code = until_stopped(
        async { Ok(crate::run::daily::run(cfg, &opts, rep).await) },
        |why| Err(format!("{why}: the run was cut short")),
    )
    .await;
    let code = code.unwrap_or_else(|e| {
        rep.errors.push(e);
        2
    });
    session.close(rep.outcome(code)).await;
    code
}

/// `fetch`.
pub fn fetch(ctx: &Ctx, a: FetchArgs) -> anyhow::Result<u8> {
    let now = (ctx.run_date)(a.now)?;
    let cfg = load_local(&a.config.config)?;
    let f = cfg
        .fetch
        .as_ref()
        .context("no [fetch] section in the configuration")?;
    let done = crate::delivery::sftp::fetch(f, &cfg.work_dir, a.dry_run, now)?;
    for n in &done.would_fetch {
        println!("would fetch {n}");
    }
    for d in &done.downloaded {
        println!(
            "fetched {} ({} bytes{})",
            d.name,
            d.bytes,
            if d.resumed_from > 0 {
                format!(", resumed from {}", d.resumed_from)
            } else {
                String::new()
            }
        );
    }
    for n in &done.refused_names {
        eprintln!("refused remote name \"{n}\": control characters (not fetched)");
    }
    for n in &done.removed_partials {
        eprintln!("removed the partial download of {n}: its file is not on the server any more");
    }
    eprintln!(
        "fetch: {} listed, {} already fetched, {} downloaded into {}",
        done.listed,
        done.known,
        done.downloaded.len(),
        crate::delivery::sftp::incoming_dir(&cfg.work_dir).display()
    );
    Ok(0)
}

/// `approve`.
pub fn approve(a: ApproveArgs) -> anyhow::Result<u8> {
    let cfg = load_local(&a.config.config)?;
    match crate::ops::approval::approve(&cfg.work_dir, &a.digest) {
        Ok(h) => {
            println!(
                "approved plan {} (held by run {} at {}): the next run applies it, once",
                h.digest, h.run_id, h.held_at
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("aaf-sync: {e}");
            Ok(2)
        }
    }
}

/// `status`.
pub fn status(a: StatusArgs) -> anyhow::Result<u8> {
    let cfg = load_checked(&a.config.config)?;
    let st = runtime()?.block_on(crate::run::status::read(&cfg))?;
    match a.format {
        LogFormat::Json => println!("{}", serde_json::to_string_pretty(&st)?),
        LogFormat::Text => print!("{}", st.text()),
    }
    Ok(0)
}

/// `audit`.
pub fn audit(ctx: &Ctx, a: AuditArgs) -> anyhow::Result<u8> {
    let today = (ctx.run_date)(a.now)?;
    let cfg = load_checked(&a.config.config)?;
    let audit = runtime()?.block_on(crate::rights::audit::run(&cfg, today))?;
    match a.format {
        LogFormat::Json => println!("{}", serde_json::to_string_pretty(&audit)?),
        LogFormat::Text => print!("{}", audit.text()),
    }
    Ok(if audit.findings.is_empty() { 0 } else { 1 })
}

/// `export-ldif`.
pub fn export_ldif(ctx: &Ctx, a: ExportLdifArgs) -> anyhow::Result<u8> {
    let now = (ctx.run_date)(a.now)?;
    let cfg = load_config(&a.config.config)?;
    match crate::run::initial::export(&cfg, &a.paths, now, a.with_base, &a.out) {
        Ok(x) => {
            eprintln!(
                "{}: {} entries written to {} ({} logins); load with slapadd -q, then sync the same extraction: it writes nothing",
                x.extraction,
                x.entries,
                a.out.display(),
                x.step.logins_created
            );
            Ok(if x.step.rejected_records.is_empty() {
                0
            } else {
                1
            })
        }
        Err(e) => {
            eprintln!("aaf-sync: {e}");
            Ok(2)
        }
    }
}

/// `purge`.
pub fn purge(ctx: &Ctx, a: PurgeArgs) -> anyhow::Result<u8> {
    let cfg = load_checked(&a.config.config)?;
    if crate::model::dn_key(&a.confirm) != crate::model::dn_key(&cfg.ldap.base_dn) {
        eprintln!(
            "aaf-sync: purge: --confirm must repeat the base DN of the configuration ({}): nothing done",
            cfg.ldap.base_dn
        );
        return Ok(2);
    }
    if a.reference.trim().is_empty() {
        anyhow::bail!("purge: --reference must name the convention or the request");
    }
    let out = a.out;
    std::fs::create_dir_all(&out)
        .with_context(|| format!("certificate directory {}", out.display()))?;
    let run_id = ctx.run_id.as_str();
    writing_runtime()?.block_on(async {
        let session = Session::open_with(&cfg, run_id, "purge", true, false).await?;
        let r =
            crate::rights::purge::run(&cfg, &a.reference, run_id, session.halt().as_ref()).await;
        let cert = match r {
            Ok(c) => c,
            Err(e) => {
                session.close(Outcome::Failed).await;
                return Err(e.into());
            }
        };
        session.close_deleting().await;
        let (json, text) = crate::rights::purge::certificate_paths(&out, run_id);
        std::fs::write(&json, serde_json::to_string_pretty(&cert)?)
            .with_context(|| format!("writing {}", json.display()))?;
        std::fs::write(&text, cert.text())
            .with_context(|| format!("writing {}", text.display()))?;
        print!("{}", cert.text());
        eprintln!("certificate: {} and {}", json.display(), text.display());
        Ok::<u8, anyhow::Error>(if cert.complete { 0 } else { 1 })
    })
}

/// `subject export`, `subject erase`, `subject unblock`.
pub fn subject(ctx: &Ctx, cmd: SubjectCmd) -> anyhow::Result<u8> {
    use crate::rights::subject::{self, SubjectError};
    let unknown = |e: SubjectError| -> anyhow::Result<u8> {
        match e {
            SubjectError::Unknown(m) => {
                eprintln!("aaf-sync: {m}");
                Ok(2)
            }
            SubjectError::Directory(d) => Err(d.into()),
        }
    };
    match cmd {
        SubjectCmd::Export(a) => {
            let cfg = load_checked(&a.config.config)?;
            let x = match runtime()?.block_on(subject::export(&cfg, &a.who.who())) {
                Ok(x) => x,
                Err(e) => return unknown(e),
            };
            let json = serde_json::to_string_pretty(&x)? + "\n";
            match a.out {
                Some(p) => {
                    crate::host::fs::write_private(&p, json.as_bytes())
                        .with_context(|| format!("writing {}", p.display()))?;
                    eprintln!(
                        "export of {} written to {}",
                        crate::mapping::layout::log_dn(&x.person.dn),
                        p.display()
                    );
                }
                None => print!("{json}"),
            }
            Ok(0)
        }
        SubjectCmd::Erase(a) => {
            let today = (ctx.run_date)(a.now)?;
            let cfg = load_checked(&a.config.config)?;
            if a.reason.trim().is_empty() {
                anyhow::bail!("subject erase: --reason must say why (the académie's instruction)");
            }
            writing_runtime()?.block_on(async {
                let session = Session::open(&cfg, &ctx.run_id, "erase", true).await?;
                let r = subject::erase(
                    &cfg,
                    &a.who.who(),
                    &a.reason,
                    today,
                    session.halt().as_ref(),
                    &|p| session.intent(p),
                    &mut |p, e| session.record(p, e),
                )
                .await;
                let outcome = match &r {
                    Ok(x) if x.failures.is_empty() => Outcome::Ok,
                    Ok(_) => Outcome::Partial,
                    Err(_) if crate::host::interrupt::requested() => Outcome::Interrupted,
                    Err(_) => Outcome::Failed,
                };
                session.close(outcome).await;
                let x = match r {
                    Ok(x) => x,
                    Err(e) => return unknown(e),
                };
                println!("{}", serde_json::to_string_pretty(&x)?);
                eprintln!(
                    "erased {}: {} entries cleaned, {} groups deleted; blocked from re-creation (id hash {})",
                    crate::mapping::layout::log_dn(&x.dn),
                    x.entries_modified,
                    x.groups_deleted,
                    x.id_hash
                );
                Ok(if x.failures.is_empty() && x.deleted { 0 } else { 1 })
            })
        }
        SubjectCmd::Unblock(a) => {
            let cfg = load_checked(&a.config.config)?;
            match runtime()?.block_on(subject::unblock(&cfg, &a.jointure)) {
                Ok(0) => {
                    eprintln!("aaf-sync: no erasure recorded for that jointure: nothing to lift");
                    Ok(2)
                }
                Ok(n) => {
                    println!("erasure lifted ({n} record): the next sync recreates the person if the extraction carries them");
                    Ok(0)
                }
                Err(e) => unknown(e),
            }
        }
    }
}
