//! The shapes a plain identifier may not have: paths, files, URLs, network addresses and
//! secrets (the rules are listed in the parent module's doc).

/// Longest identifier sent as written.
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// Prefixes of well-known credential formats (OpenAI/Anthropic/Stripe, GitHub, Slack, GitLab).
/// Each is followed by a separator, so ordinary names that merely start alike are not caught.
const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_",
    "pk_",
    "rk_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "glpat-",
];

/// Scopes that may open an identifier with `@`: Cloudflare Workers AI's model catalog.
const CATALOG_SCOPES: &[&str] = &["@cf/", "@hf/"];

/// Endings that make a name a file: documents, code, data, keys, archives, media, models.
/// Compared without case, after the last `.`. Not `js` or `go`: `node.js` and the like name
/// products far more often than files.
#[rustfmt::skip]
const FILE_EXTENSIONS: &[&str] = &[
    "txt", "md", "rst", "pdf", "doc", "docx", "odt", "rtf", "xls", "xlsx", "ods", "csv", "tsv",
    "ppt", "pptx", "json", "jsonl", "yaml", "yml", "toml", "xml", "ini", "cfg", "conf", "env",
    "log", "html", "htm", "rs", "py", "ipynb", "mjs", "cjs", "ts", "tsx", "jsx", "java",
    "kt", "c", "h", "cc", "cpp", "hpp", "cs", "rb", "php", "swift", "sh", "bash", "zsh", "ps1",
    "bat", "sql", "db", "sqlite", "pem", "key", "crt", "cer", "p12", "pfx", "pub", "kdbx",
    "zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "png", "jpg", "jpeg", "gif", "svg",
    "webp", "heic", "mp3", "mp4", "wav", "mov", "mkv", "exe", "dll", "so", "dylib", "wasm",
    "lock", "bak", "tmp", "swp", "gguf", "safetensors", "pt", "onnx", "bin",
];

/// Top-level domains that make a dotted name a host: the common generic and country ones,
/// and the suffixes private networks use.
#[rustfmt::skip]
const HOST_SUFFIXES: &[&str] = &[
    "com", "net", "org", "io", "ai", "dev", "app", "co", "me", "info", "biz", "cloud", "xyz",
    "edu", "gov", "mil", "us", "uk", "de", "fr", "nl", "eu", "ch", "se", "jp", "cn", "ru",
    "in", "br", "au", "ca", "local", "localhost", "localdomain", "internal", "intranet", "corp",
    "lan", "home", "private", "test", "example", "invalid", "onion", "arpa",
];

/// The identifier rule (see the module doc): short, from `[A-Za-z0-9._:/-]`, starting with a
/// letter or digit, and not shaped like a path, file, URL, network address or secret.
pub fn is_plain_identifier(value: &str) -> bool {
    // A catalog scope's `@` is the one character outside the set that may open an id; what
    // follows it is judged as if the `@` were not there.
    let body = if CATALOG_SCOPES.iter().any(|s| value.starts_with(s)) {
        &value[1..]
    } else {
        value
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:/-".contains(c);
    !value.is_empty()
        && value.len() <= MAX_IDENTIFIER_LEN
        && body.starts_with(|c: char| c.is_ascii_alphanumeric())
        && body.chars().all(allowed)
        && !looks_like_path_or_url(body)
        && !looks_like_file_name(body)
        && !looks_like_address(body)
        && !looks_like_secret(body)
}

fn looks_like_path_or_url(value: &str) -> bool {
    let bytes = value.as_bytes();
    let drive_letter = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    // `namespace/name` (as in model ids) is fine; more levels, or a hidden segment, is a path.
    value.contains("//")
        || value.contains("..")
        || value.contains(":/")
        || value.contains("/.")
        || drive_letter
        || value.matches('/').count() > 2
}

fn looks_like_file_name(value: &str) -> bool {
    value.rsplit_once('.').is_some_and(|(_, ext)| {
        FILE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

fn looks_like_address(value: &str) -> bool {
    let is_ipv4 = |part: &str| {
        part.split('.').count() == 4
            && part
                .split('.')
                .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()))
    };
    // An IPv4 address anywhere (`10.0.0.5:5432`, `192.168.1.0/24`), an IPv6 one, a
    // `host.name:port`, or a host name (`db.acme.corp`, `api.github.com:443`).
    let ipv4 = value.split([':', '/']).any(is_ipv4);
    let ipv6 = value.contains("::") || value.matches(':').count() >= 3;
    let host_port = value.rsplit_once(':').is_some_and(|(host, port)| {
        (host.contains('.') || host.eq_ignore_ascii_case("localhost"))
            && (2..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
    });
    let host_name = value.split([':', '/']).any(|part| {
        part.rsplit_once('.').is_some_and(|(_, tld)| {
            HOST_SUFFIXES
                .iter()
                .any(|known| tld.eq_ignore_ascii_case(known))
        })
    });
    ipv4 || ipv6 || host_port || host_name
}

fn looks_like_secret(value: &str) -> bool {
    let starts_with_ignoring_case = |prefix: &str| {
        value
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    if SECRET_PREFIXES.iter().any(|p| starts_with_ignoring_case(p)) {
        return true;
    }
    let alnum_run = |prefix: &str, len: usize| {
        value.strip_prefix(prefix).is_some_and(|rest| {
            rest.len() >= len
                && rest
                    .bytes()
                    .take(len)
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
    };
    // AWS access key ids, Google API keys, JWTs, UUID-shaped keys.
    if alnum_run("AKIA", 16)
        || alnum_run("ASIA", 16)
        || (value.starts_with("AIza") && value.len() >= 30)
    {
        return true;
    }
    if (value.starts_with("eyJ") && value.contains('.')) || is_uuid(value) {
        return true;
    }
    // Long runs of letters and digits are keys, hashes or tokens, not names. `/` does not
    // break a run: base64 keys contain it.
    let long_run = value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '/'))
        .any(|run| {
            let digits = run.bytes().any(|b| b.is_ascii_digit());
            let letters = run.bytes().any(|b| b.is_ascii_alphabetic());
            let mixed_case = run.bytes().any(|b| b.is_ascii_uppercase())
                && run.bytes().any(|b| b.is_ascii_lowercase());
            run.len() >= 40
                || (run.len() >= 20 && letters && (digits || (mixed_case && run.contains('/'))))
        });
    // Ten digits or more in a row: a phone, card or account number, or a Unix timestamp (a
    // timing channel of its own). Model ids carry dates, which have eight.
    let long_number = value
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 10);
    long_run || long_number || looks_random(value)
}

/// Base64url tokens (`-` and `_` break them into short runs) still give themselves away:
/// random text switches between lower case, upper case and digits at most characters, names
/// only at word boundaries (`Qwen2.5-Coder-32B-Instruct` switches 5 times in 22).
fn looks_random(value: &str) -> bool {
    #[derive(PartialEq)]
    enum Class {
        Lower,
        Upper,
        Digit,
        Separator,
    }
    let class = |c: char| match c {
        'a'..='z' => Class::Lower,
        'A'..='Z' => Class::Upper,
        '0'..='9' => Class::Digit,
        _ => Class::Separator,
    };
    let alnum = value.chars().filter(char::is_ascii_alphanumeric).count();
    let switches = value
        .chars()
        .zip(value.chars().skip(1))
        .map(|(a, b)| (class(a), class(b)))
        .filter(|(a, b)| *a != Class::Separator && *b != Class::Separator && a != b)
        .count();
    alnum >= 16 && switches * 3 >= alnum
}

/// UUID-shaped (8-4-4-4-12 hex): some providers' API keys look like this.
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}
