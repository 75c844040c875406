//! Credentials and random-looking text: vendor token prefixes, key formats, `user:password`,
//! and text whose mixture of cases and digits is random rather than words.

use super::Shape;

/// Prefixes of credential formats that no name starts with (OpenAI/Anthropic/Stripe, GitHub,
/// Slack, GitLab, Docker Hub, Shopify, Square, Brevo, DigitalOcean, PlanetScale, Linear,
/// Sentry, age, Svix, Vault, PyPI). A value that starts with one is a credential, however short.
#[rustfmt::skip]
const PREFIXES: &[&str] = &[
    "sk-", "sk_", "pk_", "rk_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_",
    "xoxb-", "xoxp-", "xoxa-", "xoxs-", "xoxe-", "xapp-", "glpat-", "glptt-", "gldt-", "glrt-",
    "dckr_pat_", "shpat_", "shpss_", "shpca_", "shppa_", "sq0atp-", "sq0csp-", "xkeysib-",
    "dop_v1_", "doo_v1_", "dor_v1_", "pscale_tkn_", "pscale_pw_", "lin_api_", "sntrys_",
    "age-secret-key-", "whsec_", "hvs.", "pypi-ageich",
];

/// Prefixes that names may share (`pplx-70b-chat` is a model, `hf_transfer` a package): a
/// credential only when sixteen letters or digits follow (Hugging Face, npm, Perplexity, xAI,
/// Groq, NVIDIA, Tavily, Replicate, Notion, Figma, Grafana, Fireworks, Tailscale, Doppler,
/// LangSmith, Google OAuth, Atlassian).
#[rustfmt::skip]
const PREFIXES_WITH_BODY: &[&str] = &[
    "hf_", "npm_", "pplx-", "xai-", "gsk_", "nvapi-", "tvly-", "r8_", "ntn_", "secret_",
    "figd_", "glc_", "glsa_", "sntryu_", "fw_", "tskey-", "dp.pt.", "dp.st.", "dp.sa.",
    "lsv2_", "ya29.", "atatt3", "pat-na1-", "pat-eu1-", "ops_", "oat_", "ctp_", "vcp_",
];

/// AWS access key id prefixes (an access key, a role, a user, ...), each followed by at least
/// twelve capitals or digits.
const AWS_PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "ABIA", "ACCA", "A3T", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "APKA", "AIPA",
];

/// Accounts whose `name:secret` is a login even when the secret is a plain word.
const ACCOUNTS: &[&str] = &[
    "root",
    "admin",
    "administrator",
    "user",
    "postgres",
    "mysql",
    "sa",
    "guest",
    "test",
];

pub(super) fn shape(value: &str) -> Option<Shape> {
    let bytes = value.as_bytes();
    let starts = |prefix: &str| {
        bytes
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    let alnum_after = |prefix: &str, n: usize, ok: fn(&u8) -> bool| {
        bytes
            .get(prefix.len()..prefix.len() + n)
            .is_some_and(|rest| rest.iter().all(ok))
    };
    if PREFIXES.iter().any(|p| starts(p))
        || PREFIXES_WITH_BODY
            .iter()
            .any(|p| starts(p) && alnum_after(p, 16, u8::is_ascii_alphanumeric))
        || AWS_PREFIXES.iter().any(|p| {
            value.starts_with(p)
                && alnum_after(p, 12, |b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
        || (value.starts_with("AIza") && value.len() >= 30)
        || (value.starts_with("eyJ") && value.contains('.'))
        || super::uuid_shaped(value, |b| b.is_ascii_hexdigit())
    {
        return Some(Shape::Token);
    }
    if is_login(value) {
        return Some(Shape::Credential);
    }
    None
}

/// `user:password`: a plain lowercase word, a colon, and a secret of letters and digits only
/// (no separators, which model tags such as `llama3.1:8b-instruct` have): a login when the
/// secret mixes letters and digits, or when the user is a well-known account.
fn is_login(value: &str) -> bool {
    let Some((user, secret)) = value.split_once(':') else {
        return false;
    };
    let user_ok = (2..=32).contains(&user.len())
        && user.as_bytes()[0].is_ascii_lowercase()
        && user.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let secret_ok = secret.len() >= 4 && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    if !(user_ok && secret_ok) {
        return false;
    }
    let mixes = secret.bytes().any(|b| b.is_ascii_digit())
        && secret.bytes().any(|b| b.is_ascii_alphabetic());
    (secret.len() >= 6 && mixes) || ACCOUNTS.contains(&user)
}

/// Keys and tokens by their look: long runs of letters and digits, hex, and random text.
pub(super) fn random(value: &str) -> Option<Shape> {
    let bytes = value.as_bytes();
    // Sixteen hex digits or more in a run (separators aside): a hash, a key, an id.
    if super::joined_runs(bytes, |b| b.is_ascii_hexdigit())
        .iter()
        .any(|run| run.len() >= 16)
    {
        return Some(Shape::Hex);
    }
    let runs = |split: fn(&u8) -> bool| value.as_bytes().split(split).filter(|r| !r.is_empty());
    // Long runs of letters and digits are keys, hashes or tokens, not names; `/` does not end
    // a run of forty (base64 keys contain it).
    let long = runs(|b| !b.is_ascii_alphanumeric()).any(|r| {
        r.len() >= 20 && r.iter().any(u8::is_ascii_digit) && r.iter().any(u8::is_ascii_alphabetic)
    }) || runs(|b| !(b.is_ascii_alphanumeric() || *b == b'/')).any(|r| r.len() >= 40);
    if long {
        return Some(Shape::Token);
    }
    if runs(|b| !b.is_ascii_alphanumeric()).any(random_segment) {
        return Some(Shape::Random);
    }
    // base64url: `-` and `_` cut it into short pieces, but together they still read random.
    let pieces: Vec<&[u8]> = runs(|b| *b == b'-' || *b == b'_').collect();
    if pieces.len() >= 3 {
        let joined: Vec<u8> = pieces.concat();
        let words = subwords(&joined);
        if joined.len() >= 16 && words >= 6 && joined.len() * 10 < words * 22 {
            return Some(Shape::Random);
        }
    }
    None
}

/// A run of eight letters and digits or more that does not read like words: random text
/// switches between cases and digits every character or two, has consonant clusters no word
/// has, or (base32 seeds) is all capitals and digits.
fn random_segment(segment: &[u8]) -> bool {
    let n = segment.len();
    if n < 8 || !segment.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let words = subwords(segment);
    if words >= 4 && n * 10 < words * 25 {
        return true;
    }
    let consonant = |b: &u8| b"bcdfghjklmnpqrstvwxz".contains(&b.to_ascii_lowercase());
    if segment.windows(5).any(|w| w.iter().all(consonant)) {
        return true;
    }
    let capitals_and_digits = segment
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let digit_groups = segment
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .count();
    if capitals_and_digits && (n >= 16 || (n >= 12 && digit_groups >= 3)) {
        return true;
    }
    // Letters between digits in runs without a vowel (`kx3tq9vm`): not syllables.
    let letter_runs = || segment.split(u8::is_ascii_digit).filter(|r| !r.is_empty());
    let letters: usize = letter_runs().map(<[u8]>::len).sum();
    let vowelless: usize = letter_runs()
        .filter(|r| r.len() >= 2 && !r.iter().any(|b| b"aeiouAEIOU".contains(b)))
        .map(<[u8]>::len)
        .sum();
    digit_groups >= 1 && letters >= 4 && vowelless * 10 >= letters * 4
}

/// How many words a run splits into the way names are written: `Capitalized` or `lower`
/// words, `ACRONYMS`, and numbers (`getUserById` is four, `MTAuMjAu` six).
fn subwords(run: &[u8]) -> usize {
    let (mut i, mut count) = (0, 0);
    while i < run.len() {
        let b = run[i];
        if b.is_ascii_digit() {
            while i < run.len() && run[i].is_ascii_digit() {
                i += 1;
            }
        } else if b.is_ascii_lowercase() {
            while i < run.len() && run[i].is_ascii_lowercase() {
                i += 1;
            }
        } else if b.is_ascii_uppercase() {
            let mut j = i;
            while j < run.len() && run[j].is_ascii_uppercase() {
                j += 1;
            }
            if j < run.len() && run[j].is_ascii_lowercase() && j - i > 1 {
                // `HTTPServer`: `HTTP`, then `Server`.
                count += 1;
                i = j - 1;
                continue;
            }
            i = j;
            while i < run.len() && run[i].is_ascii_lowercase() {
                i += 1;
            }
        } else {
            i += 1;
            continue;
        }
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::subwords;

    #[test]
    fn words_as_names_are_written() {
        for (run, n) in [
            ("getUserById", 4),
            ("HTTPServer", 2),
            ("MTAuMjAuMzAuNDA", 7),
            ("gpt4", 2),
            ("x86", 2),
            ("", 0),
        ] {
            assert_eq!(subwords(run.as_bytes()), n, "{run}");
        }
    }
}
