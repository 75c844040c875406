//! A program that embeds the library, as a Rust tool would: it starts telemetry with its own
//! product name and, with `own`, its own words for the first-run notice, then stops. The tests
//! run it (`tests/all/privacy.rs`) and read the notice it prints.
//!
//! `embedded_notice ENDPOINT IDENTITY_DIR own|default`

use std::time::Duration;

use agent_telemetry::privacy::NoticeWords;
use agent_telemetry::{Consent, Telemetry, TelemetrySettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, home, words] = args.as_slice() else {
        anyhow::bail!("usage: embedded_notice ENDPOINT IDENTITY_DIR own|default");
    };
    let mut settings = TelemetrySettings::new("my-tool", "1.2.0")
        .endpoint(endpoint.as_str())
        .identity_dir(home.as_str())
        .consent(Consent::explicit(true, "the example's own choice"));
    settings.user_choice_dir = None;
    if words == "own" {
        settings = settings.notice_words(
            NoticeWords::program("my-tool")
                .off_command("my-tool telemetry off")
                .off_variable("MY_TOOL_TELEMETRY=0")
                .docs("https://my-tool.example/telemetry"),
        );
    }
    let telemetry = Telemetry::start(settings).await?;
    telemetry.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
