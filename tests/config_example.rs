//! The shipped configuration files load, and environment variables override
//! them (`AAF_SYNC_<SECTION>__<KEY>`).

use aaf_sync::config::Config;
use std::path::Path;

#[test]
fn shipped_configs_load_with_env_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    // a secret anyone can read is refused
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // only this test in this binary touches the environment
    std::env::set_var("AAF_SYNC_LDAP__BIND_PASSWORD_FILE", &pw);
    std::env::set_var("AAF_SYNC_LDAP__IN_FLIGHT", "7");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in [
        "config/example.toml",
        "config/demo.toml",
        "config/docker.toml",
        "config/docker-replicated.toml",
    ] {
        let c = Config::load(&root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(c.ldap.bind_password.as_deref(), Some("s3cret"), "{f}");
        assert_eq!(c.ldap.in_flight, 7, "{f}");
        assert_eq!(c.source, "AC-CRETEIL");
        // the example documents the defaults
        assert_eq!(c.retention, aaf_sync::retention::Rules::default(), "{f}");
        assert_eq!(c.safety, aaf_sync::safety::Safety::default(), "{f}");
        assert_eq!((c.lock.ttl_secs, c.lock.wait_secs), (600, 0), "{f}");
        if f.ends_with("example.toml") {
            assert_eq!(
                c.delivery.limits,
                aaf_sync::config::delivery::Limits::default(),
                "{f}"
            );
        }
        assert_eq!(c.ldap.retries, 6, "{f}");
        assert_eq!(c.ldap.read_wait_secs, 5, "{f}");
        assert_eq!(c.lock.replication_wait_secs, 30, "{f}");
    }
    std::env::set_var("AAF_SYNC_RETENTION__STAFF__GRACE_DAYS", "3");
    let c = Config::load(&root.join("config/example.toml")).unwrap();
    assert_eq!(c.retention.staff.grace_days, 3);
    std::env::remove_var("AAF_SYNC_RETENTION__STAFF__GRACE_DAYS");
    // the providers as a list from the environment too
    std::env::set_var(
        "AAF_SYNC_LDAP__URL",
        r#"["ldap://127.0.0.1:3890", "ldap://127.0.0.1:3891"]"#,
    );
    let c = Config::load(&root.join("config/example.toml")).unwrap();
    assert_eq!(c.ldap.url, "ldap://127.0.0.1:3890");
    assert_eq!(c.ldap.failover_urls, ["ldap://127.0.0.1:3891"]);
    std::env::remove_var("AAF_SYNC_LDAP__URL");
    std::env::set_var("AAF_SYNC_LDAP__IN_FLIGHT", "many");
    let e = Config::load(&root.join("config/example.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("IN_FLIGHT") || e.contains("in_flight"), "{e}");
}
