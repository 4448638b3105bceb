//! `cargo bench --bench stages`: the pure stages of a sync, without LDAP, on
//! a generated extraction (`AAF_BENCH_SCHOOLS` × `AAF_BENCH_PUPILS`, default
//! 40 × 100, about 10,000 entries):
//!
//! - `parse`: XML to records (decoding, entities, record checks), MB/s;
//! - `parse_map`: the same plus mapping into LDAP entries (minimisation,
//!   links, classes), MB/s;
//! - `plan_no_change`: the diff of the desired tree against an identical
//!   directory, entries/s;
//! - `delta_map`: a day's Delta played over the directory's records and
//!   mapped, entries/s of the directory.
//!
//! The end-to-end figures against slapd come from `scripts/bench.sh`.

use aaf_sync::aaf::filename::{group_files, list_dir, Extraction, FileCategory};
use aaf_sync::aaf::{ReadItem, RecordReader};
use aaf_sync::config::Config;
use aaf_sync::generator::{generate, GenConfig};
use aaf_sync::mapping::{layout::Layout, MappedTree};
use aaf_sync::model::EntryMap;
use aaf_sync::ops::report::StepReport;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::Path;
use std::time::Duration;

// the allocator of the aaf-sync binary, so that the figures are its own
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Fixture {
    _dir: tempfile::TempDir,
    cfg: Config,
    complet: Extraction,
    delta: Extraction,
    bytes: u64,
}

fn extraction(dir: &Path) -> Extraction {
    let files = list_dir(dir).expect("generated files");
    group_files(files)
        .extractions
        .into_iter()
        .next()
        .expect("one extraction")
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let gen = GenConfig {
        schools: env("AAF_BENCH_SCHOOLS", 40),
        schools_outside: 0,
        pupils_per_school: env("AAF_BENCH_PUPILS", 100),
        ..Default::default()
    };
    generate(&gen, &dir.path().join("c")).expect("Complet");
    generate(
        &GenConfig {
            delta: true,
            days: 1,
            date: "20250905".into(),
            ..gen
        },
        &dir.path().join("d"),
    )
    .expect("Delta");
    std::fs::write(dir.path().join("pw"), "x").expect("password file");
    // a secret anyone can read is refused
    std::fs::set_permissions(
        dir.path().join("pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("password file mode");
    let toml = format!(
        "[ldap]\nurl = \"ldap://127.0.0.1\"\nbind_dn = \"cn=admin,dc=example,dc=org\"\n\
         bind_password_file = \"{}\"\nbase_dn = \"dc=example,dc=org\"\n\
         [source]\nname = \"AC-CRETEIL\"\n[perimeter]\nall = true\n[paths]\nwork_dir = \"{}\"\n",
        dir.path().join("pw").display(),
        dir.path().display()
    );
    std::fs::write(dir.path().join("c.toml"), toml).expect("config");
    let cfg = Config::load(&dir.path().join("c.toml")).expect("config loads");
    let complet = extraction(&dir.path().join("c"));
    let delta = extraction(&dir.path().join("d"));
    let bytes = complet
        .files
        .iter()
        .map(|f| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0))
        .sum();
    Fixture {
        _dir: dir,
        cfg,
        complet,
        delta,
        bytes,
    }
}

fn map(f: &Fixture) -> MappedTree {
    let layout = Layout::new(&f.cfg.ldap.base_dn, &f.cfg.source);
    aaf_sync::run::sync::read_extraction(
        &f.cfg,
        &layout,
        &f.complet,
        time::macros::date!(2025 - 09 - 04),
        &mut Default::default(),
        &mut StepReport::default(),
    )
    .expect("maps")
}

fn stages(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("stages");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    g.throughput(Throughput::Bytes(f.bytes));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let mut records = 0u64;
            for cat in FileCategory::IMPORTED {
                for file in f.complet.files_of(cat) {
                    let mut r = RecordReader::open(&file.path, cat, None).expect("opens");
                    while let Some(item) = r.next_item().expect("well-formed") {
                        if matches!(item, ReadItem::Record(_)) {
                            records += 1;
                        }
                    }
                }
            }
            records
        })
    });
    g.bench_function("parse_map", |b| b.iter(|| map(&f).entries.len()));

    let tree = map(&f);
    let current: EntryMap = tree.entries.iter().map(|d| d.entry.clone()).collect();
    g.throughput(Throughput::Elements(current.len() as u64));
    g.bench_function("plan_no_change", |b| {
        // the desired tree is moved into the plan, as sync does; its copy
        // for each iteration is not timed
        b.iter_batched(
            || tree.entries.clone(),
            |desired| {
                aaf_sync::diff::plan_owned(desired, &current, &Default::default())
                    .0
                    .changes
                    .len()
            },
            BatchSize::LargeInput,
        )
    });
    let layout = Layout::new(&f.cfg.ldap.base_dn, &f.cfg.source);
    g.bench_function("delta_map", |b| {
        b.iter(|| {
            aaf_sync::run::sync::read_delta(
                &f.cfg,
                &layout,
                &f.delta,
                time::macros::date!(2025 - 09 - 05),
                &current,
                &mut Default::default(),
                &mut StepReport::default(),
            )
            .expect("maps")
            .entries
            .len()
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
