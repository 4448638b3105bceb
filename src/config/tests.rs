//! Tests of the configuration: loading, validation, secrets, URLs.

use super::*;

fn write(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("c.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// A password file with `mode`.
fn pw_file(dir: &Path, body: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("pw");
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn secret_files_must_be_private() {
    let d = tempfile::tempdir().unwrap();
    let pw = pw_file(d.path(), "s3cret\n", 0o644);
    let body = OK.replace("PW", pw.to_str().unwrap());
    let e = Config::load(&write(d.path(), &body))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ldap.bind_password_file")
            && e.contains("readable by everyone (mode 0644)")
            && !e.contains("s3cret"),
        "{e}"
    );
    // the group: a warning, accepted; private: accepted
    for mode in [0o640, 0o600, 0o400] {
        pw_file(d.path(), "s3cret\n", mode);
        let c = Config::load(&write(d.path(), &body)).unwrap();
        assert_eq!(c.ldap.bind_password.as_deref(), Some("s3cret"));
    }
}

const OK: &str = r#"
[ldap]
url = "ldap://127.0.0.1:3890"
bind_dn = "cn=admin,dc=example,dc=org"
bind_password_file = "PW"
base_dn = "dc=example,dc=org"
[source]
name = "AC-CRETEIL"
[perimeter]
uai = ["0920484b", "0921262X"]
[paths]
work_dir = "/tmp/x"
"#;

#[test]
fn loads_and_validates() {
    let d = tempfile::tempdir().unwrap();
    let pw = pw_file(d.path(), "s3cret\n", 0o600);
    let body = OK.replace("PW", pw.to_str().unwrap());
    let c = Config::load(&write(d.path(), &body)).unwrap();
    assert_eq!(c.ldap.bind_password.as_deref(), Some("s3cret"));
    assert_eq!(c.perimeter_uai, vec!["0920484B", "0921262X"]);
    assert_eq!(c.ldap.in_flight, 32);
    assert!(c.encoding.is_none());
}

#[test]
fn refuses_unknown_keys_and_inline_password() {
    let d = tempfile::tempdir().unwrap();
    let body = OK.replace("[source]", "bind_password = \"x\"\n[source]");
    let e = Config::load(&write(d.path(), &body))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bind_password"), "{e}");
}

#[test]
fn refuses_cleartext_to_remote_and_bad_uai() {
    let d = tempfile::tempdir().unwrap();
    let pw = pw_file(d.path(), "x", 0o600);
    let body = OK.replace("PW", pw.to_str().unwrap());
    let e = Config::load(&write(
        d.path(),
        &body.replace("127.0.0.1", "ldap.example.org"),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("ldap.url"), "{e}");
    let e = Config::load(&write(d.path(), &body.replace("0921262X", "12")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("perimeter.uai"), "{e}");
    let e = Config::load(&write(d.path(), &OK.replace("PW", "/nonexistent")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read /nonexistent"), "{e}");
}

#[test]
fn retention_defaults_and_overrides() {
    let d = tempfile::tempdir().unwrap();
    let pw = pw_file(d.path(), "x", 0o600);
    let body = OK.replace("PW", pw.to_str().unwrap());
    let c = Config::load(&write(d.path(), &body)).unwrap();
    assert_eq!(c.retention, Rules::default());
    let more = format!(
        "{body}[retention]\nschool_year_start = \"08-25\"\n[retention.staff]\ngrace_days = 7\n"
    );
    let c = Config::load(&write(d.path(), &more)).unwrap();
    assert_eq!(c.retention.staff.grace_days, 7);
    assert!(c.retention.staff.disable);
    assert_eq!(c.retention.school_year_start, (time::Month::August, 25));
    let e = Config::load(&write(d.path(), &more.replace("08-25", "02-30")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("retention.school_year_start"), "{e}");
    let e = Config::load(&write(d.path(), &more.replace("= 7", "= 4000")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("retention.staff"), "{e}");
}

#[test]
fn providers_as_a_list_or_one_url_and_a_consumer() {
    let d = tempfile::tempdir().unwrap();
    let pw = pw_file(d.path(), "x", 0o600);
    let body = OK.replace("PW", pw.to_str().unwrap());
    // one URL, as before: no failover, no consumer
    let c = Config::load(&write(d.path(), &body)).unwrap();
    assert_eq!(c.ldap.url, "ldap://127.0.0.1:3890");
    assert!(c.ldap.failover_urls.is_empty() && c.ldap.read_url.is_none());
    assert!(!c.ldap.replicated());
    assert_eq!(
        (c.ldap.read_wait_secs, c.lock.replication_wait_secs),
        (5, 30)
    );
    // a list: the first is the designated provider
    let list = body.replace(
        "url = \"ldap://127.0.0.1:3890\"",
        "url = [\"ldap://127.0.0.1:3890\", \"ldaps://ldap2.example.org\"]\nread_url = \"ldap://[::1]:3892\"\nread_wait_secs = 2",
    );
    let c = Config::load(&write(d.path(), &list)).unwrap();
    assert_eq!(c.ldap.url, "ldap://127.0.0.1:3890");
    assert_eq!(c.ldap.failover_urls, vec!["ldaps://ldap2.example.org"]);
    assert_eq!(c.ldap.read_url.as_deref(), Some("ldap://[::1]:3892"));
    assert_eq!(c.ldap.read_wait_secs, 2);
    assert!(c.ldap.replicated());
    let all: Vec<&str> = c.ldap.providers().collect();
    assert_eq!(all, ["ldap://127.0.0.1:3890", "ldaps://ldap2.example.org"]);
    let one = c.ldap.only("ldaps://ldap2.example.org");
    assert_eq!(one.url, "ldaps://ldap2.example.org");
    assert!(!one.replicated());
    // every URL is checked, the consumer's too; none twice; not empty
    for (bad, key) in [
        (
            "url = [\"ldap://127.0.0.1:3890\", \"ldap://ldap2.example.org\"]",
            "plain ldap:// to a non-loopback server",
        ),
        (
            "url = \"ldap://127.0.0.1:3890\"\nread_url = \"ldap://replica.example.org\"",
            "ldap.read_url",
        ),
        (
            "url = [\"ldap://127.0.0.1:3890\", \"LDAP://127.0.0.1:3890/\"]",
            "listed twice",
        ),
        ("url = []", "no URL"),
        ("url = [\"http://x\"]", "must start with ldap://"),
    ] {
        let text = body.replace("url = \"ldap://127.0.0.1:3890\"", bad);
        let e = Config::load(&write(d.path(), &text))
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn local_urls() {
    assert!(is_local_url("ldap://127.0.0.1:389"));
    assert!(is_local_url("ldap://localhost"));
    assert!(is_local_url("ldap://[::1]:389/"));
    assert!(is_local_url("ldapi://%2Frun%2Fslapd"));
    assert!(!is_local_url("ldap://10.0.0.1"));
}
