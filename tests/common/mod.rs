//! Test harness: a real slapd (Debian package) started per test in a temp
//! dir on a free loopback port, with the project's schema; the `aaf-sync`
//! binary run as a user would; readbacks with the OpenLDAP command-line
//! tools, independent of the code under test.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BASE: &str = "dc=example,dc=org";
pub const ADMIN: &str = "cn=admin,dc=example,dc=org";
pub const PW: &str = "secret";

/// The schemas a test slapd loads beside the stock ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Schemas {
    /// The project's `schema/*.ldif`.
    Project,
    /// The deployed SDET (ESCO files) and `20-aaf-sync.ldif`.
    Sdet,
    /// None: the sync's schema was never loaded.
    Stock,
}

/// Fails (never skips) when slapd is missing: CI must install it.
pub fn require_slapd() {
    for p in [
        "/usr/sbin/slapd",
        "/usr/bin/ldapsearch",
        "/usr/bin/ldapmodify",
    ] {
        assert!(
            Path::new(p).exists(),
            "{p} not found: install the Debian packages slapd and ldap-utils (scripts/test.sh does)"
        );
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One throwaway slapd.
pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub url: String,
    /// With `start_tls`: the ldaps:// URL and the CA file.
    pub ldaps: Option<(String, PathBuf)>,
}

impl Slapd {
    pub fn start() -> Slapd {
        Slapd::start_with(false, false)
    }

    /// A slapd whose database is empty (not even the base entry).
    pub fn start_empty() -> Slapd {
        Slapd::start_with(false, true)
    }

    /// A slapd with a self-signed CA, StartTLS on the ldap:// port and an
    /// ldaps:// listener.
    pub fn start_tls() -> Slapd {
        Slapd::start_with(true, false)
    }

    /// A slapd that runs the SDET schema as GIP RECIA/ESCO deploys it
    /// (`tests/data/sdet-esco-schema/`, Apache-2.0, see its SOURCES.md),
    /// plus only the sync's own `schema/20-aaf-sync.ldif`: a directory that
    /// already runs SDET.
    pub fn start_sdet() -> Slapd {
        Slapd::start_full(false, false, Schemas::Sdet)
    }

    fn start_with(tls: bool, empty: bool) -> Slapd {
        Slapd::start_full(tls, empty, Schemas::Project)
    }

    /// A slapd with the stock schemas only (core, cosine, nis,
    /// inetorgperson): the sync's schema was never loaded.
    pub fn start_bare() -> Slapd {
        Slapd::start_full(false, false, Schemas::Stock)
    }

    fn start_full(tls: bool, empty: bool, schemas: Schemas) -> Slapd {
        require_slapd();
        let dir = tempfile::tempdir().unwrap();
        let mut extra_schema = None;
        if schemas == Schemas::Sdet {
            let src = root().join("tests/data/sdet-esco-schema");
            let mut files = Vec::new();
            for f in [
                "11-esco-const",
                "13-esco-personne",
                "16-esco-addons",
                "17-esco-structure",
                "21-esco-groupe",
                "31-esco-mail",
                "51-esco-application",
                "05-ldappc",
            ] {
                let out = dir.path().join(format!("{f}.ldif"));
                std::fs::write(&out, schema_to_ldif(&src.join(format!("{f}.schema")))).unwrap();
                files.push(out.display().to_string());
            }
            files.push(root().join("schema/20-aaf-sync.ldif").display().to_string());
            extra_schema = Some(files.join(" "));
        }
        for _ in 0..5 {
            let port = free_port();
            let lport = free_port();
            let mut cmd = Command::new("bash");
            cmd.arg(root().join("scripts/slapd-test-instance.sh"))
                .args([
                    "start",
                    dir.path().join("ldap").to_str().unwrap(),
                    &port.to_string(),
                ])
                .env("MDB_FAST", "1");
            if empty {
                cmd.env("LDAP_NO_BASE", "1");
            }
            if let Some(x) = &extra_schema {
                cmd.env("EXTRA_SCHEMA", x);
            }
            if schemas == Schemas::Stock {
                cmd.env("EXTRA_SCHEMA", "");
            }
            if tls {
                cmd.env("LDAP_TLS", "1")
                    .env("LDAPS_PORT", lport.to_string());
            }
            let out = cmd.output().unwrap();
            if out.status.success() {
                let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
                let ldaps = tls.then(|| {
                    (
                        format!("ldaps://127.0.0.1:{lport}"),
                        dir.path().join("ldap/tls/ca.pem"),
                    )
                });
                return Slapd { dir, url, ldaps };
            }
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(err.contains("busy"), "slapd did not start: {err}");
        }
        panic!("no free port for slapd");
    }

    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(root().join("scripts/slapd-test-instance.sh"))
            .args(["stop", self.dir.path().join("ldap").to_str().unwrap()])
            .output();
    }

    /// Loads LDIF offline with `slapadd -q` (the server must be stopped).
    pub fn slapadd(&self, ldif: &Path) {
        let out = Command::new("/usr/sbin/slapadd")
            .arg("-F")
            .arg(self.dir.path().join("ldap/slapd.d"))
            .args(["-n", "1", "-q", "-l"])
            .arg(ldif)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the stopped server again on the same data and port.
    pub fn restart(&self) {
        let out = Command::new("bash")
            .arg(root().join("scripts/slapd-test-instance.sh"))
            .args(["restart", self.dir.path().join("ldap").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapd restart: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every entry under the base with its user attributes (passwords
    /// included), but the run lock: what two runs must agree on.
    pub fn dump(&self) -> BTreeMap<String, Attrs> {
        let mut m = self.entries(BASE, "(!(objectClass=aafSyncLock))", &["*"]);
        for a in m.values_mut() {
            for v in a.values_mut() {
                v.sort();
            }
        }
        m
    }

    /// Number of entries under `base` matching `filter`.
    pub fn count(&self, base: &str, filter: &str) -> usize {
        self.entries(base, filter, &["1.1"]).len()
    }

    /// `ldapsearch` as admin; LDIF text, unwrapped.
    pub fn search(&self, base: &str, scope: &str, filter: &str, attrs: &[&str]) -> String {
        let out = Command::new("ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                &self.url,
                "-D",
                ADMIN,
                "-w",
                PW,
            ])
            .args(["-b", base, "-s", scope, filter])
            .args(attrs)
            .output()
            .unwrap();
        assert!(
            out.status.success() || out.status.code() == Some(32),
            "ldapsearch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Entries under `base` matching `filter`, decoded.
    pub fn entries(&self, base: &str, filter: &str, attrs: &[&str]) -> BTreeMap<String, Attrs> {
        parse_ldif(&self.search(base, "sub", filter, attrs))
    }

    /// True when an entry exists at `dn`.
    pub fn exists_dn(&self, dn: &str) -> bool {
        !self
            .search(dn, "base", "(objectClass=*)", &["1.1"])
            .trim()
            .is_empty()
    }

    /// One entry (panics if absent).
    pub fn entry(&self, dn: &str) -> Attrs {
        let mut m = parse_ldif(&self.search(dn, "base", "(objectClass=*)", &["*", "+"]));
        m.remove(&dn.to_lowercase())
            .unwrap_or_else(|| panic!("{dn} not found"))
    }

    pub fn modify(&self, ldif: &str) {
        self.ldapmodify(ldif, false)
    }

    /// Adds content LDIF (no changetype lines), as `ldapadd` does.
    pub fn add(&self, ldif: &str) {
        self.ldapmodify(ldif, true)
    }

    fn ldapmodify(&self, ldif: &str, add: bool) {
        let (code, err) = self.try_ldapmodify(ldif, add);
        assert!(code == Some(0), "ldapmodify: {err}");
    }

    /// `ldapmodify` (`-a` when `add`) that may fail: (exit code, stderr).
    pub fn try_ldapmodify(&self, ldif: &str, add: bool) -> (Option<i32>, String) {
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url, "-D", ADMIN, "-w", PW])
            .args(if add { &["-a"][..] } else { &[] })
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// Simple bind as `dn`; true when it succeeds.
    pub fn can_bind(&self, dn: &str, pw: &str) -> bool {
        Command::new("ldapwhoami")
            .args(["-x", "-H", &self.url, "-D", dn, "-w", pw])
            .output()
            .unwrap()
            .status
            .success()
    }

    /// Writes a config for this server.
    pub fn config(&self, dir: &Path, uai: &[String], extra: &str) -> PathBuf {
        let pw = dir.join("ldap.secret");
        write_secret(&pw, &format!("{PW}\n"));
        let uai: Vec<String> = uai.iter().map(|u| format!("\"{u}\"")).collect();
        let body = format!(
            "[ldap]\nurl = \"{}\"\nbind_dn = \"{ADMIN}\"\nbind_password_file = \"{}\"\nbase_dn = \"{BASE}\"\n\
             [source]\nname = \"AC-CRETEIL\"\n[perimeter]\nuai = [{}]\n[paths]\nwork_dir = \"{}\"\n{extra}",
            self.url,
            pw.display(),
            uai.join(", "),
            dir.join("work").display()
        );
        let p = dir.join("aaf-sync.toml");
        std::fs::write(&p, body).unwrap();
        p
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a secret file with mode 0600 (aaf-sync refuses secrets anyone
/// can read).
pub fn write_secret(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Attribute name (lower case) → values.
pub type Attrs = BTreeMap<String, Vec<String>>;

/// Parses unwrapped LDIF (`-o ldif-wrap=no`), base64 values decoded.
pub fn parse_ldif(text: &str) -> BTreeMap<String, Attrs> {
    use base64::Engine;
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut dn = None;
        let mut attrs: Attrs = BTreeMap::new();
        for line in block.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (name, value) = if let Some((n, v)) = line.split_once(":: ") {
                let bytes = base64::engine::general_purpose::STANDARD.decode(v).unwrap();
                (n, String::from_utf8(bytes).unwrap())
            } else if let Some((n, v)) = line.split_once(": ") {
                (n, v.to_string())
            } else {
                continue;
            };
            if name == "dn" {
                dn = Some(value.to_lowercase());
            } else {
                attrs.entry(name.to_lowercase()).or_default().push(value);
            }
        }
        if let Some(dn) = dn {
            out.insert(dn, attrs);
        }
    }
    out
}

/// Runs the aaf-sync binary.
pub fn aaf_sync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
        .args(args)
        .env_remove("AAF_SYNC_LDAP_PASSWORD")
        .output()
        .unwrap()
}

/// Runs aaf-sync and checks its exit code; returns (stdout, stderr).
pub fn aaf_sync_ok(args: &[&str], code: i32) -> (String, String) {
    let out = aaf_sync(args);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "aaf-sync {args:?}\nstdout:\n{o}\nstderr:\n{e}"
    );
    (o, e)
}

/// Compares `got` with the golden file `path`; `AAF_SYNC_BLESS=1` rewrites it
/// first. `test` names the test binary for the hint.
pub fn check_golden(path: &Path, got: &str, test: &str) {
    if std::env::var_os("AAF_SYNC_BLESS").is_some() {
        std::fs::write(path, got).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        got == want,
        "{} is out of step: run AAF_SYNC_BLESS=1 cargo test --test {test} and review the diff",
        path.display()
    );
}

fn operational(cat: &str) -> String {
    let opname = if cat == "EtabEducNat" {
        "categorieStructure"
    } else {
        "categoriePersonne"
    };
    format!(
        "<operationalAttributes><attr name=\"{opname}\"><value>{cat}</value></attr></operationalAttributes>"
    )
}

fn values(vs: &[&str]) -> String {
    if vs.is_empty() {
        return "<value/>".into();
    }
    vs.iter().map(|v| format!("<value>{v}</value>")).collect()
}

/// One `addRequest` of category `cat` (values are XML text: escape `&`).
pub fn req(cat: &str, id: &str, attrs: &[(&str, &[&str])]) -> String {
    let mut s = format!(
        "<addRequest>{}\n<identifier><id>{id}</id></identifier>\n<attributes>\n",
        operational(cat)
    );
    for (n, vs) in attrs {
        s.push_str(&format!("<attr name=\"{n}\">{}</attr>\n", values(vs)));
    }
    s + "</attributes></addRequest>\n"
}

/// One `modifyRequest`: each listed attribute is replaced (`&[]` clears it).
pub fn modify_req(cat: &str, id: &str, mods: &[(&str, &[&str])]) -> String {
    let mut s = format!(
        "<modifyRequest>{}\n<identifier><id>{id}</id></identifier>\n<modifications>\n",
        operational(cat)
    );
    for (n, vs) in mods {
        s.push_str(&format!(
            "<modification name=\"{n}\" operation=\"replace\">{}</modification>\n",
            values(vs)
        ));
    }
    s + "</modifications></modifyRequest>\n"
}

/// One `deleteRequest`.
pub fn delete_req(cat: &str, id: &str) -> String {
    format!(
        "<deleteRequest>{}\n<identifier><id>{id}</id></identifier></deleteRequest>\n",
        operational(cat)
    )
}

/// A whole file around `body`, with an optional XML declaration.
pub fn file(decl: Option<&str>, body: &str) -> String {
    let mut s = String::new();
    if let Some(d) = decl {
        s.push_str(&format!("<?xml version=\"1.0\" encoding=\"{d}\"?>\r\n"));
    }
    s + "<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\r\n<ficAlimMENESR>\r\n<!-- versionAF=\"AAF-VE2407\" -->\n<!-- degre=\"1D\" -->\n" + body + "</ficAlimMENESR>\n"
}

/// Writes one UTF-8 file per category: `<prefix>_<kind>_<date>_<cat>_0000.xml`.
pub fn write_extraction_files(dir: &Path, kind: &str, date: &str, bodies: &[(&str, String)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (cat, body) in bodies {
        std::fs::write(
            dir.join(format!("ENT1D_{kind}_{date}_{cat}_0000.xml")),
            file(Some("UTF-8"), body),
        )
        .unwrap();
    }
}

/// entryCSN of every entry under the base: unchanged CSNs prove nothing was
/// written.
/// The entryCSN of every entry but the run lock (which every writing run
/// takes and frees, whatever it writes).
pub fn csns(l: &Slapd) -> std::collections::BTreeMap<String, String> {
    l.entries(BASE, "(!(objectClass=aafSyncLock))", &["entryCSN"])
        .into_iter()
        .map(|(dn, a)| {
            (
                dn,
                a.get("entrycsn").map(|v| v[0].clone()).unwrap_or_default(),
            )
        })
        .collect()
}

/// Fails (never skips) when sshd is missing: CI must install it.
pub fn require_sshd() {
    for p in ["/usr/sbin/sshd", "/usr/bin/ssh-keygen"] {
        assert!(
            Path::new(p).exists(),
            "{p} not found: install the Debian packages openssh-server and openssh-client (scripts/test.sh does)"
        );
    }
}

/// One throwaway OpenSSH SFTP server on loopback; files to serve go in
/// `files()`.
pub struct Sftp {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    /// RSA client key (OpenSSH format), authorized.
    pub key: PathBuf,
}

impl Sftp {
    /// `extra_pubkey`: another public key to authorize.
    pub fn start(extra_pubkey: Option<&Path>) -> Sftp {
        require_sshd();
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("bash");
            cmd.arg(root().join("scripts/sftp-test-instance.sh")).args([
                "start",
                dir.path().join("ssh").to_str().unwrap(),
                &port.to_string(),
            ]);
            if let Some(k) = extra_pubkey {
                cmd.env("EXTRA_PUBKEY", k);
            }
            let out = cmd.output().unwrap();
            if out.status.success() {
                let line = String::from_utf8(out.stdout).unwrap();
                let url = line.split_whitespace().next().unwrap().to_string();
                let user = url
                    .trim_start_matches("sftp://")
                    .split('@')
                    .next()
                    .unwrap()
                    .to_string();
                let key = dir.path().join("ssh/client_rsa");
                return Sftp {
                    dir,
                    port,
                    user,
                    key,
                };
            }
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(err.contains("busy"), "sshd did not start: {err}");
        }
        panic!("no free port for sshd");
    }

    pub fn files(&self) -> PathBuf {
        self.dir.path().join("ssh/files")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("ssh/known_hosts")
    }
    pub fn host_key_pub(&self, kind: &str) -> PathBuf {
        self.dir.path().join(format!("ssh/ssh_host_{kind}_key.pub"))
    }

    /// The `[fetch]` section for this server; `pin` is the host-key line(s).
    pub fn fetch_section(&self, key: &Path, pin: &str, extra: &str) -> String {
        format!(
            "[fetch]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nprivate_key_file = \"{}\"\n{pin}\ntimeout_secs = 10\n{extra}\n",
            self.port,
            self.user,
            key.display()
        )
    }
}

impl Drop for Sftp {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join("scripts/sftp-test-instance.sh"))
            .args(["stop", self.dir.path().join("ssh").to_str().unwrap()])
            .output();
    }
}

/// `wc -l` of a file.
pub fn line_count(p: &Path) -> usize {
    std::fs::read(p)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// A bordereau listing `files` with their line counts (`NAME;LINES`).
pub fn bordereau_for(files: &[PathBuf]) -> String {
    let mut s = String::from("Code destinataire: ENT-TEST\nDate d'envoi: 04/09/2025\n");
    for f in files {
        s.push_str(&format!(
            "{};{}\n",
            f.file_name().unwrap().to_str().unwrap(),
            line_count(f)
        ));
    }
    s
}

/// Packs files (flat names under `prefix/`) into a .tar.gz.
pub fn tar_gz(out: &Path, files: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(out).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// Packs files into a .zip.
pub fn zip(out: &Path, files: &[(String, Vec<u8>)]) {
    use std::io::Write;
    let f = std::fs::File::create(out).unwrap();
    let mut z = zip::ZipWriter::new(f);
    for (name, data) in files {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

/// A validated configuration for the pure stages (no server is reached).
pub fn offline_config(
    uai: &[String],
    consent: std::collections::BTreeSet<String>,
) -> aaf_sync::config::Config {
    use aaf_sync::config::{Config, LdapConfig};
    Config {
        ldap: LdapConfig {
            url: "ldap://127.0.0.1".into(),
            failover_urls: Vec::new(),
            read_url: None,
            read_wait_secs: 0,
            bind_dn: String::new(),
            bind_password: None,
            base_dn: "dc=example,dc=org".into(),
            starttls: false,
            ca_file: None,
            timeout_secs: 1,
            connections: 1,
            in_flight: 1,
            page_size: 100,
            retries: 0,
            retry_wait_ms: 1,
            retry_max_wait_ms: 1,
            incremental_read: false,
        },
        source: "AC-CRETEIL".into(),
        degree: Default::default(),
        targeted_delta: true,
        encoding: None,
        adopt: true,
        person_uid: aaf_sync::config::DEFAULT_RDN.into(),
        structure_ou: aaf_sync::config::DEFAULT_RDN.into(),
        perimeter_uai: uai.to_vec(),
        perimeter_all: false,
        work_dir: "/tmp".into(),
        entry_store: false,
        staff_address_consent: consent,
        retention: Default::default(),
        delivery: Default::default(),
        fetch: None,
        safety: Default::default(),
        record_limits: Default::default(),
        lock: aaf_sync::config::LockConfig {
            ttl_secs: 60,
            wait_secs: 0,
            replication_wait_secs: 0,
        },
        metrics_file: None,
        journal_keep_days: 30,
        audit_allowed_attributes: Vec::new(),
    }
}

/// Drops the records of `category` whose index fails `keep`; returns how
/// many were dropped. Works on bytes: the tags are ASCII whatever the
/// file's encoding.
pub fn drop_records(dir: &Path, category: &str, keep: impl Fn(usize) -> bool) -> usize {
    let mut n = 0;
    let mut dropped = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .contains(&format!("_{category}_"))
        })
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let find = |from: usize, pat: &[u8]| {
            bytes[from..]
                .windows(pat.len())
                .position(|w| w == pat)
                .map(|p| p + from)
        };
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(start) = find(i, b"<addRequest") {
            out.extend_from_slice(&bytes[i..start]);
            let end = find(start, b"</addRequest>").unwrap() + "</addRequest>".len();
            if keep(n) {
                out.extend_from_slice(&bytes[start..end]);
            } else {
                dropped += 1;
            }
            n += 1;
            i = end;
        }
        out.extend_from_slice(&bytes[i..]);
        std::fs::write(&f, out).unwrap();
    }
    dropped
}

/// The requests (`addRequest`, `modifyRequest`, `deleteRequest`) of the
/// files of `category` in `dir`, in file order across parts, as byte ranges
/// of their file.
fn requests_of(dir: &Path, category: &str) -> Vec<(PathBuf, Vec<(usize, usize)>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .contains(&format!("_{category}_"))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let mut ranges = Vec::new();
            let mut i = 0;
            // one pass: each request's start tag, then its end tag
            while let Some(p) = bytes[i..].iter().position(|b| *b == b'<') {
                let start = i + p;
                let tag = ["addRequest>", "modifyRequest>", "deleteRequest>"]
                    .into_iter()
                    .find(|t| bytes[start + 1..].starts_with(t.as_bytes()));
                let Some(tag) = tag else {
                    i = start + 1;
                    continue;
                };
                let close = format!("</{tag}");
                let end = bytes[start..]
                    .windows(close.len())
                    .position(|w| w == close.as_bytes())
                    .unwrap()
                    + start
                    + close.len();
                ranges.push((start, end));
                i = end;
            }
            (f, ranges)
        })
        .collect()
}

/// Edits the requests of `category` in `dir` in place: `f(n, bytes)` sees
/// request `n` (counted across the parts, in file order) as raw bytes.
pub fn edit_records(dir: &Path, category: &str, mut f: impl FnMut(usize, &mut Vec<u8>)) {
    let mut n = 0;
    for (file, ranges) in requests_of(dir, category) {
        let bytes = std::fs::read(&file).unwrap();
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        for (s, e) in ranges {
            out.extend_from_slice(&bytes[at..s]);
            let mut rec = bytes[s..e].to_vec();
            f(n, &mut rec);
            out.extend_from_slice(&rec);
            n += 1;
            at = e;
        }
        out.extend_from_slice(&bytes[at..]);
        std::fs::write(&file, out).unwrap();
    }
}

/// The `<id>` of each request of `category` in `dir`, in order.
pub fn record_ids(dir: &Path, category: &str) -> Vec<String> {
    let mut ids = Vec::new();
    edit_records(dir, category, |_, rec| {
        let s = String::from_utf8_lossy(rec);
        let a = s.find("<id>").unwrap() + 4;
        let b = s[a..].find("</id>").unwrap() + a;
        ids.push(s[a..b].to_string());
    });
    ids
}

/// Replaces, in one request's bytes, the first occurrence of `from`.
pub fn replace_bytes(rec: &mut Vec<u8>, from: &[u8], to: &[u8]) -> bool {
    match rec.windows(from.len()).position(|w| w == from) {
        Some(p) => {
            rec.splice(p..p + from.len(), to.iter().copied());
            true
        }
        None => false,
    }
}

/// Copies the extraction files of `from` into `to`, renamed to `date`
/// (`yyyymmdd`): the same content, delivered another day.
pub fn copy_extraction(from: &Path, to: &Path, date: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let parts: Vec<&str> = name.split('_').collect();
        let renamed = if parts.len() >= 5 {
            let mut v = parts.clone();
            let at = v.len() - 3;
            v[at] = date;
            v.join("_")
        } else {
            name
        };
        std::fs::copy(&p, to.join(renamed)).unwrap();
    }
}

/// The person DN of an AAF id in the test tree.
pub fn person_dn(id: &str) -> String {
    let l = aaf_sync::mapping::layout::Layout::new(BASE, "AC-CRETEIL");
    l.person_dn(id).to_string()
}

/// Every value of every entry under the base (but the run lock), decoded:
/// to look for what must never be there.
pub fn all_values(l: &Slapd) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (dn, attrs) in l.dump() {
        for (a, vs) in attrs {
            for v in vs {
                out.push((dn.clone(), a.clone(), v));
            }
        }
    }
    out
}

/// Converts slapd.conf schema syntax to a cn=config schema entry.
pub fn schema_to_ldif(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let cn = stem.split_once('-').map(|(_, r)| r).unwrap_or(stem);
    let mut defs: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let last = defs.last_mut().expect("continuation before any definition");
            last.push(' ');
            last.push_str(line.trim());
        } else {
            defs.push(line.trim().to_string());
        }
    }
    let mut out = format!(
        "# Generated from {} by tests/schema.rs (AAF_SYNC_BLESS=1 cargo test --test schema).\n\
         # Load into a running slapd: ldapadd -Y EXTERNAL -H ldapi:/// -f {}\n\
         dn: cn={cn},cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: {cn}\n",
        path.file_name().unwrap().to_str().unwrap(),
        path.with_extension("ldif")
            .file_name()
            .unwrap()
            .to_str()
            .unwrap(),
    );
    for d in defs {
        let (kw, rest) = d.split_once(char::is_whitespace).unwrap();
        let attr = match kw.to_ascii_lowercase().as_str() {
            "attributetype" => "olcAttributeTypes",
            "objectclass" => "olcObjectClasses",
            "objectidentifier" => "olcObjectIdentifier",
            other => panic!("unknown schema keyword {other}"),
        };
        let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!("{attr}: {rest}\n"));
    }
    out
}

/// A config for a replicated directory: `providers` in order (the
/// designated one first), an optional consumer to read from, work
/// directory `dir/work` (one per sync host).
pub fn replicated_config(
    dir: &Path,
    providers: &[&str],
    read_url: Option<&str>,
    uai: &[String],
    extra: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let pw = dir.join("ldap.secret");
    write_secret(&pw, &format!("{PW}\n"));
    let urls: Vec<String> = providers.iter().map(|u| format!("\"{u}\"")).collect();
    let read = read_url
        .map(|r| format!("read_url = \"{r}\"\n"))
        .unwrap_or_default();
    let uai: Vec<String> = uai.iter().map(|u| format!("\"{u}\"")).collect();
    let body = format!(
        "[ldap]\nurl = [{}]\n{read}bind_dn = \"{ADMIN}\"\nbind_password_file = \"{}\"\nbase_dn = \"{BASE}\"\n\
         [source]\nname = \"AC-CRETEIL\"\n[perimeter]\nuai = [{}]\n[paths]\nwork_dir = \"{}\"\n{extra}",
        urls.join(", "),
        pw.display(),
        uai.join(", "),
        dir.join("work").display()
    );
    let p = dir.join("aaf-sync.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// Two providers in multi-provider replication (A, B) and a read-only
/// consumer replicating from both (C), started by
/// `scripts/slapd-replicated.sh` on free loopback ports: the topology the
/// README gives users.
pub struct Replicated {
    pub a: Slapd,
    pub b: Slapd,
    pub c: Slapd,
}

impl Replicated {
    pub fn start() -> Replicated {
        Replicated::start_with(&[])
    }

    /// With extra environment for every server (e.g. `SLAPD_DEBUG=stats`).
    pub fn start_with(env: &[(&str, &str)]) -> Replicated {
        require_slapd();
        for _ in 0..5 {
            let dirs = [
                tempfile::tempdir().unwrap(),
                tempfile::tempdir().unwrap(),
                tempfile::tempdir().unwrap(),
            ];
            let mut ports = Vec::new();
            while ports.len() < 3 {
                let p = free_port();
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            let mut cmd = Command::new("bash");
            cmd.arg(root().join("scripts/slapd-replicated.sh"))
                .arg("start")
                .arg(dirs[0].path())
                .args(ports.iter().map(|p| p.to_string()))
                .env("MDB_FAST", "1");
            for (k, d) in ["DIR_A", "DIR_B", "DIR_C"].iter().zip(&dirs) {
                cmd.env(k, d.path().join("ldap"));
            }
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            if out.status.success() {
                let urls: Vec<String> = String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect();
                assert_eq!(urls.len(), 3, "{urls:?}");
                let [da, db, dc] = dirs;
                let node = |dir, url: &String| Slapd {
                    dir,
                    url: url.clone(),
                    ldaps: None,
                };
                return Replicated {
                    a: node(da, &urls[0]),
                    b: node(db, &urls[1]),
                    c: node(dc, &urls[2]),
                };
            }
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(err.contains("busy"), "topology did not start: {err}");
        }
        panic!("no free ports for the topology");
    }

    pub fn all(&self) -> [&Slapd; 3] {
        [&self.a, &self.b, &self.c]
    }

    /// Waits until the servers that answer hold the same managed tree
    /// (dumps, lock aside), up to `within`; the dumps otherwise.
    pub fn wait_same_tree(&self, servers: &[&Slapd], within: std::time::Duration) {
        let t = std::time::Instant::now();
        loop {
            let dumps: Vec<_> = servers.iter().map(|s| s.dump()).collect();
            if dumps.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            if t.elapsed() > within {
                for (s, d) in servers.iter().zip(&dumps).skip(1) {
                    let first = &dumps[0];
                    let only_first: Vec<&String> = first
                        .keys()
                        .filter(|k| d.get(*k) != first.get(*k))
                        .collect();
                    let only_other: Vec<&String> =
                        d.keys().filter(|k| !first.contains_key(*k)).collect();
                    eprintln!(
                        "{} differs from {}: {} entries differ or are missing, {} extra: {:?} {:?}",
                        s.url,
                        servers[0].url,
                        only_first.len(),
                        only_other.len(),
                        only_first.iter().take(5).collect::<Vec<_>>(),
                        only_other.iter().take(5).collect::<Vec<_>>()
                    );
                }
                panic!("the servers did not converge within {within:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Slapd {
    /// The slapd process id its start script recorded.
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("ldap/slapd.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// `kill -9` of the slapd process, by PID; returns once it is gone.
    pub fn kill9(&self) {
        let pid = self.pid();
        // SAFETY: kill(2) on a process this test harness started
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let t = std::time::Instant::now();
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().starts_with('Z')))
            .is_some_and(|zombie| !zombie)
        {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "slapd survived kill -9"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The `contextCSN` values of the suffix, sorted.
    pub fn context_csn(&self) -> Vec<String> {
        let mut v = self
            .entries(BASE, "(objectClass=*)", &["contextCSN"])
            .remove(BASE)
            .and_then(|mut a| a.remove("contextcsn"))
            .unwrap_or_default();
        v.sort();
        v
    }

    /// `ldapmodify` on cn=config (bound as cn=config).
    pub fn config_modify(&self, ldif: &str) {
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url, "-D", "cn=config", "-w", PW])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapmodify cn=config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// This server's `olcSyncrepl` values.
    pub fn syncrepl(&self) -> Vec<String> {
        let out = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url])
            .args(["-D", "cn=config", "-w", PW, "-s", "base"])
            .args(["-b", "olcDatabase={1}mdb,cn=config", "olcSyncrepl"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("olcSyncrepl: "))
            .map(str::to_string)
            .collect()
    }

    /// Replaces this server's `olcSyncrepl` values.
    pub fn set_syncrepl(&self, values: &[String]) {
        let mut ldif = String::from(
            "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\nreplace: olcSyncrepl\n",
        );
        for v in values {
            ldif.push_str(&format!("olcSyncrepl: {v}\n"));
        }
        self.config_modify(&ldif);
    }

    /// Cuts replication into this server (its syncrepl points at a port
    /// nothing listens on: a network partition); returns what
    /// [`Slapd::set_syncrepl`] restores.
    pub fn cut_replication(&self) -> Vec<String> {
        let orig = self.syncrepl();
        assert!(!orig.is_empty(), "{} replicates from nobody", self.url);
        let cut: Vec<String> = orig
            .iter()
            .map(|v| {
                let (head, rest) = v.split_once("provider=").unwrap();
                let tail = rest.split_once(' ').map(|(_, t)| t).unwrap_or("");
                format!("{head}provider=ldap://127.0.0.1:1 {tail}")
            })
            .collect();
        self.set_syncrepl(&cut);
        orig
    }

    /// Lines of this server's slapd.log (with `SLAPD_DEBUG=stats`, every
    /// operation) containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join("ldap/slapd.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}
