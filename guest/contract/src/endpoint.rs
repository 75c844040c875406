//! The endpoint URL, parsed once by the same rules for the component (which sends to it) and
//! for the host (whose egress policy lets requests out only to it).
//!
//! Only `http://` and `https://`, a host (a DNS name, an IPv4 address or a bracketed IPv6
//! address), an optional port, and a path with an optional query. Credentials in the URL
//! (`http://user:pw@host/`), fragments, spaces and control characters are refused: a telemetry
//! endpoint has no use for them, and each is a way to make two parsers disagree.

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://` (else `http://`).
    pub https: bool,
    /// Lower case; an IPv6 address keeps its brackets (`[::1]`), as `http::Uri` reports it.
    pub host: String,
    /// As written, or the scheme's default.
    pub port: u16,
    /// `host[:port]` as written (lower-cased), for the request's authority.
    pub authority: String,
    /// `/path?query`; `/` when the URL has no path.
    pub path_with_query: String,
}

/// Why a URL cannot be the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The scheme is neither `http` nor `https`, or there is none.
    #[error("the scheme must be http or https")]
    Scheme,
    /// Nothing between `://` and the path.
    #[error("no host")]
    NoHost,
    /// A user name or password in the URL.
    #[error("credentials in the URL are not allowed")]
    Credentials,
    /// The host (given) is not a DNS name, an IPv4 address or a bracketed IPv6 address.
    #[error("the host `{0}` is not a host name or an IP address")]
    BadHost(String),
    /// The port (given) is not a number from 1 to 65535.
    #[error("the port `{0}` is not a number from 1 to 65535")]
    BadPort(String),
    /// A `#fragment`.
    #[error("a fragment (`#...`) has no meaning for an endpoint")]
    Fragment,
    /// A space, a control character or a byte outside printable ASCII.
    #[error("spaces and control characters are not allowed")]
    Unprintable,
}

impl Endpoint {
    /// `url` as an endpoint, by the rules in the module docs.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        if url.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err(EndpointError::Unprintable);
        }
        let (scheme, rest) = url.split_once("://").ok_or(EndpointError::Scheme)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(EndpointError::Scheme),
        };
        if rest.contains('#') {
            return Err(EndpointError::Fragment);
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(EndpointError::Credentials);
        }
        if authority.is_empty() {
            return Err(EndpointError::NoHost);
        }
        let (host, port) = split_port(authority)?;
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => Some(p)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| EndpointError::BadPort(p.to_string()))?,
        };
        let path_with_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Endpoint {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority: authority.to_ascii_lowercase(),
            path_with_query,
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// `host[:port]` → host and port, checking the host's characters.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), EndpointError> {
    let bad_host = || EndpointError::BadHost(authority.to_string());
    if let Some(inside) = authority.strip_prefix('[') {
        // A bracketed IPv6 address, then perhaps `:port`.
        let (address, after) = inside.split_once(']').ok_or_else(bad_host)?;
        let ipv6 = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        if address.is_empty() || !address.chars().all(ipv6) || !address.contains(':') {
            return Err(bad_host());
        }
        let host = &authority[..address.len() + 2];
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(bad_host()),
            },
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
    if host.is_empty() || !host.chars().all(name) || host.starts_with(['.', '-']) {
        return Err(bad_host());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_a_usable_endpoint() {
        let e = Endpoint::parse("http://127.0.0.1:4318/v1/batch").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port, e.authority.as_str()),
            (false, "127.0.0.1", 4318, "127.0.0.1:4318")
        );
        assert_eq!(e.path_with_query, "/v1/batch");
        let e = Endpoint::parse("HTTPS://Collector.Example:8443?x=1").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port),
            (true, "collector.example", 8443)
        );
        assert_eq!(e.path_with_query, "/?x=1");
        let e = Endpoint::parse("http://[::1]/v1/logs").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("[::1]", 80));
        let e = Endpoint::parse("http://[::1]:9/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.authority.as_str()),
            ("[::1]", 9, "[::1]:9")
        );
        assert_eq!(Endpoint::parse("https://localhost").unwrap().port, 443);
    }

    #[test]
    fn what_an_endpoint_may_not_be() {
        for (url, error) in [
            ("ftp://host/", EndpointError::Scheme),
            ("not a url", EndpointError::Unprintable),
            ("not-a-url", EndpointError::Scheme),
            ("/relative", EndpointError::Scheme),
            ("http://user:pw@host/", EndpointError::Credentials),
            ("http://a@b/", EndpointError::Credentials),
            ("http:///path", EndpointError::NoHost),
            ("http://host:0/", EndpointError::BadPort("0".into())),
            ("http://host:65536/", EndpointError::BadPort("65536".into())),
            ("http://host:/", EndpointError::BadPort(String::new())),
            ("http://host:+80/", EndpointError::BadPort("+80".into())),
            ("http://ho%73t/", EndpointError::BadHost("ho%73t".into())),
            ("http://[::1/", EndpointError::BadHost("[::1".into())),
            ("http://[zz]/", EndpointError::BadHost("[zz]".into())),
            ("http://host/#top", EndpointError::Fragment),
            ("http://host/a\tb", EndpointError::Unprintable),
        ] {
            assert_eq!(Endpoint::parse(url), Err(error), "{url}");
        }
    }
}
