//! Client proxies: which proxy a connection goes through, set on the builder or taken from
//! the environment as curl takes it.
//!
//! - `http://[user:pass@]host[:port]`: an HTTP proxy, asked for a tunnel with `CONNECT`
//!   (Basic auth when it has credentials). Port 1080 when none is given, as curl.
//! - `socks5://[user:pass@]host[:port]`: SOCKS5, the target's name resolved here.
//! - `socks5h://…`: SOCKS5, the name resolved by the proxy (remote DNS).
//!
//! From the environment ([`Proxy::from_env`]), as curl: `ws://` goes through `http_proxy`
//! (lowercase only: `HTTP_PROXY` can be set by a request's `Proxy:` header in CGI programs),
//! `wss://` through `https_proxy` or `HTTPS_PROXY`, either through `all_proxy` or `ALL_PROXY`
//! when its own is unset; `no_proxy` or `NO_PROXY` lists the hosts reached directly. Unlike
//! curl, and as Go's `ProxyFromEnvironment`, `localhost` and loopback addresses are always
//! reached directly: a proxy elsewhere cannot reach this machine's loopback.

use std::net::IpAddr;

use url::Url;

/// Why a proxy could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy's URL does not parse.
    #[error("invalid proxy URL {url:?}: {source}")]
    InvalidUrl {
        /// The URL, its password hidden.
        url: String,
        /// What the URL parser said.
        #[source]
        source: url::ParseError,
    },
    /// A proxy scheme this client does not speak.
    #[error("unsupported proxy scheme {0:?} (use http://, socks5:// or socks5h://)")]
    UnsupportedScheme(String),
    /// The proxy URL names no host.
    #[error("the proxy URL {0:?} has no host")]
    MissingHost(String),
    /// The HTTP proxy asked for credentials (407, or 401 from some), or refused those sent.
    #[error("the proxy wants other credentials (Proxy Authentication Required)")]
    AuthRequired,
    /// The HTTP proxy refused the tunnel.
    #[error("the proxy refused the tunnel: HTTP {status}")]
    Refused {
        /// The proxy's status code.
        status: u16,
    },
    /// The HTTP proxy's answer to `CONNECT` is not a well-formed HTTP response, or too long.
    #[error("the proxy's answer to CONNECT is not usable: {0}")]
    BadResponse(String),
    /// The SOCKS5 proxy accepts none of the authentication methods offered.
    #[error("the SOCKS5 proxy accepts none of our authentication methods")]
    SocksNoMethod,
    /// The SOCKS5 proxy refused the username and password.
    #[error("the SOCKS5 proxy refused the username and password")]
    SocksAuth,
    /// The SOCKS5 proxy could not connect to the target (its reply code, RFC 1928 §6).
    #[error("the SOCKS5 proxy could not connect: {}", socks_reply(*.0))]
    SocksConnect(u8),
    /// The SOCKS5 proxy broke its protocol.
    #[error("the SOCKS5 proxy broke the protocol: {0}")]
    SocksProtocol(&'static str),
}

fn socks_reply(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "connection not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    }
}

/// How a proxy is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy, asked for a tunnel with `CONNECT`.
    Http,
    /// SOCKS5; `remote_dns`: the proxy resolves the target's name (`socks5h://`).
    Socks5 {
        /// Whether the target's name is sent to the proxy rather than resolved here.
        remote_dns: bool,
    },
}

/// A proxy to reach WebSocket servers through (see the [module](self) for the URL forms).
///
/// ```
/// let p = wsx::Proxy::parse("socks5h://me:s3cret@127.0.0.1:1080").unwrap();
/// assert_eq!(p.to_string(), "socks5h://me:***@127.0.0.1:1080");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL; one without a scheme is an HTTP proxy, as curl reads it.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let u = Url::parse(&with_scheme).map_err(|source| ProxyError::InvalidUrl {
            url: redact(url),
            source,
        })?;
        let kind = match u.scheme() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5 { remote_dns: false },
            "socks5h" => ProxyKind::Socks5 { remote_dns: true },
            other => return Err(ProxyError::UnsupportedScheme(other.to_owned())),
        };
        let host = match u.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string(),
            None => return Err(ProxyError::MissingHost(redact(url))),
        };
        if host.is_empty() {
            return Err(ProxyError::MissingHost(redact(url)));
        }
        let credentials = (!u.username().is_empty()).then(|| {
            (
                decode(u.username()),
                u.password().map(decode).unwrap_or_default(),
            )
        });
        Ok(Self {
            kind,
            host,
            port: u.port().unwrap_or(1080),
            credentials,
        })
    }

    /// The proxy the environment sets for `url` (`ws://` or `wss://`), as curl chooses it;
    /// `None` when there is none, when `no_proxy` lists the host, for loopback hosts, or when
    /// the variable does not parse (then a warning is logged).
    pub fn from_env(url: &Url) -> Option<Self> {
        Self::from_vars(url, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through `var`.
    pub(crate) fn from_vars(url: &Url, var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let own = match url.scheme() {
            "wss" | "https" => var("https_proxy").or_else(|| var("HTTPS_PROXY")),
            _ => var("http_proxy"),
        };
        let value = own
            .or_else(|| var("all_proxy"))
            .or_else(|| var("ALL_PROXY"))?;
        let host = url.host_str()?;
        if is_loopback(host) {
            return None;
        }
        let no_proxy = var("no_proxy").or_else(|| var("NO_PROXY"));
        if no_proxy.is_some_and(|list| bypasses(&list, host)) {
            return None;
        }
        match Self::parse(value.trim()) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the proxy set in the environment");
                None
            }
        }
    }

    /// How the proxy is spoken to.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the username and password (HTTP Basic auth, or SOCKS5's RFC 1929).
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    pub(crate) fn auth(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `host:port` to connect to, brackets around an IPv6 address.
    pub(crate) fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Shown with its password hidden.
impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        };
        write!(f, "{scheme}://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}", self.address())
    }
}

/// As [`Display`](std::fmt::Display): never the password.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({self})")
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `url` with what follows `:` in its userinfo replaced by `***`.
fn redact(url: &str) -> String {
    let rest_at = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(rest_at);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{head}{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// `localhost` and loopback addresses, which a proxy from the environment never serves (as
/// in Go's `ProxyFromEnvironment`: a proxy elsewhere cannot reach this machine's loopback).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `no_proxy` (curl's syntax) sends `host` directly: `*` for every host; otherwise
/// comma-separated names, each matching itself and its subdomains (a leading dot is
/// ignored), IP addresses matching themselves, and `address/bits` ranges.
pub(crate) fn bypasses(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return in_range(ip, net, bits);
            }
            let name = entry.trim_start_matches('.').trim_end_matches('.');
            host == name || host.ends_with(&format!(".{name}"))
        })
}

fn in_range(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn urls_parse_as_curl_reads_them() {
        let p = Proxy::parse("http://u%40x:p%3Aw@proxy.local:3128").unwrap();
        assert_eq!(p.kind(), ProxyKind::Http);
        assert_eq!((p.host(), p.port()), ("proxy.local", 3128));
        assert_eq!(p.auth(), Some(("u@x", "p:w")));
        assert_eq!(p.to_string(), "http://u@x:***@proxy.local:3128");
        assert!(!format!("{p:?}").contains("p:w"));

        let p = Proxy::parse("proxy.local").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Http, 1080));
        let p = Proxy::parse("socks5://[::1]:9050").unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5 { remote_dns: false });
        assert_eq!((p.host(), p.address()), ("::1", "[::1]:9050".to_owned()));
        let p = Proxy::parse("socks5h://me@h").unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5 { remote_dns: true });
        assert_eq!(p.auth(), Some(("me", "")));

        assert!(matches!(
            Proxy::parse("https://h:1"),
            Err(ProxyError::UnsupportedScheme(s)) if s == "https"
        ));
        let e = Proxy::parse("http://me:secret@[bad").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn no_proxy_matches_names_subdomains_addresses_and_ranges() {
        let list = "localhost, .internal.example,example.org ,10.0.0.0/8,::1,fd00::/8";
        for host in [
            "localhost",
            "a.internal.example",
            "internal.example",
            "example.org",
            "www.example.org",
            "10.1.2.3",
            "[::1]",
            "fd00::5",
            "EXAMPLE.ORG.",
        ] {
            assert!(bypasses(list, host), "{host}");
        }
        for host in [
            "notexample.org",
            "example.com",
            "11.0.0.1",
            "::2",
            "localhost2",
        ] {
            assert!(!bypasses(list, host), "{host}");
        }
        assert!(bypasses("*", "anything"));
        assert!(!bypasses("", "anything"));
        assert!(bypasses("10.0.0.0/0", "1.2.3.4"));
    }

    #[test]
    fn the_environment_is_read_as_curl_reads_it() {
        let pick = |url: &str, vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Proxy::from_vars(&Url::parse(url).unwrap(), |k| vars.get(k).cloned())
                .map(|p| p.to_string())
        };
        let ws = "ws://example.com/";
        let wss = "wss://example.com/";
        assert_eq!(
            pick(ws, &[("http_proxy", "h:1")]).as_deref(),
            Some("http://h:1")
        );
        // Uppercase HTTP_PROXY is ignored, as curl ignores it.
        assert_eq!(pick(ws, &[("HTTP_PROXY", "h:1")]), None);
        assert_eq!(pick(wss, &[("http_proxy", "h:1")]), None);
        assert_eq!(
            pick(wss, &[("HTTPS_PROXY", "s:2")]).as_deref(),
            Some("http://s:2")
        );
        assert_eq!(
            pick(wss, &[("https_proxy", "a:1"), ("HTTPS_PROXY", "b:2")]).as_deref(),
            Some("http://a:1")
        );
        assert_eq!(
            pick(ws, &[("ALL_PROXY", "socks5h://s:9")]).as_deref(),
            Some("socks5h://s:9")
        );
        assert_eq!(
            pick(ws, &[("http_proxy", "h:1"), ("all_proxy", "socks5://s:9")]).as_deref(),
            Some("http://h:1")
        );
        assert_eq!(
            pick(ws, &[("http_proxy", "h:1"), ("NO_PROXY", "example.com")]),
            None
        );
        assert_eq!(pick(ws, &[("http_proxy", "h:1"), ("no_proxy", "*")]), None);
        assert_eq!(pick(ws, &[("http_proxy", "  ")]), None);
        assert_eq!(pick(ws, &[("http_proxy", "ftp://h:1")]), None);
        for local in [
            "ws://localhost:1/",
            "ws://127.0.0.2/",
            "ws://[::1]:9/",
            "ws://a.localhost/",
        ] {
            assert_eq!(pick(local, &[("http_proxy", "h:1")]), None, "{local}");
        }
    }
}
