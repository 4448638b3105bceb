//! The wire search (`ldap::wire`, issue 23) against a real slapd: a tree
//! the sync wrote from a generated extraction, read by the wire reader and
//! by `ldap3` (a plain paged search, and the sync's own `read_managed`),
//! must come out the same — every DN, attribute and value — over
//! `ldap://`, StartTLS and `ldaps://`, over many pages; refusals keep their
//! code; a server that goes away or falls silent mid-read is an error,
//! never a partial tree reported as complete.

mod common;

use aaf_sync::config::LdapConfig;
use aaf_sync::generator::{generate, GenConfig};
use aaf_sync::ldap::{wire, Directory, DirectoryError, ResultCode};
use aaf_sync::mapping::layout::Layout;
use aaf_sync::model::{Dn, Entry};
use common::*;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// DN → attribute name (as sent) → values (as sent).
type Tree = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn cfg(url: &str, page_size: i32) -> LdapConfig {
    LdapConfig {
        url: url.to_string(),
        failover_urls: vec![],
        read_url: None,
        read_wait_secs: 5,
        bind_dn: ADMIN.to_string(),
        bind_password: Some(PW.to_string()),
        base_dn: BASE.to_string(),
        starttls: false,
        ca_file: None,
        timeout_secs: 30,
        connections: 1,
        in_flight: 1,
        page_size,
        retries: 0,
        retry_wait_ms: 1,
        retry_max_wait_ms: 1,
        incremental_read: false,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn all() -> Vec<String> {
    vec!["*".to_string(), "+".to_string()]
}

/// The tree as the wire reader sees it, and its count.
fn wire_tree(c: &LdapConfig, url: &str, filter: &str, attrs: &[String]) -> (Tree, u64) {
    let mut t = Tree::new();
    let n = rt()
        .block_on(wire::search(c, url, BASE, filter, attrs, |dn, a| {
            let e = a.map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()));
            assert!(
                t.insert(dn.to_string(), e.collect()).is_none(),
                "{dn} twice"
            );
        }))
        .unwrap_or_else(|e| panic!("wire read of {url}: {e}"));
    assert_eq!(n as usize, t.len());
    (t, n)
}

/// The tree as `ldap3` sees it (plain ldap://, paged), the attributes
/// whose values are not UTF-8 put aside as `SearchEntry::construct` does.
fn ldap3_tree(url: &str, filter: &str, attrs: &[String]) -> Tree {
    rt().block_on(async {
        let (conn, mut l) = ldap3::LdapConnAsync::new(url).await.unwrap();
        ldap3::drive!(conn);
        l.simple_bind(ADMIN, PW).await.unwrap().success().unwrap();
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(50)),
        ];
        let mut s = l
            .streaming_search_with(adapters, BASE, ldap3::Scope::Subtree, filter, attrs)
            .await
            .unwrap();
        let mut t = Tree::new();
        while let Some(re) = s.next().await.unwrap() {
            let e = ldap3::SearchEntry::construct(re);
            t.insert(e.dn, e.attrs.into_iter().collect());
        }
        s.finish().await.success().unwrap();
        t
    })
}

/// A slapd holding what the sync wrote from a generated extraction.
fn loaded(tls: bool) -> (Slapd, tempfile::TempDir) {
    let ldap = if tls {
        Slapd::start_tls()
    } else {
        Slapd::start()
    };
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("c1");
    let g = generate(
        &GenConfig {
            schools: 3,
            pupils_per_school: 30,
            schools_outside: 0,
            ..Default::default()
        },
        &x,
    )
    .unwrap();
    let config = ldap.config(tmp.path(), &g.uai_inside, "");
    let s = |p: &std::path::Path| p.display().to_string();
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &s(&config),
            "--now",
            "2025-09-04",
            &s(&x),
        ],
        0,
    );
    (ldap, tmp)
}

#[test]
fn reads_the_same_tree_as_ldap3_over_many_pages() {
    let (ldap, _tmp) = loaded(false);
    let want = ldap3_tree(&ldap.url, "(objectClass=*)", &all());
    assert!(want.len() > 200, "{} entries only", want.len());
    // pages of 7: dozens of pages, each after the cookie of the last
    let (got, _) = wire_tree(&cfg(&ldap.url, 7), &ldap.url, "(objectClass=*)", &all());
    assert_eq!(got, want);
    // a filter and an attribute list, one page of a thousand
    let attrs: Vec<String> = ["objectClass", "uid", "ENTPersonLogin", "memberUid"]
        .map(String::from)
        .to_vec();
    let filter = "(|(ENTPersonLogin=*)(objectClass=ENTStructure))";
    let (got, n) = wire_tree(&cfg(&ldap.url, 1000), &ldap.url, filter, &attrs);
    assert_eq!(got, ldap3_tree(&ldap.url, filter, &attrs));
    assert!(n > 100 && (n as usize) < want.len(), "{n}");

    // the entries the sync builds from them are those of its own read
    let c = cfg(&ldap.url, 100);
    let mut mine: BTreeMap<String, Entry> = BTreeMap::new();
    rt().block_on(wire::search(
        &c,
        &c.url,
        BASE,
        "(objectClass=*)",
        &["*".into()],
        |dn, a| {
            let e = Entry::from_attrs(Dn::new(dn), a);
            mine.insert(e.dn.key(), e);
        },
    ))
    .unwrap();
    let snap = rt().block_on(async {
        let d = Directory::connect(&c).await.unwrap();
        let s = d
            .read_managed_all(&Layout::new(BASE, "AC-CRETEIL"))
            .await
            .unwrap();
        d.close().await;
        s
    });
    assert!(snap.managed.len() > 200, "{}", snap.managed.len());
    for e in snap.managed.iter().chain(&snap.adoptable) {
        assert_eq!(mine.get(&e.dn.key()), Some(e), "{}", e.dn);
    }
}

#[test]
fn starttls_and_ldaps_read_the_same_tree_and_check_the_certificate() {
    let (ldap, _tmp) = loaded(true);
    let (ldaps, ca) = ldap.ldaps.clone().unwrap();
    let want = ldap3_tree(&ldap.url, "(objectClass=*)", &all());
    let tls = |url: &str, starttls: bool, ca: Option<PathBuf>| LdapConfig {
        starttls,
        ca_file: ca,
        ..cfg(url, 50)
    };
    let c = tls(&ldap.url, true, Some(ca.clone()));
    assert_eq!(wire_tree(&c, &ldap.url, "(objectClass=*)", &all()).0, want);
    let c = tls(&ldaps, false, Some(ca.clone()));
    assert_eq!(wire_tree(&c, &ldaps, "(objectClass=*)", &all()).0, want);

    // the server's certificate is checked: not signed by the system's roots
    for (url, starttls) in [(&ldap.url, true), (&ldaps, false)] {
        let c = tls(url, starttls, None);
        let e = rt()
            .block_on(wire::search(
                &c,
                url,
                BASE,
                "(objectClass=*)",
                &[],
                |_, _| {},
            ))
            .unwrap_err();
        assert!(matches!(e, DirectoryError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("certificate"), "{e}");
    }
    // a CA file that holds no certificate is refused
    let empty = ldap.dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let c = tls(&ldaps, false, Some(empty));
    let e = rt()
        .block_on(wire::search(
            &c,
            &ldaps,
            BASE,
            "(objectClass=*)",
            &[],
            |_, _| {},
        ))
        .unwrap_err();
    assert!(e.to_string().contains("no certificate found"), "{e}");
}

#[test]
fn refusals_keep_their_code() {
    let ldap = Slapd::start();
    let read = |c: &LdapConfig, base: &str| {
        let mut seen = 0;
        let r = rt().block_on(wire::search(
            c,
            &c.url,
            base,
            "(objectClass=*)",
            &[],
            |_, _| seen += 1,
        ));
        (r, seen)
    };
    let bad_pw = LdapConfig {
        bind_password: Some("wrong".into()),
        ..cfg(&ldap.url, 10)
    };
    let (r, _) = read(&bad_pw, BASE);
    let e = r.unwrap_err();
    assert!(matches!(e, DirectoryError::Bind { .. }), "{e}");
    assert_eq!(e.code(), Some(ResultCode::INVALID_CREDENTIALS));
    assert!(e.to_string().contains("invalidCredentials"), "{e}");

    let missing = format!("ou=nowhere,{BASE}");
    let (r, seen) = read(&cfg(&ldap.url, 10), &missing);
    let e = r.unwrap_err();
    assert_eq!(e.code(), Some(ResultCode::NO_SUCH_OBJECT), "{e}");
    assert_eq!(e.dn().map(|d| d.as_str()), Some(missing.as_str()));
    assert!(e.to_string().contains("noSuchObject"), "{e}");
    assert_eq!(seen, 0);

    let c = cfg(&ldap.url, 10);
    let e = rt()
        .block_on(wire::search(
            &c,
            &c.url,
            BASE,
            "(objectClass=*",
            &[],
            |_, _| {},
        ))
        .unwrap_err();
    assert!(e.to_string().contains("invalid search filter"), "{e}");
    let c = cfg("ldap://127.0.0.1:1", 10);
    let e = rt()
        .block_on(wire::search(
            &c,
            &c.url,
            BASE,
            "(objectClass=*)",
            &[],
            |_, _| {},
        ))
        .unwrap_err();
    assert!(matches!(e, DirectoryError::Connect { .. }), "{e}");
}

#[test]
fn values_that_are_not_utf8_are_left_out_with_their_attribute() {
    let ldap = Slapd::start();
    // 0xff 0xfe 0x00 0x41: no UTF-8 text
    ldap.add(&format!(
        "dn: uid=bin,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: bin\ncn: Bin\nsn: Ary\n\
         userPassword:: //4AQQ==\nuserPassword: clear\ndescription: kept\n"
    ));
    let filter = "(uid=bin)";
    let (got, n) = wire_tree(&cfg(&ldap.url, 10), &ldap.url, filter, &all());
    assert_eq!(n, 1);
    let e = &got[&format!("uid=bin,ou=people,{BASE}")];
    assert!(!e.contains_key("userPassword"), "{e:?}");
    assert_eq!(e["description"], vec!["kept"]);
    assert_eq!(e["cn"], vec!["Bin"]);
    // as ldap3 decodes it
    assert_eq!(got, ldap3_tree(&ldap.url, filter, &all()));
    // the raw bytes are there, for ldapsearch
    assert!(ldap
        .search(BASE, "sub", filter, &["userPassword"])
        .contains("userPassword:: //4AQQ=="));
}

/// Reads with pages of 5 and, after `after` entries, does `stop` to the
/// server: the read must end in an error, whatever it had read.
fn interrupted(stop: impl FnOnce(&Slapd), timeout_secs: u64) -> (DirectoryError, u64) {
    let (ldap, _tmp) = loaded(false);
    let c = LdapConfig {
        timeout_secs,
        ..cfg(&ldap.url, 5)
    };
    let pid = pid(&ldap);
    let mut seen = 0u64;
    let mut stop = Some(stop);
    let r = rt().block_on(wire::search(
        &c,
        &c.url,
        BASE,
        "(objectClass=*)",
        &[],
        |_, _| {
            seen += 1;
            if seen == 40 {
                if let Some(s) = stop.take() {
                    s(&ldap);
                }
            }
        },
    ));
    // a stopped server resumes, to be stopped for good
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    let e = r.expect_err("a read cut short reported as complete");
    (e, seen)
}

fn pid(l: &Slapd) -> String {
    std::fs::read_to_string(l.dir.path().join("ldap/slapd.pid"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_server_gone_mid_read_is_an_error() {
    let (e, seen) = interrupted(|l| l.stop(), 30);
    assert!(matches!(e, DirectoryError::Op { .. }), "{e}");
    // what the socket says depends on when the server went: its end of
    // the connection closed, or reset under a request for the next page
    let m = e.to_string();
    assert!(
        [
            "closed the connection",
            "connection lost",
            "sending a request"
        ]
        .iter()
        .any(|w| m.contains(w)),
        "{m}"
    );
    assert!(seen >= 40, "{seen}");
}

#[test]
fn a_server_silent_mid_read_is_a_timeout() {
    let (e, seen) = interrupted(
        |l| {
            let st = std::process::Command::new("kill")
                .args(["-STOP", &pid(l)])
                .status()
                .unwrap();
            assert!(st.success());
        },
        1,
    );
    assert!(
        e.to_string().contains("no answer from the server in 1s"),
        "{e}"
    );
    assert!(seen >= 40, "{seen}");
}
