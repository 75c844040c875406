//! Network locations: IPv4 addresses (also inside a longer name, in any separator style),
//! anything IPv6-shaped, `name:port`, and dotted host names.

use super::{Shape, digit_groups};

/// Top-level domains that make a dotted name a host whatever its labels look like: the common
/// generic and country ones, and the suffixes private networks use.
#[rustfmt::skip]
const HOST_SUFFIXES: &[&str] = &[
    "com", "net", "org", "io", "ai", "dev", "app", "co", "me", "info", "biz", "cloud", "xyz",
    "edu", "gov", "mil", "us", "uk", "de", "fr", "nl", "eu", "ch", "se", "jp", "cn", "ru",
    "in", "br", "au", "ca", "local", "localhost", "localdomain", "internal", "intranet", "corp",
    "lan", "home", "private", "test", "example", "invalid", "onion", "arpa",
];

/// Dotted product names that read like hosts and are not (`.js` and `.io` libraries).
const DOTTED_PRODUCTS: &[&str] = &[
    "node.js",
    "chart.js",
    "vue.js",
    "next.js",
    "nuxt.js",
    "socket.io",
    "d3.js",
    "three.js",
    "p5.js",
    "express.js",
    "ember.js",
    "backbone.js",
];

pub(super) fn shape(value: &str) -> Option<Shape> {
    let parts = || value.split([':', '/']);
    if parts().any(is_ipv4) || value.contains("::") || value.matches(':').count() >= 3 {
        return Some(Shape::IpAddress);
    }
    if has_embedded_ipv4(value.as_bytes()) {
        return Some(Shape::IpAddress);
    }
    // `name:port`, for any name (`db:5432`, `localhost:8080`).
    if let Some((host, port)) = value.rsplit_once(':') {
        let is_port = (2..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65_535);
        if is_port || host.eq_ignore_ascii_case("localhost") {
            return Some(Shape::Port);
        }
    }
    if parts().any(is_host_name) {
        return Some(Shape::HostName);
    }
    None
}

fn is_ipv4(part: &str) -> bool {
    part.split('.').count() == 4
        && part
            .split('.')
            .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()))
}

/// Four numbers up to 255 joined by one separator, `-`, `.` or `_`, inside a longer name
/// (`ip-10-0-0-5`, `db-10.0.0.5`, `host_192_168_1_20`); not after a letter or digit, and not
/// a `v` version (`v1.2.3.4`).
fn has_embedded_ipv4(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|start| {
        if !bytes[start].is_ascii_digit() || start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
            return false;
        }
        let octet = |_, digits: &[u8]| {
            (1..=3).contains(&digits.len())
                && std::str::from_utf8(digits)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
                    .is_some_and(|n| n <= 255)
        };
        digit_groups(bytes, start, 4, octet)
            .is_some_and(|end| !bytes.get(end).is_some_and(u8::is_ascii_digit))
    })
}

/// A dotted name under a well-known top-level domain (`gitlab.acme.corp`), or under any
/// label that could be one: letters only, in lower case, with every label a DNS label
/// (`db.acme.zone`). Model ids have digits or dashes in their last part
/// (`anthropic.claude-3-5-sonnet-20240620-v1`), which no top-level domain has.
fn is_host_name(part: &str) -> bool {
    let labels: Vec<&str> = part.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let last = labels[labels.len() - 1];
    if HOST_SUFFIXES.iter().any(|t| last.eq_ignore_ascii_case(t)) {
        return true;
    }
    let dns_label =
        |l: &&str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    labels.iter().all(dns_label)
        && (2..=24).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_lowercase())
        && !DOTTED_PRODUCTS.iter().any(|p| part.eq_ignore_ascii_case(p))
}
