//! The store in PostgreSQL: what several collector processes write at once. The tables and
//! their meaning are SQLite's ([`super::SCHEMA`]); what differs is how a row is written (one
//! statement a body, its columns as arrays), how the layout is kept (a table, not
//! `user_version`), and how the processes stay out of each other's way: migrations under an
//! advisory lock, a body's events written in id order (two bodies holding the same events
//! cannot deadlock), and forgotten installations looked up in the database, where every
//! process sees them, rather than in one process's memory.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result, bail};
use postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{FILL_FIRST_SEEN, LAYOUT, daily, first_times, installation_hash, to_estimate};
use crate::ingest::{Fact, known_kind};
use crate::prices::Prices;
use crate::report::db::{dollar_placeholders, postgres_execute};

/// The advisory lock that keeps two processes from migrating the same database at once (an
/// arbitrary number: "agtl" in ASCII).
const MIGRATION_LOCK: i64 = 0x6167_746c;

/// The layout in PostgreSQL. Text the report sorts or groups is `COLLATE "C"`: byte order, as
/// in SQLite, whatever the database's locale.
const SCHEMA: &str = r#"
    CREATE TABLE IF NOT EXISTS agent_telemetry_layout (version BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS events (
        id TEXT COLLATE "C" PRIMARY KEY,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY,
        format TEXT COLLATE "C" NOT NULL,
        occurred_ms BIGINT NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        installation TEXT COLLATE "C" NOT NULL,
        ci BIGINT NOT NULL DEFAULT 0,
        product TEXT COLLATE "C" NOT NULL,
        version TEXT COLLATE "C" NOT NULL,
        os TEXT COLLATE "C" NOT NULL,
        subject TEXT COLLATE "C",
        outcome TEXT COLLATE "C",
        session TEXT COLLATE "C",
        duration_ms BIGINT,
        input_tokens BIGINT,
        output_tokens BIGINT,
        cost_usd DOUBLE PRECISION,
        body TEXT NOT NULL,
        cache_read_tokens BIGINT,
        cache_write_tokens BIGINT,
        estimated_cost_usd DOUBLE PRECISION,
        prices TEXT COLLATE "C"
    );
    CREATE INDEX IF NOT EXISTS events_population ON events (occurred_ms)
        INCLUDE (installation, ci, product, version);
    CREATE INDEX IF NOT EXISTS events_sections ON events (kind, occurred_ms)
        INCLUDE (subject, outcome, duration_ms, input_tokens, output_tokens, cost_usd,
            estimated_cost_usd, prices, session);
    CREATE INDEX IF NOT EXISTS events_by_session ON events (session, kind)
        WHERE session IS NOT NULL;
    CREATE TABLE IF NOT EXISTS uploads (
        upload_id TEXT COLLATE "C" PRIMARY KEY,
        arrival BIGINT GENERATED ALWAYS AS IDENTITY,
        installation TEXT COLLATE "C" NOT NULL,
        ci BIGINT NOT NULL,
        period_start TEXT COLLATE "C" NOT NULL,
        period_ms BIGINT NOT NULL,
        product TEXT COLLATE "C" NOT NULL,
        version TEXT COLLATE "C" NOT NULL,
        os TEXT COLLATE "C" NOT NULL,
        events BIGINT NOT NULL,
        overflow BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS counters (
        upload_id TEXT COLLATE "C" NOT NULL REFERENCES uploads (upload_id),
        period_ms BIGINT NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        subject TEXT COLLATE "C",
        outcome TEXT COLLATE "C",
        count BIGINT NOT NULL,
        duration_ms BIGINT NOT NULL,
        duration_buckets TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        token_buckets TEXT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        costed BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS counters_in_time ON counters (period_ms);
    CREATE INDEX IF NOT EXISTS counters_of_upload ON counters (upload_id);
    CREATE TABLE IF NOT EXISTS first_seen (
        installation TEXT COLLATE "C" NOT NULL,
        product TEXT COLLATE "C" NOT NULL,
        first_ms BIGINT NOT NULL,
        PRIMARY KEY (installation, product)
    );
    CREATE TABLE IF NOT EXISTS batches (
        format TEXT COLLATE "C" NOT NULL,
        received_events BIGINT NOT NULL,
        duplicates BIGINT NOT NULL,
        dropped_events BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS deletions (
        installation_sha256 TEXT COLLATE "C" NOT NULL,
        at_ms BIGINT NOT NULL,
        deleted_events BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS deletions_by_installation ON deletions (installation_sha256);
    -- SQLite's TOTAL: a sum as a double, 0 over no rows, that cannot overflow. The report's
    -- queries are written once for both databases.
    CREATE OR REPLACE AGGREGATE total(double precision)
        (SFUNC = float8pl, STYPE = double precision, INITCOND = '0',
         COMBINEFUNC = float8pl, PARALLEL = SAFE);
"#;

/// A connection to the database `collect --db postgres://...` names.
pub(crate) struct Postgres {
    /// Where to connect again when the server closed the connection (it restarted, or an
    /// administrator ended the session).
    config: postgres::Config,
    tls: MakeRustlsConnect,
    url: String,
    client: Mutex<Connection>,
    /// Set when a write found the connection gone: the next use opens a new one.
    lost: std::sync::atomic::AtomicBool,
}

/// The blocking client, closed where closing may block: its `drop` runs a runtime of its own
/// to say goodbye to the server, which panics on an async thread (a collector dropping its
/// store as it stops), so there it is dropped on a thread of its own.
pub(crate) struct Connection(Option<Client>);

impl std::ops::Deref for Connection {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
            .as_ref()
            .expect("the client is taken only when dropped")
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Client {
        self.0
            .as_mut()
            .expect("the client is taken only when dropped")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(client));
            } else {
                drop(client);
            }
        }
    }
}

/// Where `url` points, without its password: what an error or a log line may show.
pub fn describe(url: &str) -> String {
    match tls_options(url).url.parse::<postgres::Config>() {
        Ok(config) => {
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    postgres::config::Host::Tcp(name) => name.clone(),
                    postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect();
            let port = config
                .get_ports()
                .first()
                .map_or(String::new(), |p| format!(":{p}"));
            format!(
                "PostgreSQL database {} on {}{port}",
                config.get_dbname().unwrap_or("(the user's)"),
                hosts.join(",")
            )
        }
        Err(_) => "a PostgreSQL URL that cannot be read".to_string(),
    }
}

impl Postgres {
    /// Connects to `url` and brings the database to this version's layout. A URL without a
    /// password takes it from `PGPASSWORD`, as `psql` does, so that it need not be on the
    /// command line (where `ps` shows it).
    pub(crate) fn connect(url: &str) -> Result<Postgres> {
        let TlsOptions {
            url: client_url,
            root_cert,
            sslmode,
        } = tls_options(url);
        let mut config: postgres::Config = client_url
            .parse()
            .map_err(|e| anyhow::anyhow!("cannot read the PostgreSQL URL: {e}"))?;
        with_password_from(&mut config, std::env::var("PGPASSWORD").ok());
        // When the URL names no `sslmode`: with a CA named in it, TLS is required (a CA that a
        // man in the middle could skip by refusing TLS would pin nothing); else libpq's
        // PGSSLMODE, if set.
        if !sslmode {
            use postgres::config::SslMode;
            match (
                root_cert.is_some(),
                std::env::var("PGSSLMODE").ok().as_deref(),
            ) {
                (true, _) => config.ssl_mode(SslMode::Require),
                (false, Some("disable")) => config.ssl_mode(SslMode::Disable),
                (false, Some("require" | "verify-ca" | "verify-full")) => {
                    config.ssl_mode(SslMode::Require)
                }
                (false, _) => &mut config,
            };
        }
        let root_cert = root_cert.or_else(|| std::env::var_os("PGSSLROOTCERT").map(Into::into));
        let tls = tls(root_cert.as_deref())?;
        let mut client = open(&config, &tls, url)?;
        migrate(&mut client).context("cannot bring the database to this version's layout")?;
        Ok(Postgres {
            config,
            tls,
            url: url.to_string(),
            client: Mutex::new(Connection(Some(client))),
            lost: false.into(),
        })
    }

    /// The connection, for the report: with memory enough that its aggregates by day and
    /// installation stay in memory rather than spill to disk.
    pub(crate) fn reader(&self) -> Result<MutexGuard<'_, Connection>> {
        let mut client = self.client()?;
        client.batch_execute("SET work_mem = '256MB'")?;
        Ok(client)
    }

    /// The connection, opened again if the server closed it: a collector outlives a restart
    /// of its database (the bodies sent meanwhile got an error and are sent again).
    /// Runs `write` (a transaction) on the connection, and again, up to three times, when
    /// it had no effect and may succeed the next time: PostgreSQL aborted it to break a
    /// deadlock (two processes that waited on each other's rows), or the connection was lost
    /// (the server restarted, or an administrator ended the session), when a new one is
    /// opened. A body whose commit was lost with its answer is stored again as duplicates.
    fn write<T>(&self, mut write: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        let mut tries = 0;
        loop {
            let result = self.client().and_then(|mut c| write(&mut c));
            match result {
                Err(e) if tries < 3 && self.retryable(&e) => tries += 1,
                other => return other,
            }
        }
    }

    fn retryable(&self, e: &anyhow::Error) -> bool {
        use postgres::error::SqlState;
        let Some(e) = e.downcast_ref::<postgres::Error>() else {
            return false;
        };
        let code = e.code();
        if e.is_closed()
            || code == Some(&SqlState::ADMIN_SHUTDOWN)
            || code == Some(&SqlState::CRASH_SHUTDOWN)
        {
            self.lost.store(true, std::sync::atomic::Ordering::Relaxed);
            return true;
        }
        code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
            || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    }

    fn client(&self) -> Result<MutexGuard<'_, Connection>> {
        // A panic while holding the lock leaves at worst a transaction open on the connection,
        // which the next `transaction()` call rolls back first.
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if self.lost.swap(false, std::sync::atomic::Ordering::Relaxed) || client.is_closed() {
            tracing::warn!(database = %describe(&self.url), "the connection was closed; connecting again");
            *client = Connection(Some(open(&self.config, &self.tls, &self.url)?));
        }
        Ok(client)
    }

    pub(crate) fn delete_outside(&self, before: i64, after: i64) -> Result<usize> {
        self.write(|client| {
            let mut tx = deleting(client)?;
            let deleted = daily::delete_outside(
                &mut |sql, args| postgres_execute(&mut tx, sql, args),
                before,
                after,
            )?;
            tx.commit()?;
            Ok(deleted)
        })
    }

    /// The installations of `ids` (by SHA-256) that asked to be forgotten, in any process.
    fn forgotten(
        client: &mut impl postgres::GenericClient,
        ids: &[&str],
    ) -> Result<BTreeSet<String>> {
        let hashes: Vec<String> = ids.iter().map(|id| installation_hash(id)).collect();
        let rows = client.query(
            "SELECT DISTINCT installation_sha256 FROM deletions WHERE installation_sha256 = ANY($1)",
            &[&hashes],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Whether `installation_id` asked to be forgotten.
    pub(crate) fn is_forgotten(&self, installation_id: &str) -> Result<bool> {
        Ok(!Self::forgotten(&mut **self.client()?, &[installation_id])?.is_empty())
    }

    pub(crate) fn forget(&self, installation_id: &str, hash: &str, now_ms: i64) -> Result<u64> {
        self.write(|client| {
        let mut tx = deleting(client)?;
        // Waits for the bodies of this installation being stored, and keeps new ones waiting
        // until the deletion is recorded, when they find it (see `lock_installations`).
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&installation_lock(hash)],
        )?;
        daily::forget(
            &mut |sql, args| postgres_execute(&mut tx, sql, args),
            installation_id,
        )?;
        let mut deleted = tx.execute(
            "DELETE FROM events WHERE installation = $1",
            &[&installation_id],
        )?;
        let counted: i64 = tx
            .query_one(
                "SELECT COALESCE(SUM(events), 0)::BIGINT FROM uploads WHERE installation = $1",
                &[&installation_id],
            )?
            .get(0);
        tx.execute(
            "DELETE FROM counters WHERE upload_id IN
                 (SELECT upload_id FROM uploads WHERE installation = $1)",
            &[&installation_id],
        )?;
        tx.execute(
            "DELETE FROM uploads WHERE installation = $1",
            &[&installation_id],
        )?;
        tx.execute(
            "DELETE FROM first_seen WHERE installation = $1",
            &[&installation_id],
        )?;
        deleted += u64::try_from(counted).unwrap_or(0);
        tx.execute(
            "INSERT INTO deletions (installation_sha256, at_ms, deleted_events) VALUES ($1, $2, $3)",
            &[&hash, &now_ms, &i64::try_from(deleted).unwrap_or(i64::MAX)],
        )?;
        tx.commit()?;
        Ok(deleted)
        })
    }

    /// Stores a body's events (each kept once by id) and the body's row; returns the events
    /// stored and those of forgotten installations, which are not.
    pub(crate) fn store(
        &self,
        format: &str,
        facts: &[Fact],
        reported_drops: i64,
        prices: &Prices,
    ) -> Result<(usize, usize)> {
        let mut installations: Vec<&str> = facts.iter().map(|f| f.installation.as_str()).collect();
        installations.sort_unstable();
        installations.dedup();
        // Id order: two bodies that hold some of the same events (a retry sent to another
        // collector while the first still writes) take their rows' locks in one order.
        let mut order: Vec<&Fact> = facts.iter().collect();
        order.sort_by(|a, b| a.id.cmp(&b.id));
        self.write(|client| {
            let mut tx = client.transaction()?;
            lock_installations(&mut tx, &installations)?;
            let gone = Self::forgotten(&mut tx, &installations)?;
            let kept: Vec<&Fact> = order
                .iter()
                .copied()
                .filter(|f| gone.is_empty() || !gone.contains(&installation_hash(&f.installation)))
                .collect();
            let forgotten = facts.len() - kept.len();
            let new_ids = if kept.is_empty() {
                Vec::new()
            } else {
                let new = insert_facts(&mut tx, format, &kept, prices)?;
                note_first_seen(&mut tx, &kept)?;
                new
            };
            let accepted = new_ids.len();
            let duplicates = kept.len() - accepted;
            tx.execute(
                "INSERT INTO batches (format, received_events, duplicates, dropped_events)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &format,
                    &(facts.len() as i64),
                    &(duplicates as i64),
                    &reported_drops,
                ],
            )?;
            if accepted > 0 {
                // Last: the day tables' rows are the ones every collector updates, so their
                // locks are held for the shortest time.
                fold_new(&mut tx, &new_ids)?;
            }
            tx.commit()?;
            Ok((accepted, forgotten))
        })
    }

    /// Stores a counts-only upload unless its id is stored already: whether it was new, or
    /// `None` when its installation asked to be forgotten.
    pub(crate) fn store_counts(
        &self,
        upload: &agent_telemetry_contract::counts::Upload,
        period_ms: i64,
    ) -> Result<Option<bool>> {
        self.write(|client| {
            let mut tx = client.transaction()?;
            let installation = [upload.installation_id.as_str()];
            lock_installations(&mut tx, &installation)?;
            if !Self::forgotten(&mut tx, &installation)?.is_empty() {
                return Ok(None);
            }
            let new = tx.execute(
            "INSERT INTO uploads (upload_id, installation, ci, period_start, period_ms, product,
                 version, os, events, overflow)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (upload_id) DO NOTHING",
            &[
                &upload.upload_id,
                &upload.installation_id,
                &i64::from(upload.ci),
                &upload.period_start,
                &period_ms,
                &upload.product,
                &upload.product_version,
                &upload.os,
                &i64::try_from(upload.events)?,
                &i64::try_from(upload.overflow)?,
            ],
        )? == 1;
            if new {
                let insert = tx.prepare(
                    "INSERT INTO counters (upload_id, period_ms, kind, subject, outcome, count,
                     duration_ms, duration_buckets, input_tokens, output_tokens, token_buckets,
                     cost_usd, costed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )?;
                for c in &upload.counters {
                    tx.execute(
                        &insert,
                        &[
                            &upload.upload_id,
                            &period_ms,
                            &c.kind,
                            &c.subject,
                            &c.outcome,
                            &i64::try_from(c.count)?,
                            &i64::try_from(c.duration_ms)?,
                            &serde_json::to_string(&c.duration_buckets)?,
                            &i64::try_from(c.input_tokens)?,
                            &i64::try_from(c.output_tokens)?,
                            &serde_json::to_string(&c.token_buckets)?,
                            &c.cost_usd,
                            &i64::try_from(c.costed)?,
                        ],
                    )?;
                }
            }
            tx.commit()?;
            Ok(Some(new))
        })
    }

    pub(crate) fn uploads(&self) -> Result<Vec<(String, u64)>> {
        let rows = self.client()?.query(
            "SELECT period_start, events FROM uploads ORDER BY period_ms, arrival",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    pub(crate) fn bodies(&self) -> Result<Vec<String>> {
        let rows = self.client()?.query(
            "SELECT body FROM events WHERE format = 'native' ORDER BY occurred_ms, arrival",
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(crate) fn facts(&self) -> Result<Vec<super::StoredFact>> {
        let rows = self.client()?.query(
            "SELECT format, id, occurred_ms, kind, installation, product, version, os, subject,
                    outcome, session, duration_ms, input_tokens, output_tokens, cost_usd, body,
                    cache_read_tokens, cache_write_tokens, estimated_cost_usd, prices, ci
             FROM events ORDER BY arrival",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(super::StoredFact {
                    format: r.try_get(0)?,
                    fact: Fact {
                        id: r.try_get(1)?,
                        occurred_ms: r.try_get(2)?,
                        kind: known_kind(r.try_get(3)?).unwrap_or("?"),
                        installation: r.try_get(4)?,
                        product: r.try_get(5)?,
                        version: r.try_get(6)?,
                        os: r.try_get(7)?,
                        subject: r.try_get(8)?,
                        outcome: r.try_get(9)?,
                        session: r.try_get(10)?,
                        duration_ms: r.try_get(11)?,
                        input_tokens: r.try_get(12)?,
                        output_tokens: r.try_get(13)?,
                        cost_usd: r.try_get(14)?,
                        body: r.try_get(15)?,
                        cache_read_tokens: r.try_get(16)?,
                        cache_write_tokens: r.try_get(17)?,
                        ci: r.try_get::<_, i64>(20)? != 0,
                    },
                    estimated_cost_usd: r.try_get(18)?,
                    prices: r.try_get(19)?,
                })
            })
            .collect()
    }

    /// Bodies, events, duplicates, reported drops, deletions and the events they deleted.
    pub(crate) fn counts(&self) -> Result<[u64; 6]> {
        let mut client = self.client()?;
        let b = client.query_one(
            "SELECT COUNT(*), COALESCE(SUM(duplicates), 0)::BIGINT,
                    LEAST(COALESCE(SUM(dropped_events), 0), 9223372036854775807)::BIGINT
             FROM batches",
            &[],
        )?;
        let events: i64 = client.query_one("SELECT COUNT(*) FROM events", &[])?.get(0);
        let d = client.query_one(
            "SELECT COUNT(DISTINCT installation_sha256), COALESCE(SUM(deleted_events), 0)::BIGINT
             FROM deletions",
            &[],
        )?;
        let n = |v: i64| v.max(0) as u64;
        Ok([
            n(b.get(0)),
            n(events),
            n(b.get(1)),
            n(b.get(2)),
            n(d.get(0)),
            n(d.get(1)),
        ])
    }
}

/// A transaction that deletes events and takes them out of the day tables: one snapshot for
/// both (REPEATABLE READ), so what it subtracts is exactly what it deletes. Under READ
/// COMMITTED each statement would see its own: two collectors' retention at once would both
/// subtract the same events (the second after waiting on the first's rows), and an event
/// stored between the subtraction and the DELETE would be deleted without being subtracted.
/// A transaction that finds its rows changed by another since its snapshot fails with a
/// serialization error, and [`Postgres::write`] runs it again on a fresh one.
fn deleting(client: &mut Client) -> Result<postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()?)
}

/// What a URL says of TLS, as libpq reads it.
#[derive(Debug, PartialEq)]
struct TlsOptions {
    /// The URL without what the client does not read itself (`sslrootcert`), and
    /// `sslmode=verify-full` and `verify-ca` read as `require`: the certificate is always
    /// verified.
    url: String,
    /// The CA certificates (PEM) to trust instead of the public ones (`sslrootcert=FILE`).
    root_cert: Option<std::path::PathBuf>,
    /// Whether the URL names an `sslmode`.
    sslmode: bool,
}

fn tls_options(url: &str) -> TlsOptions {
    let mut root_cert = None;
    let mut sslmode = false;
    let mut keep = |pair: &str| -> Option<String> {
        match pair.split_once('=') {
            Some(("sslrootcert", file)) => {
                root_cert = Some(
                    percent_encoding::percent_decode_str(file)
                        .decode_utf8_lossy()
                        .into_owned()
                        .into(),
                );
                None
            }
            Some(("sslmode", mode)) => {
                sslmode = true;
                Some(match mode {
                    "verify-full" | "verify-ca" => "sslmode=require".into(),
                    _ => pair.to_string(),
                })
            }
            _ => Some(pair.to_string()),
        }
    };
    if let Some(scheme) = url.find("://") {
        // The query starts at the first `?` after the user and password, which may hold one.
        let host = url.rfind('@').map_or(scheme + 3, |at| at + 1);
        let Some(mark) = url[host..].find('?').map(|i| host + i) else {
            return TlsOptions {
                url: url.to_string(),
                root_cert: None,
                sslmode: false,
            };
        };
        let (base, query) = (&url[..mark], &url[mark + 1..]);
        let query: Vec<String> = query.split('&').filter_map(&mut keep).collect();
        let url = if query.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", query.join("&"))
        };
        TlsOptions {
            url,
            root_cert,
            sslmode,
        }
    } else {
        let pairs: Vec<String> = url.split_whitespace().filter_map(&mut keep).collect();
        TlsOptions {
            url: pairs.join(" "),
            root_cert,
            sslmode,
        }
    }
}

/// TLS as the client offers it (`sslmode=prefer` unless the URL says otherwise: when the
/// server takes TLS, and never on a Unix socket): rustls, the server's certificate checked
/// against the public roots (Mozilla's), or against those of `root_cert` alone.
fn tls(root_cert: Option<&std::path::Path>) -> Result<MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(file) => {
            let mut read = || -> Result<()> {
                for cert in CertificateDer::pem_file_iter(file)? {
                    roots.add(cert?)?;
                }
                Ok(())
            };
            read().with_context(|| {
                format!("cannot read the CA certificates in {}", file.display())
            })?;
            if roots.is_empty() {
                bail!("{} holds no CA certificate", file.display());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// A new connection to `config`, set up for the collector and the report.
fn open(config: &postgres::Config, tls: &MakeRustlsConnect, url: &str) -> Result<Client> {
    let mut client = config
        .connect(tls.clone())
        .with_context(|| format!("cannot connect to the {}", describe(url)))?;
    // A commit returns before its WAL record is flushed (it is within a fraction of a
    // second): a server crash may lose the last bodies acknowledged, never corrupt what is
    // stored. The durability SQLite's `synchronous=NORMAL` in WAL mode gives, and the flush
    // no longer serializes every collector's commits.
    // The report's queries are short scans and aggregates, over before a JIT-compiled plan
    // would pay back its compiling (measured: a fifth of the models' query).
    client.batch_execute("SET synchronous_commit = off; SET jit = off")?;
    Ok(client)
}

/// `config` with `password` (`PGPASSWORD`) when the URL gave none.
fn with_password_from(config: &mut postgres::Config, password: Option<String>) {
    if config.get_password().is_none()
        && let Some(password) = password.filter(|p| !p.is_empty())
    {
        config.password(password);
    }
}

/// The advisory lock of an installation (by the SHA-256 the deletions keep): its first eight
/// bytes.
fn installation_lock(hash: &str) -> i64 {
    hash.get(..16)
        .and_then(|head| u64::from_str_radix(head, 16).ok())
        .map_or(0, |key| key as i64)
}

/// Takes, until the transaction ends, a shared lock on each installation of a body, which a
/// `forget` of one of them takes exclusively. Without it, under READ COMMITTED, a body could
/// find no deletion, then a `forget` at another collector delete and commit, then the body
/// insert its events: rows of a forgotten installation, kept. With it, a body stored while a
/// `forget` runs waits, and then finds the deletion.
fn lock_installations(tx: &mut postgres::Transaction<'_>, installations: &[&str]) -> Result<()> {
    let mut keys: Vec<i64> = installations
        .iter()
        .map(|id| installation_lock(&installation_hash(id)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    tx.execute(
        "SELECT pg_advisory_xact_lock_shared(k) FROM UNNEST($1::BIGINT[]) AS k",
        &[&keys],
    )?;
    Ok(())
}

/// Keeps the first time of each installation and product of `facts` (in key order, as every
/// collector takes the rows' locks).
fn note_first_seen(tx: &mut postgres::Transaction<'_>, facts: &[&Fact]) -> Result<()> {
    let first = first_times(facts);
    let installations: Vec<&str> = first.iter().map(|f| f.0.as_str()).collect();
    let products: Vec<&str> = first.iter().map(|f| f.1.as_str()).collect();
    let times: Vec<i64> = first.iter().map(|f| f.2).collect();
    tx.execute(
        "INSERT INTO first_seen (installation, product, first_ms)
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[])
         ON CONFLICT (installation, product) DO UPDATE
             SET first_ms = LEAST(first_seen.first_ms, EXCLUDED.first_ms)",
        &[&installations, &products, &times],
    )?;
    Ok(())
}

/// Brings the day tables up to date with the events just stored (by their ids).
fn fold_new(tx: &mut postgres::Transaction<'_>, ids: &[String]) -> Result<()> {
    let new = "events WHERE id = ANY(?1)";
    for sql in [daily::fold_population(new), daily::fold_events(new, 1)] {
        tx.execute(&dollar_placeholders(&sql), &[&ids])?;
    }
    Ok(())
}

/// Inserts `facts` in one statement (each column as an array); returns the ids of those that
/// were new.
fn insert_facts(
    tx: &mut postgres::Transaction<'_>,
    format: &str,
    facts: &[&Fact],
    prices: &Prices,
) -> Result<Vec<String>> {
    let texts = |get: fn(&Fact) -> &str| -> Vec<&str> { facts.iter().map(|f| get(f)).collect() };
    let options = |get: fn(&Fact) -> Option<&str>| -> Vec<Option<&str>> {
        facts.iter().map(|f| get(f)).collect()
    };
    let ints = |get: fn(&Fact) -> Option<i64>| -> Vec<Option<i64>> {
        facts.iter().map(|f| get(f)).collect()
    };
    let formats = vec![format; facts.len()];
    let occurred: Vec<i64> = facts.iter().map(|f| f.occurred_ms).collect();
    let ci: Vec<i64> = facts.iter().map(|f| i64::from(f.ci)).collect();
    let cost: Vec<Option<f64>> = facts.iter().map(|f| f.cost_usd).collect();
    let estimated: Vec<Option<f64>> = facts.iter().map(|f| prices.estimate(f)).collect();
    let consulted: Vec<Option<&str>> = facts
        .iter()
        .map(|f| to_estimate(f).then(|| prices.label()))
        .collect();
    let new = tx.query(
        "INSERT INTO events (id, format, occurred_ms, kind, installation, product, version, os,
             subject, outcome, session, duration_ms, input_tokens, output_tokens, cost_usd, body,
             cache_read_tokens, cache_write_tokens, estimated_cost_usd, prices, ci)
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
             $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[],
             $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::DOUBLE PRECISION[], $16::TEXT[],
             $17::BIGINT[], $18::BIGINT[], $19::DOUBLE PRECISION[], $20::TEXT[], $21::BIGINT[])
         ON CONFLICT (id) DO NOTHING RETURNING id",
        &[
            &texts(|f| &f.id),
            &formats,
            &occurred,
            &texts(|f| f.kind),
            &texts(|f| &f.installation),
            &texts(|f| &f.product),
            &texts(|f| &f.version),
            &texts(|f| &f.os),
            &options(|f| f.subject.as_deref()),
            &options(|f| f.outcome.as_deref()),
            &options(|f| f.session.as_deref()),
            &ints(|f| f.duration_ms),
            &ints(|f| f.input_tokens),
            &ints(|f| f.output_tokens),
            &cost,
            &texts(|f| &f.body),
            &ints(|f| f.cache_read_tokens),
            &ints(|f| f.cache_write_tokens),
            &estimated,
            &consulted,
            &ci,
        ],
    )?;
    Ok(new.iter().map(|r| r.get(0)).collect())
}

/// Creates the tables, or checks that a newer collector did not write them, under a lock
/// that makes collectors starting together migrate one after the other.
fn migrate(client: &mut Client) -> Result<()> {
    // The layout is read first, without a lock: a database already of this layout is left
    // as it is, so a `report` needs no right to change it and takes no lock on its tables.
    if layout(client)? == Some(LAYOUT) {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let version = layout(&mut tx)?;
    if let Some(v) = version
        && v > LAYOUT
    {
        bail!("the database was written by a newer collector (layout {v})");
    }
    let first_seen_made: bool = tx
        .query_one("SELECT to_regclass('first_seen') IS NOT NULL", &[])?
        .get(0);
    let daily_made: bool = tx
        .query_one("SELECT to_regclass('daily_events') IS NOT NULL", &[])?
        .get(0);
    tx.batch_execute(SCHEMA)?;
    tx.batch_execute(&daily::postgres_schema())?;
    if !first_seen_made {
        tx.batch_execute(FILL_FIRST_SEEN)?;
    }
    if !daily_made {
        daily::fill(&mut |sql, args| postgres_execute(&mut tx, sql, args))?;
    }
    tx.execute("DELETE FROM agent_telemetry_layout", &[])?;
    tx.execute(
        "INSERT INTO agent_telemetry_layout (version) VALUES ($1)",
        &[&LAYOUT],
    )?;
    tx.commit()?;
    Ok(())
}

/// The layout the database is of, if it has one.
fn layout(client: &mut impl postgres::GenericClient) -> Result<Option<i64>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('agent_telemetry_layout') IS NOT NULL",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(None);
    }
    Ok(client
        .query_one("SELECT MAX(version) FROM agent_telemetry_layout", &[])?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_pgpassword_when_the_url_has_none() {
        let mut config: postgres::Config = "postgres://someone@host/db".parse().unwrap();
        with_password_from(&mut config, Some("from-env".into()));
        assert_eq!(config.get_password(), Some(&b"from-env"[..]));
        let mut config: postgres::Config = "postgres://someone:given@host/db".parse().unwrap();
        with_password_from(&mut config, Some("from-env".into()));
        assert_eq!(config.get_password(), Some(&b"given"[..]));
        let mut config: postgres::Config = "postgres://someone@host/db".parse().unwrap();
        with_password_from(&mut config, Some(String::new()));
        assert_eq!(config.get_password(), None);
    }

    #[test]
    fn tls_options_libpq_reads_are_taken_out_of_the_url() {
        let options = |url: &str, root_cert: Option<&str>, sslmode: bool| TlsOptions {
            url: url.to_string(),
            root_cert: root_cert.map(Into::into),
            sslmode,
        };
        assert_eq!(
            tls_options(
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Frds.pem&application_name=a"
            ),
            options(
                "postgres://u@h/db?sslmode=require&application_name=a",
                Some("/etc/rds.pem"),
                true
            )
        );
        assert_eq!(
            tls_options("postgres://u@h/db?sslrootcert=/ca.pem"),
            options("postgres://u@h/db", Some("/ca.pem"), false)
        );
        assert_eq!(
            tls_options("host=h user=u sslrootcert=/ca.pem sslmode=verify-ca"),
            options("host=h user=u sslmode=require", Some("/ca.pem"), true)
        );
        assert_eq!(
            tls_options("postgres://u@h/db"),
            options("postgres://u@h/db", None, false)
        );
        assert_eq!(
            tls_options("postgres://u@h/db?sslrootcert=a%20b%2").root_cert,
            Some("a b%2".into())
        );
        // A `?` in the password is not the query's.
        assert_eq!(
            tls_options("postgres://u:p?w@h/db?sslmode=verify-full"),
            options("postgres://u:p?w@h/db?sslmode=require", None, true)
        );
        // Nor does a password that reads `sslmode=` name one.
        assert!(!tls_options("postgres://u:sslmode=x@h/db").sslmode);
    }

    #[test]
    fn an_installation_s_lock_is_the_head_of_its_hash() {
        let hash = installation_hash("install_0000000000000000");
        let head = u64::from_str_radix(&hash[..16], 16).unwrap();
        assert_eq!(installation_lock(&hash), head as i64);
        assert_eq!(installation_lock("not hex"), 0);
    }
}
