//! `collect`: the local collector on loopback; `report`: what it stored, as text, JSON or an
//! HTML page; `demo`: a collector, the bundled example agent run against it, what arrived and
//! its report.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use agent_telemetry::agent::{AgentOptions, run_agent};
use agent_telemetry::shared_engine;
use agent_telemetry::{Consent, Telemetry, TelemetrySettings};
use agent_telemetry_collector::report::{self, Range, Report};
use agent_telemetry_collector::{Collector, CollectorOptions, EventStore, Format, Prices};
use anyhow::{Context, Result, bail};

/// The example agent the demo runs (tests/agents/every-event), built into this binary.
pub const DEMO_AGENT: &[u8] = include_bytes!(env!("AGENT_TELEMETRY_DEMO_AGENT"));

#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// Loopback port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// SQLite file to store events in, or a PostgreSQL database
    /// (postgres://user:password@host:port/database), which several collectors may share
    /// [default: collector.sqlite3 in the data directory].
    #[arg(long, value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
    /// Most the database may hold (e.g. 500M, 1G; K, M, G, T are powers of 1024). Once it is
    /// reached, bodies get 503 with a Retry-After (senders retry later, nothing is lost) until
    /// --retain or the user makes room. A SQLite file only: bound a PostgreSQL database with
    /// the server's quotas [default: no bound].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_db_size: Option<u64>,
    /// Delete events older than this many days, at start and every hour [default: keep all].
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retain: Option<u32>,
    /// Price table (JSON, as host/collector/prices/default.json) to estimate the cost of token
    /// events that report none [default: the table built in].
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

/// `500M`, `1G`, `1048576`: bytes, with an optional K, M, G or T (powers of 1024; `B` or `iB`
/// may follow).
fn parse_size(value: &str) -> Result<u64, String> {
    let v = value.trim();
    let v = v
        .strip_suffix("iB")
        .or_else(|| v.strip_suffix('B'))
        .unwrap_or(v);
    let (digits, shift) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("`{value}`: the unit is one of K, M, G, T")),
            };
            (&v[..i], shift)
        }
        _ => (v, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a size such as 500M or 1G"))?;
    n.checked_mul(1 << shift)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{value}` is out of range"))
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The SQLite file or PostgreSQL URL `collect --db` wrote to [default: collector.sqlite3
    /// in the data directory].
    #[arg(long, value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
    /// Only events at or after this: an RFC 3339 time, a day (2026-12-01) or a span back (7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Print the report as JSON instead of text tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page with charts to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Only this product's events.
    #[arg(long)]
    pub product: Option<String>,
    /// Only this product version's events (with --product, that product's).
    #[arg(long = "version", value_name = "VERSION")]
    pub product_version: Option<String>,
    /// Only events of these kinds (comma-separated or repeated: tool_call, token_usage, ...).
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Rows per section (and models per period over time): the rest are summed in one
    /// `other (K names)` row.
    #[arg(long, value_name = "N", default_value_t = report::DEFAULT_TOP)]
    pub top: usize,
}

/// The data directory's `agent-telemetry` folder.
fn data_dir() -> Result<PathBuf> {
    Ok(dirs::data_dir()
        .context("no data directory; pass --db")?
        .join("agent-telemetry"))
}

/// [`data_dir`], made if missing: for the commands that write there.
fn made_data_dir() -> Result<PathBuf> {
    let dir = data_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `--db` as a PostgreSQL URL, if it is one.
fn postgres_url(db: &std::path::Path) -> Option<&str> {
    db.to_str()
        .filter(|d| agent_telemetry_collector::is_postgres(d))
}

/// The store `--db` names: a PostgreSQL database, or a SQLite file.
fn open_db(db: &std::path::Path) -> Result<EventStore> {
    match postgres_url(db) {
        Some(url) => EventStore::connect(url),
        None => EventStore::open(Some(db)),
    }
}

/// `--db` as output may show it: a PostgreSQL URL without its password.
fn describe_db(db: &std::path::Path) -> String {
    match postgres_url(db) {
        Some(url) => agent_telemetry_collector::describe_postgres_url(url),
        None => db.display().to_string(),
    }
}

/// Where `collect` stores and `report` reads when `--db` is not given.
const DEFAULT_DB: &str = "collector.sqlite3";

pub(crate) async fn collect(args: CollectArgs) -> Result<()> {
    let db = match args.db {
        Some(db) => db,
        None => made_data_dir()?.join(DEFAULT_DB),
    };
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    // A bad table stops it before it listens: estimates from the wrong prices would be stored.
    let prices = args.prices.as_deref().map(Prices::read).transpose()?;
    let store = {
        // PostgreSQL's client blocks: off the async threads.
        let db = db.clone();
        tokio::task::spawn_blocking(move || open_db(&db)).await??
    };
    store.set_max_bytes(args.max_db_size)?;
    if let Some(prices) = prices {
        store.set_prices(prices);
    }
    let label = store.prices().label().to_string();
    let options = CollectorOptions {
        retain: args
            .retain
            .map(|days| Duration::from_secs(u64::from(days) * 86_400)),
        ..CollectorOptions::default()
    };
    let collector = Collector::start_with(bind, store, options).await?;
    println!("collector listening on {}", collector.addr());
    for format in Format::ALL {
        println!(
            "  {:<7} POST {}",
            format.name(),
            collector.endpoint_for(format)
        );
    }
    println!("  (the native path also takes deletion requests: docs/collector.md)");
    println!("storing events in {}", describe_db(&db));
    if let Some(max) = args.max_db_size {
        println!("  at most {max} bytes; once full, bodies get 503 with a Retry-After");
    }
    if let Some(days) = args.retain {
        println!("  deleting events older than {days} days");
    }
    println!("  estimating the cost of token events that report none with prices: {label}");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for ctrl-c")?;
    let store = collector.store().clone();
    let counts = tokio::task::spawn_blocking(move || store.counts()).await??;
    println!(
        "stopping: {} events stored from {} batches ({} duplicates, {} batches rejected, {} properties over the bounds dropped); {} installation(s) forgotten on request ({} events deleted)",
        counts.events,
        counts.batches,
        counts.duplicates,
        counts.rejected_batches,
        counts.dropped_properties,
        counts.deletions,
        counts.deleted_events
    );
    collector.stop().await;
    Ok(())
}

pub(crate) async fn report(args: ReportArgs) -> Result<()> {
    // Reading makes nothing: a missing database is an error, not an empty directory.
    let db = match args.db {
        Some(db) => db,
        None => data_dir()?.join(DEFAULT_DB),
    };
    if postgres_url(&db).is_none() && !db.is_file() {
        bail!(
            "no collector database at {}; `agent-telemetry collect --db {}` writes one",
            db.display(),
            db.display()
        );
    }
    let time = |v: &Option<String>| v.as_deref().map(report::parse_time).transpose();
    let range = Range {
        since: time(&args.since).context("--since")?,
        until: time(&args.until).context("--until")?,
    };
    let filter = report::Filter {
        product: args.product.clone(),
        version: args.product_version.clone(),
        kinds: args.kinds.clone(),
    };
    // PostgreSQL's client blocks: off the async threads.
    let top = args.top;
    let report = tokio::task::spawn_blocking(move || {
        Report::build_filtered(&open_db(&db)?, range, filter, top)
    })
    .await??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report::text::render(&report));
    }
    if let Some(page) = &args.html {
        write_page(page, &report)?;
        eprintln!("wrote {}", page.display());
    }
    Ok(())
}

fn write_page(path: &std::path::Path, report: &Report) -> Result<()> {
    std::fs::write(path, report::html::render(report))
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) async fn demo() -> Result<()> {
    // The demo's database and page stay after it ends, for `report` and a browser; each run
    // starts them afresh.
    let dir = made_data_dir()?;
    let db = dir.join("demo.sqlite3");
    let page = dir.join("demo-report.html");
    for stale in [
        db.clone(),
        dir.join("demo.sqlite3-wal"),
        dir.join("demo.sqlite3-shm"),
    ] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", stale.display()));
            }
            _ => {}
        }
    }
    let collector = Collector::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        EventStore::open(Some(&db))?,
    )
    .await?;
    println!("1. local collector listening on {}", collector.endpoint());

    // The demo's identity lives in a fresh private directory (mkdtemp: no name anyone could
    // guess and plant first), removed when the demo ends.
    let home = tempfile::Builder::new()
        .prefix("agent-telemetry-demo-")
        .tempdir()
        .context("cannot make a temporary directory for the demo")?;
    let mut settings = TelemetrySettings::new("agent-telemetry-demo", env!("CARGO_PKG_VERSION"))
        .endpoint(collector.endpoint())
        .identity_dir(home.path())
        .consent(Consent::explicit(
            true,
            "the demo sends only to its own local collector",
        ));
    // The demo's consent is explicit and it sends only to the collector it started, so the
    // user's persisted choice, which is about sending anywhere, does not apply.
    settings.user_choice_dir = None;
    settings.agent_allowlist = vec!["planner".to_string()];
    settings.flag_allowlist = vec!["debug".to_string()];
    let telemetry = Telemetry::start(settings).await?;

    println!(
        "2. running the bundled example agent (no network; it reports through its recorder import):"
    );
    let options = AgentOptions {
        program_name: "every-event.wasm".to_string(),
        ..AgentOptions::default()
    };
    let exit = run_agent(&shared_engine()?, &telemetry, DEMO_AGENT, &options).await?;
    let report = telemetry.flush(Duration::from_secs(5)).await;
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    let sent = status.component.as_ref().map_or(0, |c| c.sent);
    println!(
        "3. agent exited with {}; the component sent {sent} events in {} request(s) ({} pending after the final flush, {} denied)",
        exit.code, status.requests_allowed, report.pending, status.requests_denied
    );

    let events = collector.store().events()?;
    let counts = collector.store().counts()?;
    println!(
        "4. the collector stored {} events in {} batch(es):",
        counts.events, counts.batches
    );
    if let Some(first) = events.first() {
        println!(
            "   envelope: installation {} | product {} {} | source {} | environment {} | {}/{} | ci {} | schema v{}",
            first.installation_id,
            first.product,
            first.product_version,
            first.source,
            first.environment,
            first.os,
            first.arch,
            first.ci,
            first.schema_version
        );
    }
    println!("{}", report::events_table(&events));
    let summary = Report::build(collector.store(), Range::default())?;
    println!(
        "5. the report of what it stored:\n{}",
        report::text::render(&summary)
    );
    write_page(&page, &summary)?;
    collector.stop().await;
    drop(home);
    if events.is_empty() {
        bail!("the collector received no events");
    }
    println!("6. the report as a page with charts: {}", page.display());
    println!(
        "   again, or as JSON: agent-telemetry report --db {} [--json]",
        db.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_bytes_or_with_a_unit() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("64kB"), Ok(64 << 10));
        for bad in ["", "0", "1X", "G", "-1M", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
