//! The rules one by one: what passes as written, and what is hashed.

use super::*;

fn anonymizer() -> Anonymizer {
    Anonymizer::new(
        b"test-key-0123456789".to_vec(),
        vec!["planner".into()],
        vec!["debug".into()],
        vec!["alice".into()],
    )
}

#[test]
fn plain_identifiers_pass() {
    for ok in [
        "read_file",
        "gpt-4o",
        "anthropic/claude-sonnet-4.5",
        "run",
        "mcp:github",
        "v1.2.3",
        "asia-southeast1",
        "basic-memory",
        "gpt-4o-mini-2024-07-18",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "meta-llama/Llama-3.1-8B-Instruct",
        "claude-3-5-sonnet-20241022",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "amazon.nova-pro-v1:0",
        "gemini-2.0-flash-exp",
        "text-embedding-3-large",
        "Qwen/Qwen2.5-Coder-32B-Instruct",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
        "llama3.1:8b",
        "qwen2.5-coder:7b",
        "@cf/meta/llama-3-8b-instruct",
        "@hf/thebloke/deepseek-coder-6.7b-instruct-awq",
        "mcp__github__create_pull_request",
        "node.js",
        "1.2.3",
        "x86_64",
        "wasm32-wasip2",
        "getUserById",
    ] {
        assert!(is_plain_identifier(ok), "{ok}");
    }
}

#[test]
fn forbidden_shapes_are_replaced() {
    let a = anonymizer();
    for bad in [
        "/home/alice/.ssh/id_rsa",
        "C:/Users/alice",
        "C:\\Users\\alice",
        "https://example.com/x",
        "alice@example.com",
        "sk-proj-abcdefghijklmnop",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "0123456789abcdef0123456789abcdef",
        "192.168.1.20",
        "fe80::1",
        "please summarise my tax return",
        "Error: ENOENT: no such file",
        "../../etc/passwd",
        "home/alice/.ssh/id_rsa",
        "Users/alice/Documents/tax-2023.pdf",
        "10.0.0.5:5432",
        "192.168.1.0/24",
        "db.internal.acme.corp:5432",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "xoxb-1234-5678-abcdef",
    ] {
        let out = a.identifier(bad);
        assert!(
            !is_plain_identifier(bad),
            "{bad} passed the identifier rule"
        );
        assert!(out.starts_with(OTHER_MARKER), "{bad} -> {out}");
        assert_eq!(
            out.len(),
            OTHER_MARKER.len() + 24,
            "only the marker and the hash: {out}"
        );
    }
}

#[test]
fn pseudonyms_are_stable_per_key_and_differ_across_keys() {
    let a = anonymizer();
    let b = Anonymizer::new(b"another-key-98765".to_vec(), vec![], vec![], vec![]);
    assert_eq!(a.pseudonym("session", "s-1"), a.pseudonym("session", "s-1"));
    assert_ne!(a.pseudonym("session", "s-1"), a.pseudonym("session", "s-2"));
    assert_ne!(a.pseudonym("session", "s-1"), b.pseudonym("session", "s-1"));
    assert_ne!(a.pseudonym("session", "x"), a.pseudonym("task", "x"));
}

#[test]
fn agents_are_hashed_unless_allowlisted() {
    let a = anonymizer();
    assert_eq!(a.agent("planner"), "planner");
    assert!(a.agent("alice-private-agent").starts_with("agent_"));
}

#[test]
fn flags_keep_only_allowlisted_names_without_values() {
    let a = anonymizer();
    let flags = vec![
        "--debug".into(),
        "--token=sk-secret".into(),
        "/etc/passwd".into(),
    ];
    assert_eq!(a.flags(&flags), vec!["debug".to_string()]);
}

#[test]
fn flags_are_kept_once_each() {
    let a = anonymizer();
    let flags: Vec<String> = ["--debug", "-v", "--debug=1", "debug"]
        .map(String::from)
        .to_vec();
    assert_eq!(a.flags(&flags), vec!["debug".to_string()]);
}

#[test]
fn costs_must_be_finite_non_negative_and_at_most_a_million_dollars() {
    assert_eq!(cost(0.25), Some(0.25));
    assert_eq!(cost(1_000_000.0), Some(1_000_000.0));
    assert_eq!(cost(1_000_000.01), None);
    assert_eq!(cost(1e308), None);
    assert_eq!(cost(-1.0), None);
    assert_eq!(cost(f64::NAN), None);
    assert_eq!(cost(f64::INFINITY), None);
    assert_eq!(cost(f64::NEG_INFINITY), None);
    assert_eq!(cost(-f64::MIN_POSITIVE), None);
    let zero = cost(-0.0).unwrap();
    assert!(
        zero == 0.0 && zero.is_sign_positive(),
        "-0.0 is sent as 0.0"
    );
}

/// Asserts each value fails the identifier rule (and so would be hashed).
fn refused(values: &[&str]) {
    for v in values {
        assert!(!is_plain_identifier(v), "`{v}` passed the identifier rule");
    }
}

#[test]
fn rule_charset_and_length() {
    refused(&[
        "",
        "a b",
        "tab\there",
        "line\nbreak",
        "semi;colon",
        "quote\"d",
        "back\\slash",
        "percent%20",
        "plus+sign",
        "equals=sign",
        "caf\u{e9}",
        "\u{4e2d}\u{6587}",
        "emoji\u{1f642}",
        "a@b",
    ]);
    // (Not `abc-abc-...`: forty-eight hex digits, separators aside, are a key now.)
    let longest = format!("{}tool", "tool-".repeat(MAX_IDENTIFIER_LEN / 5));
    assert_eq!(longest.len(), MAX_IDENTIFIER_LEN);
    assert_eq!(shape(&longest), None);
    refused(&[&format!("{longest}x")]);
}

#[test]
fn rule_leading_character() {
    // Options, hidden files, absolute paths and addresses start this way; names do not.
    refused(&[
        "-rf", "--token", "-p", ".env", "/tmp", ":memory:", "_private", "~alice",
    ]);
}

#[test]
fn rule_paths_and_urls() {
    refused(&[
        "a/b/c/d",
        "src/main/resources/config",
        "home/alice/.ssh",
        "a//b",
        "x/../y",
        "file:/etc",
        "https://example.com",
        "C:projects",
        "c:/x",
    ]);
    assert!(is_plain_identifier("namespace/name"));
}

#[test]
fn rule_file_names() {
    refused(&[
        "notes.txt",
        "tax-return-2023.pdf",
        "alice/tax.PDF",
        "id_rsa.pub",
        "customers.csv",
        "prod.env",
        "Cargo.lock",
        "model-q4_k_m.gguf",
        "backup.tar.gz",
    ]);
}

#[test]
fn rule_addresses() {
    refused(&[
        // The settled trade-off: a four-part dotted number is an address, not a version.
        "1.2.3.4",
        "10.0.0.5:5432",
        "192.168.1.0/24",
        "fe80::1",
        "2001:db8:85a3:0:0:8a2e:370:7334",
        "db.internal.acme.corp:5432",
        "localhost:8080",
        "gitlab.acme.corp",
        "api.github.com",
        "printer.local",
        "vault.acme.io",
    ]);
    assert!(is_plain_identifier("v1.2.3.4"), "a `v` makes it a version");
}

#[test]
fn rule_secrets() {
    refused(&[
        "sk-ant-api03-abc",
        "sk_live_51HxYz",
        "github_pat_11ABC",
        "glpat-abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        // base64url: `-` and `_` cut it into short runs, its mixture still shows.
        "Zx3-Qp7_Lm9kT2vB8nR4wY6cH1dF5jS0",
        "kTq9-ZbX2_wLm8Rv4Yc7",
    ]);
}

#[test]
fn rule_long_numbers() {
    refused(&[
        "4111111111111111",
        "14155550123",
        "1700000000123",
        "acct-123456789012",
    ]);
    assert!(
        is_plain_identifier("claude-3-5-sonnet-20240620"),
        "dates have 8 digits"
    );
}

#[test]
fn rule_catalog_scopes() {
    assert!(is_plain_identifier("@cf/meta/llama-3-8b-instruct"));
    assert!(is_plain_identifier("@hf/thebloke/zephyr-7b-beta-awq"));
    // Only those two scopes, and what follows still obeys every other rule.
    refused(&[
        "@alice/secret-project",
        "@cf/../../etc",
        "@cf/a/b/c",
        "@cf/notes.txt",
        "cf@x",
        "@",
    ]);
}

#[test]
fn rule_openai_fine_tunes_are_hashed() {
    // They carry the customer's organization and chosen suffix.
    refused(&["ft:gpt-4o-mini-2024-07-18:acme-corp:support-bot:9yzAbC12"]);
    assert!(is_plain_identifier("gpt-4o-mini-2024-07-18"));
}

#[test]
fn rule_redact_words() {
    let a = Anonymizer::new(
        b"k".to_vec(),
        vec!["alice-planner".into(), "planner".into()],
        vec!["alice".into(), "debug".into()],
        vec!["Alice".into(), "bob.smith".into(), "al".into(), " ".into()],
    );
    for named in [
        "alice",
        "ALICE",
        "tool-for-Alice",
        "bob-smith",
        "BobSmith-agent",
        "bob_smith.v2",
    ] {
        assert!(!a.accepts(named), "{named}");
        assert!(a.identifier(named).starts_with(OTHER_MARKER), "{named}");
    }
    // The agent allowlist does not override it; the flag allowlist neither.
    assert!(a.agent("alice-planner").starts_with("agent_"));
    assert_eq!(a.agent("planner"), "planner");
    assert!(a.flags(&["--alice".to_string()]).is_empty());
    // `al` is too short to be a word of its own; `smith` alone is not `bob.smith`.
    for fine in ["algebra", "smith-tool", "bob"] {
        assert!(a.accepts(fine), "{fine}");
    }
}

#[test]
fn coarse_time_is_whole_seconds_rounded_down() {
    assert_eq!(coarse_time_ms(1_700_000_123_456), 1_700_000_123_000);
    assert_eq!(coarse_time_ms(1_700_000_123_999), 1_700_000_123_000);
    assert_eq!(coarse_time_ms(1_700_000_123_000), 1_700_000_123_000);
    assert_eq!(coarse_time_ms(999), 0);
    assert_eq!(coarse_time_ms(u64::MAX) % 1000, 0);
}

#[test]
fn coarse_duration_keeps_two_significant_digits() {
    for (ms, coarse) in [
        (0, 0),
        (7, 7),
        (87, 87),
        (99, 99),
        (100, 100),
        (109, 100),
        (1234, 1200),
        (1299, 1200),
        (86_399_999, 86_000_000),
        (u64::MAX, 18_000_000_000_000_000_000),
    ] {
        assert_eq!(coarse_duration_ms(ms), coarse, "{ms}");
    }
}

/// Asserts each value is hashed for the reason given.
fn refused_as(shape_expected: Shape, values: &[&str]) {
    for v in values {
        assert_eq!(shape(v), Some(shape_expected), "`{v}`");
    }
}

#[test]
fn rule_numbers_that_identify_people_or_payment() {
    refused_as(
        Shape::LongNumber,
        &[
            "4111-1111-1111-1111",
            "4111.1111.1111.1111",
            "call-0151-2345-6789",
            "123456789",
        ],
    );
    refused_as(
        Shape::NationalId,
        &["123-45-6789", "QQ123456C", "12345678Z", "RSSMRA85T10A562S"],
    );
    refused_as(
        Shape::Phone,
        &[
            "555-0123",
            "room.555.0123",
            "555-123-4567",
            "555.123.4567",
            "555_123_4567",
        ],
    );
    refused_as(
        Shape::Iban,
        &[
            "GB82WEST12345698765432",
            "NL91ABNA0417164300",
            "DE89-3704-0044-0532-0130-00",
        ],
    );
    // Versions before dates are not one number; dates alone have eight digits.
    for fine in [
        "claude-haiku-4-5-20251001",
        "gpt-4o-2024-08-06",
        "v1.2.3",
        "1024-x-1024",
    ] {
        assert!(is_plain_identifier(fine), "{fine}");
    }
}

#[test]
fn rule_network_locations_in_any_separator_style() {
    refused_as(
        Shape::Port,
        &["db:5432", "redis:6379", "my-service:8080", "localhost:80"],
    );
    refused_as(
        Shape::IpAddress,
        &[
            "ip-10-0-0-5",
            "db-10.0.0.5",
            "host_192_168_1_20",
            "10-0-0-5-worker",
        ],
    );
    refused_as(
        Shape::HostName,
        &[
            "db.acme.zone",
            "api.example.tech",
            "build.mycorp.systems",
            "printer.office.lan",
        ],
    );
    for fine in [
        "llama3.1:8b",
        "mcp:github",
        "amazon.nova-pro-v1:0",
        "node.js",
        "v1.2.3.4",
    ] {
        assert!(is_plain_identifier(fine), "{fine}");
    }
}

#[test]
fn rule_credentials() {
    refused_as(
        Shape::Credential,
        &[
            "admin:hunter2",
            "root:toor",
            "alice:Passw0rd",
            "postgres:secret",
        ],
    );
    refused_as(
        Shape::Token,
        &[
            "dckr_pat_abcdef",
            "xapp-1-abc",
            "npm_0123456789abcdefABCDEF0123456789ab",
            "pplx-0123456789abcdef0123456789abcdef",
            "ASIAIOSFODNN7EXAMPLE",
        ],
    );
    refused_as(
        Shape::Random,
        &[
            "MTAuMjAuMzAuNDA",
            "aB3xK9pQzL2m",
            "k3j9x2m7q8",
            "JBSWY3DPEHPK3PXP",
        ],
    );
    refused_as(
        Shape::Hex,
        &[
            "deadbeefcafebabe",
            "dead-beef-cafe-babe",
            "DEADBEEFCAFEBABE0000",
        ],
    );
    // Model names that share a prefix or a shape.
    for fine in [
        "pplx-70b-chat",
        "hf-internal-testing",
        "MiniMax-M2.5",
        "Qwen3-235B-A22B",
    ] {
        assert!(is_plain_identifier(fine), "{fine}");
    }
}
