//! Which destinations the forwarder may reach: Spin only lets a component connect to what its
//! `allowed_outbound_hosts` lists, so readiness checks every destination against the same
//! list instead of letting a request fail at send time.
//!
//! Spin 3.6 resolves `{{ variable }}` templates in `allowed_outbound_hosts`, one host pattern per
//! entry (`AllowedHostsConfig::parse` resolves each template to exactly one pattern), so the
//! manifest lists the loopback patterns literally (local destinations work with nothing else
//! set) and [`SLOT_VARIABLES`] templated entries, one host pattern each: `https://hooks.example.com`,
//! `https://*.internal.example.com:8443`. A test checks that spin.toml lists exactly these.

use super::destinations::Url;

/// The literal entries of the forwarder's `allowed_outbound_hosts`.
pub const LITERAL: [&str; 2] = ["http://127.0.0.1:*", "http://localhost:*"];

/// The variables templated into the forwarder's `allowed_outbound_hosts`, one pattern each.
pub const SLOT_VARIABLES: [&str; 4] = [
    "forward_allowed_host_a",
    "forward_allowed_host_b",
    "forward_allowed_host_c",
    "forward_allowed_host_d",
];

/// What an unused slot holds: a valid pattern that matches nothing reachable (`.invalid` never
/// resolves, RFC 6761), because Spin refuses an empty allowed host.
pub const UNUSED_SLOT: &str = "https://unset.invalid";

/// One `allowed_outbound_hosts` pattern: `scheme://host[:port]`, where the scheme may be `*`, the
/// host `*` or `*.domain`, and the port `*` (absent: the scheme's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses a pattern (as Spin's outbound-networking config reads it, for the forms above).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text
            .trim()
            .split_once("://")
            .ok_or_else(|| format!("{text:?} has no scheme (https://host)"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => (host, Some(port)),
            _ => (rest, None),
        };
        if host.is_empty() || host.contains('/') {
            return Err(format!("{text:?} has no host, or a path"));
        }
        let default = match scheme {
            "https" => Some(443),
            "http" => Some(80),
            "*" => None,
            _ => return Err(format!("{text:?}: the scheme must be http, https or *")),
        };
        let port = match port {
            Some("*") => None,
            Some(digits) => Some(
                digits
                    .parse::<u16>()
                    .map_err(|_| format!("{text:?}: the port must be a number or *"))?,
            ),
            None if default.is_none() => {
                return Err(format!("{text:?}: a port is needed with scheme *"))
            }
            None => default,
        };
        Ok(Self {
            scheme: (scheme != "*").then(|| scheme.to_owned()),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a request to `url` is allowed by this pattern.
    pub fn allows(&self, url: &Url) -> bool {
        let scheme = self.scheme.as_ref().is_none_or(|s| *s == url.scheme);
        let host = match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(domain) => url.host.ends_with(&format!(".{domain}")),
            None => self.host == url.host,
        };
        scheme && host && self.port.is_none_or(|port| port == url.port)
    }
}

/// Whether any of the patterns allows `url`.
pub fn allowed(patterns: &[AllowedHost], url: &Url) -> bool {
    patterns.iter().any(|pattern| pattern.allows(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let exact = AllowedHost::parse("https://hooks.example.com").unwrap();
        assert!(exact.allows(&url("https://hooks.example.com/in")));
        assert!(exact.allows(&url("https://HOOKS.example.com:443/in")));
        assert!(!exact.allows(&url("https://hooks.example.com:8443/in")));
        assert!(!exact.allows(&url("https://evil.example.com/in")));
        let wild = AllowedHost::parse("https://*.internal.example.com:*").unwrap();
        assert!(wild.allows(&url("https://a.internal.example.com:9000/x")));
        assert!(!wild.allows(&url("https://internal.example.com/x")));
        let loopback = AllowedHost::parse(LITERAL[0]).unwrap();
        assert!(loopback.allows(&url("http://127.0.0.1:39123/hook")));
        assert!(!loopback.allows(&url("https://127.0.0.1:39123/hook")));
        let unused = AllowedHost::parse(UNUSED_SLOT).unwrap();
        assert!(!unused.allows(&url("https://hooks.example.com")));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "hooks.example.com",
            "ftp://x",
            "https://",
            "https://x/path",
            "*://x",
            "https://x:port",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?}");
        }
    }
}
