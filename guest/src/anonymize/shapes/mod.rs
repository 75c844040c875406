//! The shapes a plain identifier may not have (the rules are listed in the parent module's
//! doc): [`shape`] names the first one a value has, [`is_plain_identifier`] says it has none.
//!
//! One submodule per family: `network` (IP addresses, host names, ports), `numbers` (long
//! numbers, phone numbers, national ids, card numbers, IBANs), `secrets` (credential
//! prefixes, `user:password`, keys, random-looking text). Everything here is by hand, over
//! bytes: the component carries no regex engine.

mod network;
mod numbers;
mod secrets;

/// Longest identifier sent as written.
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// Why a value is not a plain identifier: the first rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// Empty, or longer than [`MAX_IDENTIFIER_LEN`].
    Length,
    /// Starts with something other than a letter or a digit.
    Start,
    /// A character outside `[A-Za-z0-9._:/-]`.
    Charset,
    /// An `@` that is not a catalog scope or a version tag.
    Email,
    Path,
    FileName,
    /// A credential by its vendor's prefix, a key format, a JWT or a UUID.
    Token,
    /// `user:password`.
    Credential,
    IpAddress,
    /// `name:port`.
    Port,
    HostName,
    /// Nine digits or more, separators aside.
    LongNumber,
    NationalId,
    Phone,
    Iban,
    /// Sixteen hex digits or more, separators aside.
    Hex,
    /// Random-looking text: a key, a token, a seed.
    Random,
}

/// Scopes that may open an identifier with `@`: Cloudflare Workers AI's model catalog.
const CATALOG_SCOPES: &[&str] = &["@cf/", "@hf/"];

/// Words after an `@` that make it a version tag (Vertex AI's `model@latest`).
const VERSION_TAGS: &[&str] = &["latest", "default", "preview", "stable", "experimental"];

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

/// The identifier rule (see the module doc).
pub fn is_plain_identifier(value: &str) -> bool {
    shape(value).is_none()
}

/// The first rule `value` breaks, or `None` for a plain identifier.
pub fn shape(value: &str) -> Option<Shape> {
    if value.is_empty() || value.len() > MAX_IDENTIFIER_LEN {
        return Some(Shape::Length);
    }
    // A catalog scope's `@` is the one character outside the set that may open an id; what
    // follows it is judged as if the `@` were not there.
    let mut body = match CATALOG_SCOPES.iter().any(|s| value.starts_with(s)) {
        true => &value[1..],
        false => value,
    };
    // One `@tag` at the end may name a version (`claude-3-5-sonnet@20240620`, `x@latest`);
    // any other `@` is an address.
    if let Some((head, tag)) = body.rsplit_once('@') {
        let digits = (3..=8).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_digit());
        if head.is_empty() || head.contains('@') || !(digits || VERSION_TAGS.contains(&tag)) {
            return Some(Shape::Email);
        }
        body = head;
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:/-".contains(&b);
    if !body.as_bytes()[0].is_ascii_alphanumeric() {
        return Some(Shape::Start);
    }
    if !body.bytes().all(allowed) {
        return Some(Shape::Charset);
    }
    if looks_like_path_or_url(body) {
        return Some(Shape::Path);
    }
    if looks_like_file_name(body) {
        return Some(Shape::FileName);
    }
    secrets::shape(body)
        .or_else(|| network::shape(body))
        .or_else(|| numbers::shape(body))
        .or_else(|| secrets::random(body))
}

fn looks_like_path_or_url(value: &str) -> bool {
    let bytes = value.as_bytes();
    let drive_letter = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if value.contains("//")
        || value.contains("..")
        || value.contains(":/")
        || value.contains("/.")
        || drive_letter
    {
        return true;
    }
    // `namespace/name` and `provider/org/model` are ids; more levels are a path, except in
    // the one public catalog that names models so (Fireworks AI's resource names,
    // `accounts/fireworks/models/llama-v3p1-8b-instruct`).
    // Counted first: most names have no `/` at all, and are not split.
    value.bytes().filter(|&b| b == b'/').count() > 2
        && !is_catalog_resource(&value.split('/').collect::<Vec<_>>())
}

/// `accounts/<org>/models/<name>` or `accounts/<org>/routers/<name>`.
fn is_catalog_resource(segments: &[&str]) -> bool {
    matches!(segments, ["accounts", org, "models" | "routers", name] if !org.is_empty() && !name.is_empty())
}

fn looks_like_file_name(value: &str) -> bool {
    value.rsplit_once('.').is_some_and(|(_, ext)| {
        FILE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// Maximal runs of bytes that `keep` accepts, where a single separator (`-._/:` or a space)
/// between two kept bytes is skipped: `dead-beef-cafe` is one run of hex.
fn joined_runs(value: &[u8], keep: impl Fn(u8) -> bool) -> Vec<Vec<u8>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if keep(b) {
            current.push(b);
        } else if !current.is_empty()
            && b"-._/: ".contains(&b)
            && value.get(i + 1).is_some_and(|&next| keep(next))
        {
            // Skip the separator; the run goes on.
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
        i += 1;
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// `groups` runs of digits from `start`, joined by one separator (`-`, `.` or `_`, the same
/// each time), each one that `accept(k, digits)` takes as the k-th: where the last one ends.
fn digit_groups(
    bytes: &[u8],
    start: usize,
    groups: usize,
    accept: impl Fn(usize, &[u8]) -> bool,
) -> Option<usize> {
    let mut at = start;
    let mut separator = None;
    for k in 0..groups {
        let digits = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !accept(k, &bytes[at..at + digits]) {
            return None;
        }
        at += digits;
        if k + 1 == groups {
            return Some(at);
        }
        match (bytes.get(at), separator) {
            (Some(&s), None) if b"-._".contains(&s) => separator = Some(s),
            (Some(&s), Some(first)) if s == first => {}
            _ => return None,
        }
        at += 1;
    }
    None
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, each `x` a byte `hex` takes.
pub fn uuid_shaped(value: &str, hex: impl Fn(u8) -> bool) -> bool {
    let mut groups = 0;
    for (i, group) in value.split('-').enumerate() {
        groups += 1;
        if [8, 4, 4, 4, 12].get(i) != Some(&group.len()) || !group.bytes().all(&hex) {
            return false;
        }
    }
    groups == 5
}
