//! The report's queries run on SQLite and on PostgreSQL alike: each is written once, in what
//! both accept (`?N` placeholders, rewritten to `$N` for PostgreSQL; `COUNT(*) FILTER`;
//! `TOTAL`, which the PostgreSQL layout defines), and its rows read through [`Row`], which
//! borrows each value from the driver's row.

use std::cell::RefCell;

use anyhow::Result;

/// A database the report reads.
pub(crate) enum Db<'a> {
    /// A SQLite connection.
    Sqlite(&'a rusqlite::Connection),
    /// A PostgreSQL connection (queries need it mutably; the report reads one at a time).
    Postgres(RefCell<&'a mut postgres::Client>),
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

impl Arg {
    /// The value as SQLite binds it.
    pub(crate) fn sqlite(&self) -> rusqlite::types::Value {
        match self {
            Arg::Int(i) => rusqlite::types::Value::Integer(*i),
            Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
        }
    }

    /// The value as PostgreSQL binds it.
    pub(crate) fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            Arg::Int(i) => i,
            Arg::Text(t) => t,
        }
    }
}

/// Runs `sql` (`?N` placeholders) with `args` on SQLite: the rows it changed.
pub(crate) fn sqlite_execute(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg],
) -> Result<usize> {
    // Cached: the day tables' folds run with every body stored.
    Ok(conn
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(args.iter().map(Arg::sqlite)))?)
}

/// Runs `sql` (`?N` placeholders) with `args` on PostgreSQL: the rows it changed.
pub(crate) fn postgres_execute(
    client: &mut impl postgres::GenericClient,
    sql: &str,
    args: &[Arg],
) -> Result<usize> {
    let params: Vec<_> = args.iter().map(Arg::postgres).collect();
    Ok(client.execute(&dollar_placeholders(sql), &params)? as usize)
}

/// One row of a result.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Db<'_> {
    /// Whether a query that would return every event should group them in the database
    /// instead: PostgreSQL, where each row costs more to send to the report than to group
    /// (and it groups in parallel); not SQLite, whose rows are read in-process, where a hash
    /// in Rust beats its sorting `GROUP BY`.
    pub(crate) fn groups(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs `sql` with `args`, calling `each` on every row as it arrives (PostgreSQL's rows
    /// are streamed, not gathered).
    pub(crate) fn each(
        &self,
        sql: &str,
        args: &[Arg],
        mut each: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql)?;
                let mut rows =
                    stmt.query(rusqlite::params_from_iter(args.iter().map(Arg::sqlite)))?;
                while let Some(r) = rows.next()? {
                    each(&Row::Sqlite(r))?;
                }
            }
            Db::Postgres(client) => {
                use postgres::fallible_iterator::FallibleIterator;
                let mut client = client.borrow_mut();
                let sql = dollar_placeholders(sql);
                let mut rows = client.query_raw(&sql, args.iter().map(Arg::postgres))?;
                while let Some(r) = rows.next()? {
                    each(&Row::Postgres(&r))?;
                }
            }
        }
        Ok(())
    }

    /// Every row of `sql`, each made into a `T` by `make`.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        args: &[Arg],
        mut make: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, args, |r| {
            out.push(make(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The one row of `sql` (an aggregate), made into a `T` by `make`.
    pub(crate) fn one<T>(
        &self,
        sql: &str,
        args: &[Arg],
        make: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.rows(sql, args, make)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("the query returned no row"))
    }
}

impl Row<'_> {
    /// An integer that may be NULL (SQLite's integers, PostgreSQL's `BIGINT` or `INTEGER`).
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(match self {
            Row::Sqlite(r) => r.get(i)?,
            Row::Postgres(r) => match r.try_get::<_, Option<i64>>(i) {
                Ok(v) => v,
                Err(_) => r.try_get::<_, Option<i32>>(i)?.map(i64::from),
            },
        })
    }

    /// An integer, NULL read as 0.
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        Ok(self.opt_int(i)?.unwrap_or(0))
    }

    /// A count: an integer, never below 0.
    pub(crate) fn count(&self, i: usize) -> Result<u64> {
        Ok(self.int(i)?.max(0) as u64)
    }

    /// A count summed as a float (`TOTAL`), never below 0.
    pub(crate) fn sum(&self, i: usize) -> Result<u64> {
        Ok(self.float(i)?.max(0.0) as u64)
    }

    /// A real number that may be NULL.
    pub(crate) fn opt_float(&self, i: usize) -> Result<Option<f64>> {
        Ok(match self {
            Row::Sqlite(r) => r.get(i)?,
            Row::Postgres(r) => r.try_get(i)?,
        })
    }

    /// A real number, NULL read as 0.
    pub(crate) fn float(&self, i: usize) -> Result<f64> {
        Ok(self.opt_float(i)?.unwrap_or(0.0))
    }

    /// Text that may be NULL, borrowed from the row.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<&str>> {
        Ok(match self {
            Row::Sqlite(r) => match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => None,
                v => Some(v.as_str()?),
            },
            Row::Postgres(r) => r.try_get(i)?,
        })
    }

    /// Text, NULL read as empty.
    pub(crate) fn text(&self, i: usize) -> Result<&str> {
        Ok(self.opt_text(i)?.unwrap_or(""))
    }
}

/// `sql` with SQLite's `?N` placeholders written as PostgreSQL's `$N` (the queries hold no
/// `?` in a string).
pub(crate) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            super::dollar_placeholders("a >= ?1 AND b IN (?12, ?3) AND c = '?'"),
            "a >= $1 AND b IN ($12, $3) AND c = '?'"
        );
    }
}
