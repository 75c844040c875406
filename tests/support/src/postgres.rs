//! A PostgreSQL server for the tests and benches that store in one: the server
//! `AGENT_TELEMETRY_TEST_POSTGRES` names (a URL to a database its user may create databases
//! in; `.ci/run` starts one), or else a throwaway cluster of this process's own, started by
//! tests/tools/postgres.sh (which installs Debian's server when it is missing) and stopped when
//! the [`Postgres`] is dropped. Each caller makes its own database in it.

use std::path::PathBuf;

/// A PostgreSQL server to make databases in.
pub struct Postgres {
    /// The URL of its `postgres` database (or of the one named by the variable).
    url: String,
    /// The cluster this process started, stopped on drop.
    cluster: Option<PathBuf>,
    /// Whether dropping it keeps the cluster's files (see [`Postgres::kept`]).
    keep: bool,
}

/// The variable that names a running server instead of a cluster of the tests' own.
pub const SERVER_VARIABLE: &str = "AGENT_TELEMETRY_TEST_POSTGRES";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/postgres.sh")
}

impl Postgres {
    /// The server of [`SERVER_VARIABLE`], or a cluster started now (blocks for a second or
    /// two; call it off the async threads or before the runtime).
    pub fn start() -> Postgres {
        let dir = crate::target_dir()
            .join("tmp")
            .join(crate::temp_dir("postgres").file_name().unwrap());
        Postgres::at(&dir, false)
    }

    /// A cluster in `dir` that outlives this value: started (made the first time) now,
    /// stopped when dropped with its files kept, for data generated once and read by many
    /// runs (the benches'). The server of [`SERVER_VARIABLE`] when that is set.
    pub fn kept(dir: &std::path::Path) -> Postgres {
        Postgres::at(dir, true)
    }

    /// The server of [`SERVER_VARIABLE`], or a cluster in `dir` started now; `keep`: its
    /// files are kept when it is stopped.
    fn at(dir: &std::path::Path, keep: bool) -> Postgres {
        if let Some(url) = std::env::var(SERVER_VARIABLE)
            .ok()
            .filter(|u| !u.is_empty())
        {
            return Postgres {
                url,
                cluster: None,
                keep,
            };
        }
        Postgres {
            url: run_script("start", dir),
            cluster: Some(dir.to_path_buf()),
            keep,
        }
    }

    /// A cluster of this process's own that also listens on 127.0.0.1, where it takes TLS
    /// only (server certificate `cert`, its key `key`: PEM files): the server (reached on its
    /// socket, to make databases) and the URL of its `postgres` database over TLS. Never the
    /// server of [`SERVER_VARIABLE`], which need not take TLS.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> (Postgres, String) {
        let dir = crate::target_dir()
            .join("tmp")
            .join(crate::temp_dir("postgres-tls").file_name().unwrap());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port()
            .to_string();
        let out = run_script_with(
            "start-tls",
            &dir,
            &[port.as_ref(), cert.as_os_str(), key.as_os_str()],
        );
        let (socket, tls) = out.split_once('\n').expect("start-tls prints two URLs");
        let server = Postgres {
            url: socket.to_string(),
            cluster: Some(dir),
            keep: false,
        };
        (server, tls.trim().to_string())
    }

    /// The URL of `name`, a database of this server that may or may not exist yet.
    pub fn url_of(&self, name: &str) -> String {
        with_database(&self.url, name)
    }

    /// Whether the database `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        let name = name.to_string();
        self.on_server(move |client| {
            client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .unwrap()
                .is_some()
        })
    }

    /// Runs `sql` (`CREATE DATABASE`, `DROP DATABASE`...) in the server's `postgres`
    /// database.
    pub fn execute(&self, sql: &str) {
        let sql = sql.to_string();
        self.on_server(move |client| client.batch_execute(&sql).unwrap())
    }

    /// `work` with a client of the server's first database, on a thread of its own (the
    /// blocking client starts a runtime of its own, which an async thread must not).
    fn on_server<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
    ) -> T {
        let url = self.url.clone();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)
                .expect("cannot connect to the PostgreSQL server");
            work(&mut client)
        })
        .join()
        .unwrap()
    }

    /// A new empty database named `name` plus a random suffix: its URL.
    pub fn database(&self, name: &str) -> String {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).unwrap();
        let db = format!("{name}_{}", hex::encode(bytes));
        self.execute(&format!("CREATE DATABASE {db}"));
        with_database(&self.url, &db)
    }
}

/// Runs tests/tools/postgres.sh `action` on `dir`: what it printed.
fn run_script(action: &str, dir: &std::path::Path) -> String {
    run_script_with(action, dir, &[])
}

/// Runs tests/tools/postgres.sh `action` on `dir` with `more` arguments: what it printed.
fn run_script_with(action: &str, dir: &std::path::Path, more: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new("bash")
        .arg(script())
        .arg(action)
        .arg(dir)
        .args(more)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("bash is needed to run tests/tools/postgres.sh");
    assert!(
        out.status.success(),
        "tests/tools/postgres.sh {action} {} failed",
        dir.display()
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `url` with its database replaced by `db`: the path before any `?`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster {
            let _ = std::process::Command::new("bash")
                .arg(script())
                .arg(if self.keep { "halt" } else { "stop" })
                .arg(dir)
                .status();
        }
    }
}
