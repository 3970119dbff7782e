//! [`PostgresStore`]: the storage traits on PostgreSQL, behind the `postgres` feature, for hosts that run several
//! instances against one shared database.
//!
//! # Why the `postgres` crate
//!
//! The storage traits are synchronous (`&self` / `&mut self` methods, no futures), so this store uses the blocking
//! client of rust-postgres ([`postgres`], re-exported as `store::postgres`). It runs its async core on a small
//! runtime of its own, hidden inside the client: nothing async shows in this crate's API, and a host needs no
//! runtime of its own. A host that is async already runs the store on a blocking thread (`spawn_blocking`), or
//! implements the traits itself over its own pool. Dropping a store closes its connection, which blocks too: drop
//! it outside the async runtime as well (the client panics when closed on a runtime thread).
//!
//! [`PostgresStore::connect`] opens a connection without TLS (for a database on the same host or a private
//! network); for TLS, connect a [`postgres::Client`] with the connector of your choice and hand it to
//! [`PostgresStore::from_client`]. One store is one connection: give each worker thread its own.
//!
//! # Schema
//!
//! The same tables as the SQLite store: `objects` unique on (integration, key), `events` unique on (integration,
//! source_id) and referencing their actor and target objects, `blocks` referencing their event, `integrations` with
//! their polling state, token version and leases. Times are `timestamptz` (microseconds: the finest any provider
//! sends; nanoseconds are cut), embeddings `real[]`, metadata, configuration and cursors `json` (kept as written,
//! and unlike `jsonb` it accepts every string JSON can hold, `\u0000` included; cast to `jsonb` to query it). The
//! version lives in a `schema_version` table; opening a store runs the missing migrations in order, in one
//! transaction, under an advisory lock on the current schema, so instances that start together do not race.
//! Tables are created in the connection's current schema (the first of its `search_path`).
//!
//! # Several instances at once
//!
//! - **Events exactly once**: an event is inserted with `ON CONFLICT (integration_id, source_id) DO NOTHING`. Under
//!   `READ COMMITTED` an insert that meets the same event inserted by a transaction still in flight waits for it; if
//!   that one commits, the insert does nothing and [`insert_event`](ActivityTransaction::insert_event) answers
//!   `None` (so [`ingest`](super::ingest) rolls back and counts a duplicate), and if it rolls back, the insert goes
//!   ahead. No unique violation ever reaches the caller.
//! - **Objects lose no update**: objects are written with `ON CONFLICT (integration_id, key) DO UPDATE`, a single
//!   atomic statement. A transaction keeps its objects until it inserts its event (or commits), then writes them
//!   in key order: every transaction locks objects in the same order, so two ingests that share an actor and a
//!   target cannot deadlock. An object equal to its stored copy is not written, and so not locked: ingests that
//!   share an unchanged actor or target run side by side. A duplicate event is detected before any object is
//!   written when it is already committed. The [`ObjectChange`](super::ObjectChange) an upsert reports is what the instance saw when it read
//!   the stored object: two instances that create the same object at once may both count it as created.
//! - **OAuth states once**: the store is a [`StateLedger`](crate::oauth::StateLedger) over `oauth_states`, whose
//!   primary key accepts each `state` once across instances.
//! - **Token refresh** and **poll leases**: row locks (`SELECT ... FOR UPDATE`, `FOR UPDATE SKIP LOCKED`) with
//!   compare-and-swap updates; see [`IntegrationStore`](super::IntegrationStore).
//!
//! Text columns cannot hold the NUL character in PostgreSQL: an event whose title or content holds one fails to be
//! stored with an error (JSON columns are not affected).
//!
//! ```no_run
//! use spark_integrations::store::{ingest, ActivityStore, EventQuery, PostgresStore};
//! # let events: Vec<spark_integrations::Event> = Vec::new();
//!
//! let mut store = PostgresStore::connect("postgres://spark@127.0.0.1/spark")?;
//! let report = ingest(&mut store, "integration-1", &events)?;
//! let recent = store.recent_events(&EventQuery::latest(20))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod activity;
mod batch;
mod inbox;
mod integrations;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use postgres::types::FromSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};

pub use activity::PostgresTransaction;

/// What goes wrong in [`PostgresStore`]: a [`DatabaseError`](super::DatabaseError) around the `postgres` client's
/// error.
pub type PostgresError = super::DatabaseError<postgres::Error>;

/// Migrations, in order: migration `n` (1-based) takes the schema from version `n - 1` to `n`. The versions match
/// the SQLite store's.
const MIGRATIONS: &[&str] = &[
    // 1: activity.
    "CREATE TABLE objects (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        integration_id TEXT NOT NULL,
        key TEXT NOT NULL,
        concept TEXT NOT NULL,
        type TEXT NOT NULL,
        title TEXT,
        content TEXT,
        metadata JSON NOT NULL,
        url TEXT,
        image_url TEXT,
        time TIMESTAMPTZ,
        embeddings REAL[],
        UNIQUE (integration_id, key)
    );
    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        integration_id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        time TIMESTAMPTZ NOT NULL,
        service TEXT NOT NULL,
        domain TEXT NOT NULL,
        action TEXT NOT NULL,
        value BIGINT,
        value_multiplier BIGINT NOT NULL,
        value_unit TEXT,
        actor_id BIGINT NOT NULL REFERENCES objects (id),
        actor_metadata JSON NOT NULL,
        target_id BIGINT NOT NULL REFERENCES objects (id),
        target_metadata JSON NOT NULL,
        event_metadata JSON NOT NULL,
        embeddings REAL[],
        UNIQUE (integration_id, source_id)
    );
    CREATE INDEX events_by_time ON events (time DESC, id DESC);
    CREATE INDEX events_by_integration_time ON events (integration_id, time DESC, id DESC);
    CREATE TABLE blocks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        time TIMESTAMPTZ,
        title TEXT,
        content TEXT,
        url TEXT,
        media_url TEXT,
        value BIGINT,
        value_multiplier BIGINT NOT NULL,
        value_unit TEXT,
        embeddings REAL[],
        UNIQUE (event_id, position)
    );",
    // 2: integrations and their polling state.
    "CREATE TABLE integrations (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        service TEXT NOT NULL,
        display_name TEXT NOT NULL,
        account_id TEXT,
        access_token TEXT,
        refresh_token TEXT,
        expiry TIMESTAMPTZ,
        refresh_expiry TIMESTAMPTZ,
        configuration JSON,
        routing_secret TEXT,
        routing_key TEXT,
        poll_cursor JSON,
        next_poll_at TIMESTAMPTZ,
        last_polled_at TIMESTAMPTZ,
        last_poll_error TEXT,
        UNIQUE (service, routing_key)
    );
    CREATE INDEX integrations_due ON integrations (service, next_poll_at);",
    // 3: token versions, refresh leases and poll leases, for several instances on one database.
    "ALTER TABLE integrations
        ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN refresh_holder TEXT,
        ADD COLUMN refresh_lease_until TIMESTAMPTZ,
        ADD COLUMN poll_holder TEXT,
        ADD COLUMN poll_lease_until TIMESTAMPTZ;",
    // 4: OAuth states already accepted, for instances that share the ledger.
    "CREATE TABLE oauth_states (
        state_id TEXT PRIMARY KEY,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);",
    // 5: the inbox of kept deliveries.
    "CREATE TABLE inbox (
        origin TEXT NOT NULL,
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        integration_id TEXT NOT NULL,
        service TEXT NOT NULL,
        event TEXT,
        delivery_id TEXT,
        received_at TIMESTAMPTZ NOT NULL,
        body BYTEA NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        outcome JSON,
        next_attempt_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX inbox_pending ON inbox (status, id);
    CREATE INDEX inbox_by_update ON inbox (status, updated_at);",
    // 6: the rest of an integration's token set (type, scopes, user token, ids), as JSON.
    "ALTER TABLE integrations ADD COLUMN token_details TEXT;",
];

/// The first key of the advisory lock taken while migrating ("SPK1"); the second is the schema's name hashed.
const MIGRATION_LOCK: i32 = 0x5350_4b31;

// Every migration is counted in the public version.
const _: () = assert!(MIGRATIONS.len() as i64 == super::SCHEMA_VERSION);

/// The storage traits on one PostgreSQL connection.
pub struct PostgresStore {
    /// The connection and its prepared statements. The blocking client needs `&mut` even to read, and the traits
    /// read through `&self`: the mutex is never contended by this store itself.
    inner: Mutex<Inner>,
}

struct Inner {
    client: Client,
    statements: Statements,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects without TLS to the database at `url` (`postgres://user:password@host:port/database`, or the
    /// `key=value` form) and migrates its schema to the current version.
    ///
    /// # Errors
    ///
    /// When the connection fails, a migration fails, or the schema is newer than this crate's.
    pub fn connect(url: &str) -> Result<Self, PostgresError> {
        Self::from_client(Client::connect(url, NoTls)?)
    }

    /// Uses a connected client (with TLS, or with a `search_path` of your choice), migrating its schema to the
    /// current version.
    ///
    /// # Errors
    ///
    /// When a migration fails, or the schema is newer than this crate's.
    pub fn from_client(mut client: Client) -> Result<Self, PostgresError> {
        migrate(&mut client)?;
        Ok(Self {
            inner: Mutex::new(Inner {
                client,
                statements: Statements::default(),
            }),
        })
    }

    /// Runs `f` with the connection, for tables of the host's own beside the store's (its users, its sessions): one
    /// database, one backup. Leave the store's own tables to the store: writing them directly can break its
    /// invariants.
    pub fn with_client<R>(&self, f: impl FnOnce(&mut Client) -> R) -> R {
        f(&mut self.lock().client)
    }

    /// The schema version of the connected database.
    ///
    /// # Errors
    ///
    /// When PostgreSQL fails.
    pub fn schema_version(&self) -> Result<i64, PostgresError> {
        let mut inner = self.lock();
        Ok(inner
            .client
            .query_one("SELECT version FROM schema_version", &[])?
            .try_get(0)?)
    }

    /// Whether the connection is gone: the server closed it (a restart, a failover, an administrator), or it
    /// failed. A closed store answers every call with an error; a host that keeps stores open replaces a closed one
    /// with a new [`connect`](Self::connect). The client notices only by talking to the server: the call that
    /// meets a dead connection fails (and sometimes the next one too, when the server's goodbye and the end of the
    /// connection arrive apart), and after that this answers `true`.
    pub fn is_closed(&self) -> bool {
        self.lock().client.is_closed()
    }

    /// The connection, for `&self` methods. A panic while it was held left no transaction open (a dropped
    /// `Transaction` rolls back), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection, for `&mut self` methods.
    fn inner_mut(&mut self) -> &mut Inner {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

fn migrate(client: &mut Client) -> Result<(), PostgresError> {
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let mut transaction = client.transaction()?;
    // Held until commit: a second instance opening the same schema waits here, then finds it migrated.
    transaction.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
        &[&MIGRATION_LOCK],
    )?;
    transaction.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let found: i64 = match transaction.query_opt("SELECT version FROM schema_version", &[])? {
        Some(row) => row.try_get(0)?,
        None => {
            transaction.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
            0
        }
    };
    if found > supported {
        return Err(PostgresError::UnsupportedVersion { found, supported });
    }
    for (version, migration) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(found).unwrap_or(0)) {
        transaction.batch_execute(migration)?;
        transaction.execute("UPDATE schema_version SET version = $1", &[&version])?;
    }
    Ok(transaction.commit()?)
}

/// Statements prepared once per connection, by their SQL text.
#[derive(Default)]
struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    fn get(&mut self, client: &mut impl GenericClient, sql: &'static str) -> Result<Statement, PostgresError> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.0.insert(sql, statement.clone());
        Ok(statement)
    }
}

/// Column `index` of `row`, as an error rather than a panic when it does not hold a `T`.
fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, PostgresError> {
    Ok(row.try_get(index)?)
}
