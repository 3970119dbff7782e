//! The host's database: SQLite (a file) or PostgreSQL (a `postgres://` URL), as a few connections.
//!
//! **SQLite** allows one writer at a time; in WAL mode readers never wait for it. So every write (ingest,
//! integration updates, poll state) takes the one writer connection, and lookups (the routing secret of each
//! webhook, the page, the API lists) take any free reader. `synchronous=NORMAL` in WAL mode fsyncs at checkpoints
//! instead of every commit: a power loss can lose the last commits, never corrupt the file.
//!
//! **PostgreSQL** takes concurrent writers, and several host instances may share the database: every connection
//! reads and writes, and the store's unique constraints, row locks and leases keep each event stored once, each
//! refresh single-flight and each poll on one instance (see the library's `store::PostgresStore`).
//!
//! All of it is blocking: call it from `tokio::task::spawn_blocking`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use spark_integrations::store::rusqlite::Connection;
use spark_integrations::store::{PostgresStore, SqliteError, SqliteStore};

use crate::config::{Database, PostgresUrl};
use crate::store::{Store, StoreError};

/// How many reader connections to keep beside the SQLite writer, and how many connections to open to PostgreSQL.
const CONNECTIONS: usize = 4;

/// How many pages the SQLite write-ahead log may hold before the writer copies it into the database itself (SQLite's
/// default is 1,000, some 4 MB, which the writer would reach every few hundred deliveries).
const WRITER_CHECKPOINT_PAGES: i64 = 16_000;

/// The host's database.
#[derive(Debug)]
pub struct Db {
    /// SQLite's one writer; `None` for PostgreSQL, where any connection writes.
    writer: Option<Mutex<Store>>,
    connections: Vec<Mutex<Store>>,
    next: AtomicUsize,
    /// Where to reconnect to when the PostgreSQL server closed a connection.
    postgres: Option<PostgresUrl>,
}

impl Db {
    /// Opens (or creates) the database, migrates it, and tunes it for a server.
    pub fn open(database: &Database) -> Result<Self, StoreError> {
        match database {
            Database::Sqlite(path) => Self::open_sqlite(path).map_err(StoreError::from),
            Database::Postgres(url) => {
                let connections = (0..CONNECTIONS)
                    .map(|_| {
                        Ok(Mutex::new(Store::Postgres(Box::new(PostgresStore::connect(
                            url.expose(),
                        )?))))
                    })
                    .collect::<Result<_, StoreError>>()?;
                Ok(Self {
                    writer: None,
                    connections,
                    next: AtomicUsize::new(0),
                    postgres: Some(url.clone()),
                })
            }
        }
    }

    fn open_sqlite(path: &Path) -> Result<Self, SqliteError> {
        let open = || -> Result<Mutex<Store>, SqliteError> {
            let store = SqliteStore::from_connection(tuned(Connection::open(path)?)?)?;
            Ok(Mutex::new(Store::Sqlite(store)))
        };
        // The writer first: it creates the file and runs the migrations. It copies the log into the database itself
        // only when the log has grown past `WRITER_CHECKPOINT_PAGES`: [`Db::checkpoint`] does it on another thread.
        let writer = open()?;
        if let Store::Sqlite(store) = &*writer.lock().unwrap_or_else(PoisonError::into_inner) {
            store
                .connection()
                .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        }
        let connections = (0..CONNECTIONS).map(|_| open()).collect::<Result<_, _>>()?;
        Ok(Self {
            writer: Some(writer),
            connections,
            next: AtomicUsize::new(0),
            postgres: None,
        })
    }

    /// A connection to write with. Hold it only for the writes themselves, never across an HTTP call.
    pub fn write(&self) -> MutexGuard<'_, Store> {
        match &self.writer {
            // A panic while writing leaves the database consistent (the transaction rolls back on drop): go on.
            Some(writer) => writer.lock().unwrap_or_else(PoisonError::into_inner),
            None => self.any(),
        }
    }

    /// A connection to read with.
    pub fn read(&self) -> MutexGuard<'_, Store> {
        self.any()
    }

    /// Whether this is SQLite, whose write-ahead log [`checkpoint`](Self::checkpoint) copies into the database.
    pub fn is_sqlite(&self) -> bool {
        self.writer.is_some()
    }

    /// SQLite: copies what the write-ahead log holds into the database file, as far as it can without waiting for
    /// anyone (a passive checkpoint, on a reader connection), so that the writer seldom stops to do it between two
    /// groups (it would hold up every delivery waiting for that group). Nothing to do on PostgreSQL. Blocking.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(store) = &*self.read() {
            store
                .connection()
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(|error| StoreError::from(SqliteError::from(error)))?;
        }
        Ok(())
    }

    /// A free connection if there is one, else the next in turn.
    fn any(&self) -> MutexGuard<'_, Store> {
        let free = self
            .connections
            .iter()
            .find_map(|connection| connection.try_lock().ok());
        let guard = free.unwrap_or_else(|| {
            // `open` opens `CONNECTIONS` (at least one) connections.
            let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
            self.connections[index].lock().unwrap_or_else(PoisonError::into_inner)
        });
        self.reconnected(guard)
    }

    /// `guard`, with its PostgreSQL connection replaced by a new one if the server closed it (a restart, a
    /// failover). The request that met the dead connection failed; the ones after it work again. While the server
    /// is still away the closed store stays, and its calls fail until it is back.
    fn reconnected<'a>(&self, mut guard: MutexGuard<'a, Store>) -> MutexGuard<'a, Store> {
        if let (Store::Postgres(store), Some(url)) = (&*guard, &self.postgres)
            && store.is_closed()
        {
            match PostgresStore::connect(url.expose()) {
                Ok(store) => {
                    note("reconnected to PostgreSQL");
                    *guard = Store::Postgres(Box::new(store));
                }
                Err(error) => note(&format!("reconnecting to PostgreSQL: {error}")),
            }
        }
        guard
    }
}

impl Drop for Db {
    /// Closes the connections on a thread of their own: closing a Postgres connection blocks on the client's
    /// internal runtime, which panics inside the host's async runtime (where the last `AppState` is dropped).
    fn drop(&mut self) {
        let connections = std::mem::take(&mut self.connections);
        let writer = self.writer.take();
        let closing = std::thread::spawn(move || drop((connections, writer)));
        if closing.join().is_err() {
            note("closing the database connections failed");
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
pub fn note(message: &str) {
    eprintln!("spark-server: {message}");
}
