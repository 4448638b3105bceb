//! The byte stream under the wire search: the URL forms the configuration
//! allows (`ldap://`, `ldaps://`, `ldapi://`), TCP or a Unix socket, and
//! TLS with rustls as `connection.rs` configures it for `ldap3` (the CA
//! file of `ca_file`, else the system's roots as `ldap3` loads them; no
//! insecure mode). StartTLS itself is an LDAP exchange: `wire.rs` runs it
//! and calls [`Stream::start_tls`].

use crate::config::LdapConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

/// Where a URL points, and how to talk there.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `ldap://` (plain; StartTLS when configured) or `ldaps://`.
    Tcp { host: String, port: u16, tls: bool },
    /// `ldapi://` and its socket path.
    Unix(String),
}

/// Decodes `%XX` escapes (the path of an `ldapi://` URL).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Endpoint {
    /// Parses `scheme://host[:port][/…]`, as `ldap3` reads the same URL:
    /// default ports 389 and 636, an empty host meaning `localhost`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let Some((scheme, rest)) = url.trim().split_once("://") else {
            return Err("not an LDAP URL".into());
        };
        let hostport = rest.split(['/', '?']).next().unwrap_or("");
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "ldapi" {
            if hostport.is_empty() || hostport.contains(':') {
                return Err("ldapi:// needs the socket path, percent-encoded".into());
            }
            let path = percent_decode(hostport).ok_or("ldapi:// path: bad percent-encoding")?;
            return Ok(Endpoint::Unix(path));
        }
        let tls = match scheme.as_str() {
            "ldap" => false,
            "ldaps" => true,
            _ => return Err(format!("unknown scheme {scheme}://")),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
            None if tls => 636,
            None => 389,
        };
        let host = if host.is_empty() { "localhost" } else { host };
        Ok(Endpoint::Tcp {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

/// An open connection.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
    /// None (while a plain stream is handed to the TLS handshake).
    Gone,
}

impl Stream {
    /// Connects to `at` (TLS at once for `ldaps://`).
    pub async fn connect(at: &Endpoint, cfg: &LdapConfig) -> Result<Stream, String> {
        match at {
            Endpoint::Unix(path) => UnixStream::connect(path)
                .await
                .map(Stream::Unix)
                .map_err(|e| e.to_string()),
            Endpoint::Tcp { host, port, tls } => {
                let tcp = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = tcp.set_nodelay(true);
                let s = Stream::Tcp(tcp);
                if *tls {
                    s.start_tls(host, cfg).await
                } else {
                    Ok(s)
                }
            }
        }
    }

    /// The TLS handshake over this plain TCP stream, the server's
    /// certificate checked against `host`.
    pub async fn start_tls(self, host: &str, cfg: &LdapConfig) -> Result<Stream, String> {
        let Stream::Tcp(tcp) = self else {
            return Err("TLS over a stream that is not plain TCP".into());
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("TLS server name {host:?}: {e}"))?;
        let tls = super::super::connection::tls_config(cfg.ca_file.as_deref())
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(tls);
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
            Stream::Gone => Err(gone()),
        }
    }

    /// Asks the kernel not to report the socket readable before `bytes`
    /// are queued (`SO_RCVLOWAT`; TCP, TLS included): the read then wakes
    /// once for many entries instead of once for each as the server
    /// sends them. `false` where it is not set (a Unix socket, another
    /// system, a refusal): reads go on waking for every byte.
    pub fn set_low_water(&self, bytes: usize) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = match self {
                Stream::Tcp(s) => s.as_raw_fd(),
                Stream::Tls(s) => s.get_ref().0.as_raw_fd(),
                Stream::Unix(_) | Stream::Gone => return false,
            };
            let v = libc::c_int::try_from(bytes.max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: a valid descriptor owned by the stream, an int option
            // of the size given
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVLOWAT,
                    (&v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            r == 0
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = bytes;
            false
        }
    }

    pub async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            Stream::Unix(s) => s.write_all(buf).await,
            Stream::Gone => Err(gone()),
        }
    }

    /// Closes the write side (TLS: the close_notify first).
    pub async fn shutdown(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
            Stream::Gone => Ok(()),
        };
    }
}

fn gone() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "no stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_low_water_mark_is_set_on_tcp_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let tcp = Stream::Tcp(TcpStream::connect(at).await.unwrap());
        assert_eq!(tcp.set_low_water(32 << 10), cfg!(target_os = "linux"));
        assert_eq!(tcp.set_low_water(1), cfg!(target_os = "linux"));
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(!Stream::Unix(a).set_low_water(32 << 10));
        assert!(!Stream::Gone.set_low_water(32 << 10));
    }

    #[test]
    fn urls_read_as_ldap3_reads_them() {
        let tcp = |h: &str, port, tls| Endpoint::Tcp {
            host: h.into(),
            port,
            tls,
        };
        assert_eq!(
            Endpoint::parse("ldap://127.0.0.1:3890"),
            Ok(tcp("127.0.0.1", 3890, false))
        );
        assert_eq!(
            Endpoint::parse("ldaps://ldap.example.org/"),
            Ok(tcp("ldap.example.org", 636, true))
        );
        assert_eq!(
            Endpoint::parse("LDAP://[::1]:389/dc=x"),
            Ok(tcp("::1", 389, false))
        );
        assert_eq!(Endpoint::parse("ldap://"), Ok(tcp("localhost", 389, false)));
        assert_eq!(
            Endpoint::parse("ldapi://%2Fvar%2Frun%2Fldapi"),
            Ok(Endpoint::Unix("/var/run/ldapi".into()))
        );
        for bad in [
            "ldapi:///",
            "http://x",
            "ldap:x",
            "ldap://h:99999",
            "ldap://[::1",
            "ldapi://%2",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
