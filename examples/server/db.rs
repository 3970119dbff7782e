//! The SQLite database: one writer connection behind a mutex, and a few reader connections beside it.
//!
//! SQLite allows one writer at a time; in WAL mode readers never wait for it. So every write (ingest, integration
//! updates, poll state) takes the writer, and lookups (the routing secret of each webhook, the page, the API lists)
//! take any free reader. `synchronous=NORMAL` in WAL mode fsyncs at checkpoints instead of every commit: a power
//! loss can lose the last commits, never corrupt the file. All of it is blocking: call it from
//! `tokio::task::spawn_blocking`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use spark_integrations::store::rusqlite::Connection;
use spark_integrations::store::{SqliteError, SqliteStore};

/// How many reader connections to keep.
const READERS: usize = 4;

/// The host's database.
#[derive(Debug)]
pub(crate) struct Db {
    writer: Mutex<SqliteStore>,
    readers: Vec<Mutex<SqliteStore>>,
    next_reader: AtomicUsize,
}

impl Db {
    /// Opens (or creates) the database at `path`, migrates it, and tunes it for a server.
    pub(crate) fn open(path: &Path) -> Result<Self, SqliteError> {
        // The writer first: it creates the file and runs the migrations.
        let writer = SqliteStore::from_connection(tuned(Connection::open(path)?)?)?;
        let readers = (0..READERS)
            .map(|_| {
                Ok(Mutex::new(SqliteStore::from_connection(tuned(Connection::open(
                    path,
                )?)?)?))
            })
            .collect::<Result<_, SqliteError>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The writer connection. Hold it only for the writes themselves, never across an HTTP call.
    pub(crate) fn write(&self) -> MutexGuard<'_, SqliteStore> {
        // A panic while writing leaves SQLite consistent (the transaction rolls back on drop): keep going.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reader connection: a free one if there is one, else the next in turn.
    pub(crate) fn read(&self) -> MutexGuard<'_, SqliteStore> {
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len().max(1);
        match self.readers.get(index) {
            Some(reader) => reader.lock().unwrap_or_else(PoisonError::into_inner),
            None => self.write(),
        }
    }
}

/// WAL, `synchronous=NORMAL`, and a busy timeout for the rare checkpoint contention.
fn tuned(connection: Connection) -> Result<Connection, SqliteError> {
    // `journal_mode` answers with the mode now in force, so it is a query, not an update.
    let mode: String = connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // An in-memory or read-only database cannot use WAL; it still works, only slower under load.
        note(&format!("sqlite journal_mode is {mode}, not wal"));
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

/// Where the host's few operational notes go: standard error, one line each.
#[allow(clippy::print_stderr, reason = "the example host logs to standard error")]
pub(crate) fn note(message: &str) {
    eprintln!("spark-server: {message}");
}
