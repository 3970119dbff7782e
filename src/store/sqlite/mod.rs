//! [`SqliteStore`]: the storage traits on SQLite (rusqlite with its bundled SQLite), behind the `sqlite` feature.
//!
//! The schema mirrors the model: `objects` unique on (integration, key), `events` unique on (integration,
//! source_id) and referencing their actor and target objects, `blocks` referencing their event, metadata and
//! embeddings as JSON text, times as RFC 3339 text with nine fractional digits (so that text order is time order).
//! Integrations live in `integrations`, one row each with their polling state, token version and leases; their
//! routing secret is indexed by its [`routing_key`](super::routing_key) digest. Tokens are stored as given: encrypt
//! the database file at rest if that matters. Accepted OAuth states go to `oauth_states` (the store is a
//! [`StateLedger`](crate::oauth::StateLedger)). The schema version is kept in `PRAGMA user_version` and migrated
//! forward when a store is opened.
//!
//! Several connections to one file work (leases and refresh claims are taken in `IMMEDIATE` transactions); set
//! `PRAGMA journal_mode = WAL` on them so that writers wait less, as `tests/store/multi_instance.rs` does.

mod inbox;
mod integrations;

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::database::ListingRows;
use super::{
    ActivityStore, ActivityTransaction, EventListing, EventQuery, ObjectChange, StoredEvent, UntitledQuery, keep_name,
};
use crate::model::{Block, Event, Metadata, Name, Object};

/// What goes wrong in [`SqliteStore`]: a [`DatabaseError`](super::DatabaseError) around rusqlite's error.
pub type SqliteError = super::DatabaseError<rusqlite::Error>;

/// Migrations, in order: migration `n` (1-based) takes the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: activity.
    "CREATE TABLE objects (
        id INTEGER PRIMARY KEY,
        integration_id TEXT NOT NULL,
        key TEXT NOT NULL,
        concept TEXT NOT NULL,
        type TEXT NOT NULL,
        title TEXT,
        content TEXT,
        metadata TEXT NOT NULL,
        url TEXT,
        image_url TEXT,
        time TEXT,
        embeddings TEXT,
        UNIQUE (integration_id, key)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        integration_id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        time TEXT NOT NULL,
        service TEXT NOT NULL,
        domain TEXT NOT NULL,
        action TEXT NOT NULL,
        value INTEGER,
        value_multiplier INTEGER NOT NULL,
        value_unit TEXT,
        actor_id INTEGER NOT NULL REFERENCES objects (id),
        actor_metadata TEXT NOT NULL,
        target_id INTEGER NOT NULL REFERENCES objects (id),
        target_metadata TEXT NOT NULL,
        event_metadata TEXT NOT NULL,
        embeddings TEXT,
        UNIQUE (integration_id, source_id)
    );
    CREATE INDEX events_by_time ON events (time DESC, id DESC);
    CREATE INDEX events_by_integration_time ON events (integration_id, time DESC, id DESC);
    CREATE TABLE blocks (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        time TEXT,
        title TEXT,
        content TEXT,
        url TEXT,
        media_url TEXT,
        value INTEGER,
        value_multiplier INTEGER NOT NULL,
        value_unit TEXT,
        embeddings TEXT,
        UNIQUE (event_id, position)
    );",
    // 2: integrations and their polling state.
    "CREATE TABLE integrations (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        service TEXT NOT NULL,
        display_name TEXT NOT NULL,
        account_id TEXT,
        access_token TEXT,
        refresh_token TEXT,
        expiry TEXT,
        refresh_expiry TEXT,
        configuration TEXT,
        routing_secret TEXT,
        routing_key TEXT,
        poll_cursor TEXT,
        next_poll_at TEXT,
        last_polled_at TEXT,
        last_poll_error TEXT,
        UNIQUE (service, routing_key)
    );
    CREATE INDEX integrations_due ON integrations (service, next_poll_at);",
    // 3: token versions, refresh leases and poll leases, for several instances on one database.
    "ALTER TABLE integrations ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE integrations ADD COLUMN refresh_holder TEXT;
    ALTER TABLE integrations ADD COLUMN refresh_lease_until TEXT;
    ALTER TABLE integrations ADD COLUMN poll_holder TEXT;
    ALTER TABLE integrations ADD COLUMN poll_lease_until TEXT;",
    // 4: OAuth states already accepted, for instances that share the ledger.
    "CREATE TABLE oauth_states (
        state_id TEXT PRIMARY KEY,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);",
    // 5: the inbox of kept deliveries.
    "CREATE TABLE inbox (
        origin TEXT NOT NULL,
        id INTEGER PRIMARY KEY,
        integration_id TEXT NOT NULL,
        service TEXT NOT NULL,
        event TEXT,
        delivery_id TEXT,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        outcome TEXT,
        next_attempt_at TEXT,
        updated_at TEXT NOT NULL
    );
    -- Bodies apart: recording an outcome rewrites the small row only, not the body with it.
    CREATE TABLE inbox_bodies (
        id INTEGER PRIMARY KEY REFERENCES inbox (id) ON DELETE CASCADE,
        body BLOB NOT NULL
    );
    CREATE INDEX inbox_pending ON inbox (status, id);
    CREATE INDEX inbox_by_update ON inbox (status, updated_at);",
    // 6: the rest of an integration's token set (type, scopes, user token, ids), as JSON.
    "ALTER TABLE integrations ADD COLUMN token_details TEXT;",
];

// Every migration is counted in the public version.
const _: () = assert!(MIGRATIONS.len() as i64 == super::SCHEMA_VERSION);

/// The storage traits on one SQLite connection.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and migrates its schema to the current version.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened, or holds a schema newer than this crate's.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::from_connection(Connection::open(path)?)
    }

    /// A fresh database in memory.
    ///
    /// # Errors
    ///
    /// When SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, SqliteError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    /// Uses an open connection, migrating its schema to the current version.
    ///
    /// # Errors
    ///
    /// When a migration fails, or the schema is newer than this crate's.
    pub fn from_connection(mut connection: Connection) -> Result<Self, SqliteError> {
        connection.pragma_update(None, "foreign_keys", true)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut connection)?;
        Ok(Self { connection })
    }

    /// The connection, for tables of the host's own beside the store's (its users, its sessions): one database, one
    /// backup. Leave the store's own tables to the store: writing them directly can break its invariants.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn schema_version(&self) -> Result<i64, SqliteError> {
        Ok(self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }
}

fn migrate(connection: &mut Connection) -> Result<(), SqliteError> {
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let transaction = connection.transaction()?;
    let found: i64 = transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > supported {
        return Err(SqliteError::UnsupportedVersion { found, supported });
    }
    for (version, migration) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(found).unwrap_or(0)) {
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", version)?;
    }
    Ok(transaction.commit()?)
}

/// A transaction of [`SqliteStore`]; dropping it without `commit` rolls back.
#[derive(Debug)]
pub struct SqliteTransaction<'a> {
    transaction: Transaction<'a>,
    /// The next block position of each event inserted (or replaced) in this transaction.
    next_position: HashMap<i64, i64>,
}

impl ActivityStore for SqliteStore {
    type Error = SqliteError;
    type Transaction<'a> = SqliteTransaction<'a>;

    fn begin(&mut self) -> Result<SqliteTransaction<'_>, SqliteError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(SqliteTransaction {
            transaction,
            next_position: HashMap::new(),
        })
    }

    fn recent_events(&self, query: &EventQuery) -> Result<EventListing, SqliteError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut statement = self.connection.prepare_cached(
            "SELECT e.id, e.integration_id, e.source_id, e.time, e.service, e.domain, e.action, e.value,
                    e.value_multiplier, e.value_unit, e.actor_metadata, e.target_metadata, e.event_metadata,
                    e.embeddings,
                    a.key, a.concept, a.type, a.title, a.content, a.metadata, a.url, a.image_url, a.time, a.embeddings,
                    t.key, t.concept, t.type, t.title, t.content, t.metadata, t.url, t.image_url, t.time, t.embeddings
             FROM events e
             JOIN objects a ON a.id = e.actor_id
             JOIN objects t ON t.id = e.target_id
             WHERE (?1 IS NULL OR e.integration_id = ?1) AND (?3 IS NULL OR e.service = ?3)
               AND (?4 IS NULL OR a.key = ?4) AND (?5 IS NULL OR e.time >= ?5) AND (?6 IS NULL OR e.time <= ?6)
             ORDER BY e.time DESC, e.id DESC
             LIMIT ?2",
        )?;
        let mut rows = statement.query(params![
            query.integration_id,
            limit,
            query.service,
            query.actor_key,
            query.since.as_ref().map(write_time),
            query.until.as_ref().map(write_time),
        ])?;
        // Rows are decoded one by one: a row that does not decode is skipped and reported, not fatal.
        let mut listing = ListingRows::new();
        while let Some(row) = rows.next()? {
            listing.event(read_event(row), row.get(1).ok(), row.get(2).ok());
        }
        // The blocks of every listed event in one query, not one per event.
        self.read_blocks(&mut listing)?;
        Ok(listing.finish())
    }

    fn untitled_objects(&self, query: &UntitledQuery) -> Result<Vec<Object>, SqliteError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut statement = self.connection.prepare_cached(
            "SELECT key, concept, type, title, content, metadata, url, image_url, time, embeddings
             FROM objects
             WHERE integration_id = ?1 AND title IS NULL AND type IN (SELECT value FROM json_each(?2))
               AND (?3 IS NULL OR key > ?3)
             ORDER BY key
             LIMIT ?4",
        )?;
        let mut rows = statement.query(params![
            query.integration_id,
            write_json(&query.kinds)?,
            query.after_key,
            limit
        ])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            found.push(read_object(row, 0)?);
        }
        Ok(found)
    }
}

impl SqliteStore {
    /// Reads the blocks of the events of `listing`, each event's in order.
    fn read_blocks(&self, listing: &mut ListingRows<SqliteError>) -> Result<(), SqliteError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT time, title, content, url, media_url, value, value_multiplier, value_unit, embeddings, event_id
             FROM blocks WHERE event_id IN (SELECT value FROM json_each(?1)) ORDER BY event_id, position",
        )?;
        let mut rows = statement.query([write_json(&listing.event_ids())?])?;
        while let Some(row) = rows.next()? {
            listing.block(row.get(9)?, read_block(row));
        }
        Ok(())
    }
}

impl SqliteTransaction<'_> {
    /// The connection, inside this transaction.
    fn connection(&self) -> &Connection {
        &self.transaction
    }
}

impl ActivityTransaction for SqliteTransaction<'_> {
    type Error = SqliteError;
    type EventId = i64;

    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, SqliteError> {
        let stored = self
            .transaction
            .prepare_cached(
                "SELECT key, concept, type, title, content, metadata, url, image_url, time, embeddings
                 FROM objects WHERE integration_id = ?1 AND key = ?2",
            )?
            .query_row(params![integration_id, object.key], |row| Ok(read_object(row, 0)))
            .optional()?
            .transpose()?;
        let object = &match &stored {
            Some(stored) => keep_name(stored, object),
            None => object.clone(),
        };
        // Compared as read back (times keep their nanoseconds here, embeddings and metadata round-trip JSON).
        if stored.as_ref() == Some(object) {
            return Ok(ObjectChange::Unchanged);
        }
        let columns = ObjectColumns::of(object)?;
        self.transaction
            .prepare_cached(
                "INSERT INTO objects (integration_id, key, concept, type, title, content, metadata, url, image_url,
                                      time, embeddings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (integration_id, key) DO UPDATE SET
                    concept = excluded.concept, type = excluded.type, title = excluded.title,
                    content = excluded.content, metadata = excluded.metadata, url = excluded.url,
                    image_url = excluded.image_url, time = excluded.time, embeddings = excluded.embeddings",
            )?
            .execute(params![
                integration_id,
                object.key,
                object.concept.as_str(),
                object.kind.as_str(),
                object.title,
                object.content,
                columns.metadata,
                object.url,
                object.image_url,
                columns.time,
                columns.embeddings
            ])?;
        // `changes()` after an upsert cannot tell insert from update; the row read before can.
        Ok(if stored.is_some() {
            ObjectChange::Updated
        } else {
            ObjectChange::Created
        })
    }

    fn insert_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<i64>, SqliteError> {
        let inserted = self
            .transaction
            .prepare_cached(
                "INSERT INTO events (integration_id, source_id, time, service, domain, action, value,
                                     value_multiplier, value_unit, actor_id, actor_metadata, target_id,
                                     target_metadata, event_metadata, embeddings)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, a.id, ?11, t.id, ?13, ?14, ?15
                 FROM objects a, objects t
                 WHERE a.integration_id = ?1 AND a.key = ?10 AND t.integration_id = ?1 AND t.key = ?12
                 ON CONFLICT (integration_id, source_id) DO NOTHING",
            )?
            .execute(params![
                integration_id,
                event.source_id,
                write_time(&event.time),
                event.service.as_str(),
                event.domain.as_str(),
                event.action.as_str(),
                event.value,
                event.value_multiplier,
                event.value_unit.as_deref(),
                event.actor.key,
                write_json(&event.actor_metadata)?,
                event.target.key,
                write_json(&event.target_metadata)?,
                write_json(&event.event_metadata)?,
                event.embeddings.as_ref().map(write_json).transpose()?,
            ])?;
        if inserted == 0 {
            let exists: bool = self.transaction.query_row(
                "SELECT EXISTS (SELECT 1 FROM events WHERE integration_id = ?1 AND source_id = ?2)",
                params![integration_id, event.source_id],
                |row| row.get(0),
            )?;
            if exists {
                return Ok(None);
            }
            return Err(SqliteError::Corrupt {
                column: "objects.key",
                message: format!("actor or target of event `{}` was not upserted first", event.source_id),
            });
        }
        let id = self.transaction.last_insert_rowid();
        self.next_position.insert(id, 0);
        Ok(Some(id))
    }

    fn replace_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<i64>, SqliteError> {
        let id: Option<i64> = self
            .transaction
            .prepare_cached("SELECT id FROM events WHERE integration_id = ?1 AND source_id = ?2")?
            .query_row(params![integration_id, event.source_id], |row| row.get(0))
            .optional()?;
        let Some(id) = id else {
            return Ok(None);
        };
        let updated = self
            .transaction
            .prepare_cached(
                "UPDATE events SET time = ?2, service = ?3, domain = ?4, action = ?5, value = ?6,
                     value_multiplier = ?7, value_unit = ?8,
                     actor_id = (SELECT id FROM objects WHERE integration_id = ?9 AND key = ?10),
                     actor_metadata = ?11,
                     target_id = (SELECT id FROM objects WHERE integration_id = ?9 AND key = ?12),
                     target_metadata = ?13, event_metadata = ?14, embeddings = ?15
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                write_time(&event.time),
                event.service.as_str(),
                event.domain.as_str(),
                event.action.as_str(),
                event.value,
                event.value_multiplier,
                event.value_unit.as_deref(),
                integration_id,
                event.actor.key,
                write_json(&event.actor_metadata)?,
                event.target.key,
                write_json(&event.target_metadata)?,
                write_json(&event.event_metadata)?,
                event.embeddings.as_ref().map(write_json).transpose()?,
            ])?;
        debug_assert_eq!(updated, 1, "the row was found above, in this transaction");
        self.transaction
            .prepare_cached("DELETE FROM blocks WHERE event_id = ?1")?
            .execute([id])?;
        self.next_position.insert(id, 0);
        Ok(Some(id))
    }

    fn insert_blocks(&mut self, event: i64, blocks: &[Block]) -> Result<(), SqliteError> {
        if blocks.is_empty() {
            return Ok(());
        }
        // Blocks appended by an earlier call for the same event keep their places.
        let first: i64 = match self.next_position.get(&event) {
            Some(next) => *next,
            None => self
                .transaction
                .prepare_cached("SELECT COALESCE(MAX(position) + 1, 0) FROM blocks WHERE event_id = ?1")?
                .query_row([event], |row| row.get(0))?,
        };
        self.next_position.insert(
            event,
            first.saturating_add(i64::try_from(blocks.len()).unwrap_or(i64::MAX)),
        );
        let mut statement = self.transaction.prepare_cached(
            "INSERT INTO blocks (event_id, position, time, title, content, url, media_url, value, value_multiplier,
                                 value_unit, embeddings)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for (position, block) in (first..).zip(blocks) {
            statement.execute(params![
                event,
                position,
                block.time.as_ref().map(write_time),
                block.title,
                block.content,
                block.url,
                block.media_url,
                block.value,
                block.value_multiplier,
                block.value_unit.as_deref(),
                block.embeddings.as_ref().map(write_json).transpose()?,
            ])?;
        }
        Ok(())
    }

    fn commit(self) -> Result<(), SqliteError> {
        Ok(self.transaction.commit()?)
    }
}

/// The columns of an object that are stored in another form than the model's.
struct ObjectColumns {
    metadata: String,
    time: Option<String>,
    embeddings: Option<String>,
}

impl ObjectColumns {
    fn of(object: &Object) -> Result<Self, SqliteError> {
        Ok(Self {
            metadata: write_json(&object.metadata)?,
            time: object.time.as_ref().map(write_time),
            embeddings: object.embeddings.as_ref().map(write_json).transpose()?,
        })
    }
}

/// The event of a row of `recent_events`'s query, with its row id; its blocks are read apart.
fn read_event(row: &Row<'_>) -> Result<(i64, StoredEvent), SqliteError> {
    let mut event = Event::new(
        row.get::<_, String>(2)?,
        read_time(row.get(3)?, "events.time")?,
        row.get::<_, String>(4)?,
        row.get::<_, String>(5)?,
        row.get::<_, String>(6)?,
        read_object(row, 14)?,
        read_object(row, 24)?,
    );
    event.value = row.get(7)?;
    event.value_multiplier = row.get(8)?;
    event.value_unit = row.get::<_, Option<String>>(9)?.map(Name::from);
    event.actor_metadata = read_json(&row.get::<_, String>(10)?, "events.actor_metadata")?;
    event.target_metadata = read_json(&row.get::<_, String>(11)?, "events.target_metadata")?;
    event.event_metadata = read_json(&row.get::<_, String>(12)?, "events.event_metadata")?;
    event.embeddings = read_optional_json(row.get(13)?, "events.embeddings")?;
    let stored = StoredEvent {
        integration_id: row.get(1)?,
        event,
    };
    Ok((row.get(0)?, stored))
}

/// A block of the blocks query in `blocks_of`.
fn read_block(row: &Row<'_>) -> Result<Block, SqliteError> {
    Ok(Block {
        time: row
            .get::<_, Option<String>>(0)?
            .map(|time| read_time(time, "blocks.time"))
            .transpose()?,
        title: row.get(1)?,
        content: row.get(2)?,
        url: row.get(3)?,
        media_url: row.get(4)?,
        value: row.get(5)?,
        value_multiplier: row.get(6)?,
        value_unit: row.get::<_, Option<String>>(7)?.map(Name::from),
        embeddings: read_optional_json(row.get(8)?, "blocks.embeddings")?,
    })
}

fn read_object(row: &Row<'_>, first: usize) -> Result<Object, SqliteError> {
    let mut object = Object::new(
        row.get::<_, String>(first)?,
        row.get::<_, String>(first + 1)?,
        row.get::<_, String>(first + 2)?,
    );
    object.title = row.get(first + 3)?;
    object.content = row.get(first + 4)?;
    object.metadata = read_json(&row.get::<_, String>(first + 5)?, "objects.metadata")?;
    object.url = row.get(first + 6)?;
    object.image_url = row.get(first + 7)?;
    object.time = row
        .get::<_, Option<String>>(first + 8)?
        .map(|time| read_time(time, "objects.time"))
        .transpose()?;
    object.embeddings = read_optional_json(row.get(first + 9)?, "objects.embeddings")?;
    Ok(object)
}

/// Nine fractional digits always, so that comparing the text compares the times.
fn write_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn read_time(text: String, column: &'static str) -> Result<DateTime<Utc>, SqliteError> {
    DateTime::parse_from_rfc3339(&text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| SqliteError::Corrupt {
            column,
            message: format!("`{text}` is not RFC 3339: {error}"),
        })
}

fn write_json<T: serde::Serialize>(value: &T) -> Result<String, SqliteError> {
    serde_json::to_string(value).map_err(|error| SqliteError::Corrupt {
        column: "json",
        message: error.to_string(),
    })
}

fn read_json(text: &str, column: &'static str) -> Result<Metadata, SqliteError> {
    serde_json::from_str(text).map_err(|error| SqliteError::Corrupt {
        column,
        message: error.to_string(),
    })
}

fn read_optional_json(text: Option<String>, column: &'static str) -> Result<Option<Vec<f32>>, SqliteError> {
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| SqliteError::Corrupt {
            column,
            message: error.to_string(),
        })
    })
    .transpose()
}
