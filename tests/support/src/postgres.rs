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
        if let Some(url) = std::env::var(SERVER_VARIABLE)
            .ok()
            .filter(|u| !u.is_empty())
        {
            return Postgres { url, cluster: None };
        }
        let dir = crate::target_dir()
            .join("tmp")
            .join(crate::temp_dir("postgres").file_name().unwrap());
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("bash is needed to start PostgreSQL");
        assert!(
            out.status.success(),
            "tests/tools/postgres.sh could not start a cluster"
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Postgres {
            url,
            cluster: Some(dir),
        }
    }

    /// A new empty database named `name` plus a random suffix: its URL.
    pub fn database(&self, name: &str) -> String {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).unwrap();
        let db = format!("{name}_{}", hex::encode(bytes));
        let url = self.url.clone();
        let create = format!("CREATE DATABASE {db}");
        // The blocking client starts a runtime of its own: on a thread of its own too.
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)
                .expect("cannot connect to the tests' PostgreSQL server");
            client.batch_execute(&create).unwrap();
        })
        .join()
        .unwrap();
        with_database(&self.url, &db)
    }
}

/// `url` with its database replaced by `db`: the path before any `?`.
fn with_database(url: &str, db: &str) -> String {
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
                .arg("stop")
                .arg(dir)
                .status();
        }
    }
}
