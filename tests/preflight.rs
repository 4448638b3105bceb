//! Every command checks what `check` checks before it reads or writes, and
//! fails with the same message (issue 21 §3): a directory without the
//! sync's schema, a base outside the server's suffixes or missing under
//! one, a work directory that cannot be written; `check` also tries the
//! bind's access to the passwords departures move.

mod common;

use common::*;
use std::path::Path;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Every command that uses the directory, with its arguments.
fn commands(config: &str, x: &str) -> Vec<Vec<String>> {
    let c = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        c(&["check", "--config", config]),
        c(&["sync", "--config", config, x]),
        c(&["sync", "--config", config, "--dry-run", x]),
        c(&["retention", "--config", config]),
        c(&["status", "--config", config]),
        c(&["audit", "--config", config]),
        c(&["subject", "export", "--config", config, "--jointure", "1"]),
        c(&[
            "subject",
            "erase",
            "--config",
            config,
            "--jointure",
            "1",
            "--reason",
            "r",
        ]),
        c(&[
            "purge",
            "--config",
            config,
            "--confirm",
            BASE,
            "--reference",
            "r",
            "--out",
            "/tmp",
        ]),
    ]
}

fn all_fail_with(config: &str, x: &str, says: &str) {
    for args in commands(config, x) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, err) = aaf_sync_ok(&a, 2);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn sample() -> String {
    s(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1d-complet"))
}

#[test]
fn a_directory_without_the_schema_is_named_by_every_command() {
    let ldap = Slapd::start_bare();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &["0920100J".into()], ""));
    all_fail_with(
        &config,
        &sample(),
        "object class aafSyncState unknown: load schema/*.ldif (or *.schema) into slapd",
    );
    // nothing was written: no lock, no branch
    assert_eq!(ldap.count(BASE, "(objectClass=organizationalUnit)"), 1);
}

#[test]
fn a_base_outside_the_server_or_missing_is_named_by_every_command() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap.config(tmp.path(), &["0920100J".into()], "");
    let body = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        body.replace(
            &format!("base_dn = \"{BASE}\""),
            "base_dn = \"dc=other,dc=net\"",
        ),
    )
    .unwrap();
    all_fail_with(
        &s(&config),
        &sample(),
        "base dc=other,dc=net: is not held by this server: its naming contexts are dc=example,dc=org; \
         set [ldap] base_dn to one of them or to an entry under one",
    );
    std::fs::write(
        &config,
        body.replace(
            &format!("base_dn = \"{BASE}\""),
            &format!("base_dn = \"ou=aaf,{BASE}\""),
        ),
    )
    .unwrap();
    all_fail_with(
        &s(&config),
        &sample(),
        "base ou=aaf,dc=example,dc=org: does not exist: create it first (docs/operations.md, \"Daily operation\", step 1)",
    );
    // the section and step the message points at exist, and say it
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .unwrap();
    let daily = &readme[readme.find("\n## Daily operation\n").unwrap()..];
    let step1 = &daily[daily.find("\n1. ").unwrap()..daily.find("\n2. ").unwrap()];
    assert!(step1.contains("`base_dn` exists"), "{step1}");
}

#[test]
fn a_work_dir_that_cannot_be_written_is_named_before_anything_else() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap.config(tmp.path(), &["0920100J".into()], "");
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let body = std::fs::read_to_string(&config).unwrap();
    let work = s(&tmp.path().join("work"));
    std::fs::write(&config, body.replace(&work, &s(&blocker.join("work")))).unwrap();
    let config = s(&config);
    for args in [
        vec!["check", "--config", &config],
        vec!["sync", "--config", &config, "--dry-run"],
        vec!["status", "--config", &config],
        vec!["approve", "--config", &config, "0123456789abcdef"],
    ] {
        let mut args = args;
        let x = sample();
        if args[0] == "sync" {
            args.push(&x);
        }
        let (_, err) = aaf_sync_ok(&args, 2);
        assert!(
            err.contains(&format!(
                "configuration: paths.work_dir: cannot create {}",
                blocker.join("work").display()
            )),
            "{args:?}: {err}"
        );
    }
}

/// `check` tries, without changing anything, whether the bind may move
/// passwords as departures do: the admin may; an account that may only
/// read them is refused with what to do.
#[test]
fn check_tries_the_access_to_passwords_without_changing_anything() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap.config(tmp.path(), &["0920100J".into(), "0920101K".into()], "");
    let config = s(&config);
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    assert!(
        out.contains("passwords: no managed person yet: the access of cn=admin,dc=example,dc=org to userPassword is checked once there is one"),
        "{out}"
    );
    aaf_sync_ok(&["sync", "--config", &config, &sample()], 0);
    let pupil = ldap
        .entries(
            &format!("ou=people,{BASE}"),
            "(objectClass=ENTEleve)",
            &["1.1"],
        )
        .into_keys()
        .next()
        .unwrap();
    ldap.modify(&format!(
        "dn: {pupil}\nchangetype: modify\nreplace: userPassword\nuserPassword: pupil-pw\n"
    ));
    let before = csns(&ldap);
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    assert!(
        out.contains("passwords: cn=admin,dc=example,dc=org can read and write userPassword and aafSyncSavedPassword"),
        "{out}"
    );
    assert_eq!(csns(&ldap), before, "check changed nothing");

    // an account that may read the passwords, not write them
    ldap.modify(&format!(
        "dn: cn=sync,{BASE}\nchangetype: add\nobjectClass: simpleSecurityObject\n\
         objectClass: organizationalRole\ncn: sync\nuserPassword: sync-pw\n"
    ));
    ldap.config_modify(&format!(
        "dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n\
         olcAccess: {{1}}to attrs=userPassword,aafSyncSavedPassword by dn.exact=\"cn=sync,{BASE}\" read by * break\n\
         olcAccess: {{2}}to * by dn.exact=\"cn=sync,{BASE}\" write by * break\n"
    ));
    let before = csns(&ldap);
    let body = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, body.replace(ADMIN, &format!("cn=sync,{BASE}"))).unwrap();
    write_secret(&tmp.path().join("ldap.secret"), "sync-pw\n");
    let (_, err) = aaf_sync_ok(&["check", "--config", &config], 2);
    assert!(
        err.contains("passwords: cn=sync,dc=example,dc=org cannot write userPassword and aafSyncSavedPassword"),
        "{err}"
    );
    assert_eq!(csns(&ldap), before, "check changed nothing");
    assert!(ldap.can_bind(&pupil, "pupil-pw"));
}

/// `check` reads the database's `olcDbIndex` when the bind may read
/// `cn=config`, and warns, naming the attribute, when one of the equality
/// indexes docs/schema.md recommends is missing; it says it could not
/// verify them when `cn=config` is not readable.
#[test]
fn check_warns_of_a_missing_index_or_says_it_could_not_verify() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &["0920100J".into()], ""));
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    assert!(
        out.contains("indexes: could not verify the equality indexes (cn=config"),
        "{out}"
    );
    assert!(!out.contains("warning: index"), "{out}");

    // the bind may read cn=config: every index there
    ldap.config_modify(&format!(
        "dn: olcDatabase={{0}}config,cn=config\nchangetype: modify\nadd: olcAccess\n\
         olcAccess: {{1}}to * by dn.exact=\"{ADMIN}\" read by * break\n"
    ));
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    assert!(
        out.contains("indexes: ENTPersonLogin, ENTPersonJointure, ENTStructureJointure, aafSyncSource, member, ENTEleveParents, ENTAuxPersRelEleveEleve, cn have an equality index on the database of dc=example,dc=org"),
        "{out}"
    );

    // one removed: named, and only that one
    ldap.config_modify(
        "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\ndelete: olcDbIndex\nolcDbIndex: ENTPersonLogin eq\n",
    );
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    let warnings: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("warning: index"))
        .collect();
    assert_eq!(
        warnings,
        ["warning: index: ENTPersonLogin has no equality index on the database of dc=example,dc=org: \
          searches by it scan the whole database; add `olcDbIndex: ENTPersonLogin eq` (docs/schema.md)"],
        "{out}"
    );
    // a plain server: the incremental read is not offered
    assert!(out.contains("incremental read: not offered"), "{out}");
}
