//! The embedded default store: one SQLite database file (bundled SQLite through `rusqlite`) in
//! write-ahead-log mode.
//!
//! Why SQLite: it is the most widely deployed and tested embedded database, its file format is
//! stable and readable by any tool (`sqlite3 docs.db 'select doc, length(data) from updates'`),
//! and its WAL mode gives exactly the trade a collaborative server wants: a commit is one
//! append to the log, so the journal's group commits cost tens of microseconds, and with
//! `synchronous=NORMAL` a committed transaction survives the process being killed (the log is
//! in the operating system's hands once `write` returns); `Sync::Full` adds an `fsync` per
//! commit for machine crashes and power loss.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, Stored, Write};
use crate::error::{Error, Result};

/// How far a commit goes before it counts as done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sync {
    /// Written to the log (survives the process being killed, not a power loss).
    #[default]
    Normal,
    /// Written and `fsync`ed (survives a power loss).
    Full,
}

/// Documents in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapshots (
    doc   TEXT PRIMARY KEY NOT NULL,
    state BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS updates (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    doc    TEXT NOT NULL,
    update_ BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_doc ON updates (doc, id);
";

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, with [`Sync::Normal`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Sync::Normal)
    }

    /// Opens (or creates) the database file at `path` with the given commit durability.
    ///
    /// The file is locked for this process alone (SQLite's exclusive locking mode): the
    /// journal assumes it is the only writer, so a second process on the same file is refused
    /// with a clear error instead of corrupting what the first one compacts.
    pub fn open_with(path: impl AsRef<Path>, sync: Sync) -> Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // The first write takes the lock, and exclusive mode keeps it.
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE; COMMIT;") {
            return Err(Error::store(format!(
                "{} is in use by another process ({e}): give each server a data directory of its own",
                path.display()
            )));
        }
        Self::setup(conn, sync)
    }

    /// A database that lives in memory (for tests).
    pub fn in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?, Sync::Normal)
    }

    fn setup(conn: Connection, sync: Sync) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match sync {
                Sync::Normal => "NORMAL",
                Sync::Full => "FULL",
            },
        )?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// The number of updates stored for `doc` since its last compaction.
    pub fn update_count(&self, doc: &str) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM updates WHERE doc = ?1",
            params![doc],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl Store for SqliteStore {
    fn load(&mut self, doc: &str) -> Result<Stored> {
        let tx = self.conn.transaction()?;
        let state = tx
            .query_row(
                "SELECT state FROM snapshots WHERE doc = ?1",
                params![doc],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?;
        let updates = {
            let mut stmt =
                tx.prepare_cached("SELECT update_ FROM updates WHERE doc = ?1 ORDER BY id")?;
            let rows = stmt.query_map(params![doc], |r| r.get::<_, Vec<u8>>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        tx.commit()?;
        Ok(Stored { state, updates })
    }

    fn write(&mut self, batch: &[Write<'_>]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut append =
                tx.prepare_cached("INSERT INTO updates (doc, update_) VALUES (?1, ?2)")?;
            let mut clear = tx.prepare_cached("DELETE FROM updates WHERE doc = ?1")?;
            let mut snapshot = tx.prepare_cached(
                "INSERT INTO snapshots (doc, state) VALUES (?1, ?2)
                 ON CONFLICT (doc) DO UPDATE SET state = excluded.state",
            )?;
            for w in batch {
                match *w {
                    Write::Append { doc, update } => {
                        append.execute(params![doc, update])?;
                    }
                    Write::Compact { doc, state } => {
                        clear.execute(params![doc])?;
                        snapshot.execute(params![doc, state])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn appends_load_in_order_and_compaction_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.db");
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.load("a").unwrap(), Stored::default());
        s.write(&[
            Write::Append {
                doc: "a",
                update: b"1",
            },
            Write::Append {
                doc: "b",
                update: b"x",
            },
            Write::Append {
                doc: "a",
                update: b"2",
            },
        ])
        .unwrap();
        assert_eq!(
            s.load("a").unwrap().updates,
            vec![b"1".to_vec(), b"2".to_vec()]
        );
        s.write(&[
            Write::Compact {
                doc: "a",
                state: b"12",
            },
            Write::Append {
                doc: "a",
                update: b"3",
            },
        ])
        .unwrap();
        drop(s);
        // Reopened: what was committed is there.
        let mut s = SqliteStore::open(&path).unwrap();
        let a = s.load("a").unwrap();
        assert_eq!(a.state.as_deref(), Some(&b"12"[..]));
        assert_eq!(a.updates, vec![b"3".to_vec()]);
        assert_eq!(s.update_count("a").unwrap(), 1);
        assert_eq!(s.load("b").unwrap().updates, vec![b"x".to_vec()]);
    }

    #[test]
    fn a_second_opener_of_the_same_file_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.db");
        let first = SqliteStore::open(&path).unwrap();
        let second = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(second.contains("in use by another process"), "{second}");
        drop(first);
        assert!(SqliteStore::open(&path).is_ok());
    }
}
