//! [`ActivityStore`] on PostgreSQL: objects, events and blocks.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use postgres::Row;
use postgres::types::Json;

use super::{PostgresError, PostgresStore, Statements, column};
use crate::convert::Conversion;
use crate::model::{Block, Event, Metadata, Name, Object};
use crate::store::database::ListingRows;
use crate::store::{
    ActivityStore, ActivityTransaction, EventListing, EventQuery, IngestReport, ObjectChange, StoredEvent,
    UntitledQuery, ingest_event_by_event, keep_name,
};

/// A transaction of [`PostgresStore`]; dropping it without `commit` rolls back.
///
/// Objects passed to [`upsert_object`](ActivityTransaction::upsert_object) that are new or differ from the stored
/// copy are written when the event is inserted (or at commit), all together in key order, so that concurrent
/// transactions lock shared objects in one order. An object equal to the stored copy is not written at all, so it
/// is not locked: ingests that share an unchanged actor or target (every push to one repository) do not wait for
/// each other. (Skipping that write is the same as having written it just before whatever another transaction
/// writes next, so no update is lost.)
pub struct PostgresTransaction<'a> {
    transaction: postgres::Transaction<'a>,
    statements: &'a mut Statements,
    /// Objects to write, by (integration, key): sorted, which is the lock order.
    pending: BTreeMap<(String, String), Object>,
    /// Ids of the objects written in this transaction, or found unchanged.
    written: HashMap<(String, String), i64>,
    /// The next block position of each event inserted in this transaction.
    next_position: HashMap<i64, i32>,
}

impl std::fmt::Debug for PostgresTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTransaction")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl ActivityStore for PostgresStore {
    type Error = PostgresError;
    type Transaction<'a> = PostgresTransaction<'a>;

    fn begin(&mut self) -> Result<PostgresTransaction<'_>, PostgresError> {
        let inner = self.inner_mut();
        Ok(PostgresTransaction {
            transaction: inner.client.transaction()?,
            statements: &mut inner.statements,
            pending: BTreeMap::new(),
            written: HashMap::new(),
            next_position: HashMap::new(),
        })
    }

    fn recent_events(&self, query: &EventQuery) -> Result<EventListing, PostgresError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut inner = self.lock();
        let inner = &mut *inner;
        let statement = inner.statements.get(
            &mut inner.client,
            "SELECT e.id, e.integration_id, e.source_id, e.time, e.service, e.domain, e.action, e.value,
                    e.value_multiplier, e.value_unit, e.actor_metadata, e.target_metadata, e.event_metadata,
                    e.embeddings,
                    a.key, a.concept, a.type, a.title, a.content, a.metadata, a.url, a.image_url, a.time, a.embeddings,
                    t.key, t.concept, t.type, t.title, t.content, t.metadata, t.url, t.image_url, t.time, t.embeddings
             FROM events e
             JOIN objects a ON a.id = e.actor_id
             JOIN objects t ON t.id = e.target_id
             WHERE ($1::text IS NULL OR e.integration_id = $1) AND ($3::text IS NULL OR e.service = $3)
               AND ($4::text IS NULL OR a.key = $4) AND ($5::timestamptz IS NULL OR e.time >= $5)
               AND ($6::timestamptz IS NULL OR e.time <= $6)
             ORDER BY e.time DESC, e.id DESC
             LIMIT $2",
        )?;
        let rows = inner.client.query(
            &statement,
            &[
                &query.integration_id,
                &limit,
                &query.service,
                &query.actor_key,
                &query.since,
                &query.until,
            ],
        )?;
        // Rows are decoded one by one: a row that does not decode is skipped and reported, not fatal.
        let mut listing = ListingRows::new();
        for row in &rows {
            listing.event(read_event(row), row.try_get(1).ok(), row.try_get(2).ok());
        }
        // All blocks of the listed events in one query, grouped by event.
        let statement = inner.statements.get(
            &mut inner.client,
            "SELECT event_id, time, title, content, url, media_url, value, value_multiplier, value_unit, embeddings
             FROM blocks WHERE event_id = ANY($1) ORDER BY event_id, position",
        )?;
        for row in inner.client.query(&statement, &[&listing.event_ids()])? {
            listing.block(column(&row, 0)?, read_block(&row));
        }
        Ok(listing.finish())
    }
    fn ingest_conversions(&mut self, conversions: &[(&str, &Conversion)]) -> Result<Vec<IngestReport>, PostgresError> {
        if super::batch::has_embeddings(conversions) {
            return ingest_event_by_event(self, conversions);
        }
        super::batch::ingest(self, conversions)
    }

    fn untitled_objects(&self, query: &UntitledQuery) -> Result<Vec<Object>, PostgresError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut inner = self.lock();
        let inner = &mut *inner;
        // Byte order, as the other stores sort keys.
        let statement = inner.statements.get(
            &mut inner.client,
            "SELECT key, concept, type, title, content, metadata, url, image_url, time, embeddings
             FROM objects
             WHERE integration_id = $1 AND title IS NULL AND type = ANY($2)
               AND ($3::text IS NULL OR key COLLATE \"C\" > $3)
             ORDER BY key COLLATE \"C\"
             LIMIT $4",
        )?;
        let rows = inner.client.query(
            &statement,
            &[&query.integration_id, &query.kinds, &query.after_key, &limit],
        )?;
        rows.iter().map(|row| read_object(row, 0)).collect()
    }
}

impl PostgresTransaction<'_> {
    /// Writes the pending objects in key order and remembers their ids.
    fn flush(&mut self) -> Result<(), PostgresError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let statement = self.statements.get(
            &mut self.transaction,
            "INSERT INTO objects (integration_id, key, concept, type, title, content, metadata, url, image_url, time,
                                  embeddings)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (integration_id, key) DO UPDATE SET
                concept = excluded.concept, type = excluded.type,
                title = COALESCE(excluded.title, objects.title),
                content = excluded.content, metadata = excluded.metadata, url = excluded.url,
                image_url = CASE WHEN excluded.title IS NULL THEN COALESCE(excluded.image_url, objects.image_url)
                                 ELSE excluded.image_url END,
                time = excluded.time, embeddings = excluded.embeddings
             RETURNING id",
        )?;
        for ((integration_id, key), object) in std::mem::take(&mut self.pending) {
            let row = self.transaction.query_one(
                &statement,
                &[
                    &integration_id,
                    &key,
                    &object.concept.as_str(),
                    &object.kind.as_str(),
                    &object.title,
                    &object.content,
                    &Json(&object.metadata),
                    &object.url,
                    &object.image_url,
                    &object.time,
                    &object.embeddings,
                ],
            )?;
            self.written.insert((integration_id, key), column(&row, 0)?);
        }
        Ok(())
    }

    /// The id of an object of this integration: written in this transaction, or stored before.
    fn object_id(&mut self, integration_id: &str, key: &str, source_id: &str) -> Result<i64, PostgresError> {
        if let Some(id) = self.written.get(&(integration_id.to_owned(), key.to_owned())) {
            return Ok(*id);
        }
        let statement = self.statements.get(
            &mut self.transaction,
            "SELECT id FROM objects WHERE integration_id = $1 AND key = $2",
        )?;
        match self.transaction.query_opt(&statement, &[&integration_id, &key])? {
            Some(row) => column(&row, 0),
            None => Err(PostgresError::Corrupt {
                column: "objects.key",
                message: format!("actor or target of event `{source_id}` was not upserted first"),
            }),
        }
    }
}

impl ActivityTransaction for PostgresTransaction<'_> {
    type Error = PostgresError;
    type EventId = i64;

    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, PostgresError> {
        let key = (integration_id.to_owned(), object.key.clone());
        let mut object = object.clone();
        // What the column keeps, so that an object read back compares equal to the one written.
        object.time = object.time.map(to_micros);
        if let Some(pending) = self.pending.get(&key) {
            // A second copy in this transaction replaces the pending one as it would a stored one.
            let object = keep_name(pending, &object);
            let change = if *pending == object {
                ObjectChange::Unchanged
            } else {
                ObjectChange::Updated
            };
            self.pending.insert(key, object);
            return Ok(change);
        }
        let statement = self.statements.get(
            &mut self.transaction,
            "SELECT id, key, concept, type, title, content, metadata, url, image_url, time, embeddings
             FROM objects WHERE integration_id = $1 AND key = $2",
        )?;
        let change = match self.transaction.query_opt(&statement, &[&key.0, &key.1])? {
            None => ObjectChange::Created,
            Some(row) => {
                let stored = read_object(&row, 1)?;
                object = keep_name(&stored, &object);
                if stored == object {
                    // Nothing to write, and so nothing to lock.
                    self.written.insert(key, column(&row, 0)?);
                    return Ok(ObjectChange::Unchanged);
                }
                ObjectChange::Updated
            }
        };
        self.pending.insert(key, object);
        Ok(change)
    }

    fn insert_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<i64>, PostgresError> {
        // A duplicate already committed is found before any object is written or locked.
        let statement = self.statements.get(
            &mut self.transaction,
            "SELECT 1 FROM events WHERE integration_id = $1 AND source_id = $2",
        )?;
        if self
            .transaction
            .query_opt(&statement, &[&integration_id, &event.source_id])?
            .is_some()
        {
            return Ok(None);
        }
        self.flush()?;
        let actor_id = self.object_id(integration_id, &event.actor.key, &event.source_id)?;
        let target_id = self.object_id(integration_id, &event.target.key, &event.source_id)?;
        // Meeting the same event inserted by a transaction in flight, this waits for it: after its commit it does
        // nothing (a duplicate), after its rollback it inserts.
        let statement = self.statements.get(
            &mut self.transaction,
            "INSERT INTO events (integration_id, source_id, time, service, domain, action, value, value_multiplier,
                                 value_unit, actor_id, actor_metadata, target_id, target_metadata, event_metadata,
                                 embeddings)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (integration_id, source_id) DO NOTHING
             RETURNING id",
        )?;
        let row = self.transaction.query_opt(
            &statement,
            &[
                &integration_id,
                &event.source_id,
                &event.time,
                &event.service.as_str(),
                &event.domain.as_str(),
                &event.action.as_str(),
                &event.value,
                &event.value_multiplier,
                &event.value_unit.as_deref(),
                &actor_id,
                &Json(&event.actor_metadata),
                &target_id,
                &Json(&event.target_metadata),
                &Json(&event.event_metadata),
                &event.embeddings,
            ],
        )?;
        let id = row.map(|row| column(&row, 0)).transpose()?;
        if let Some(id) = id {
            self.next_position.insert(id, 0);
        }
        Ok(id)
    }

    fn replace_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<i64>, PostgresError> {
        // The row is locked until the commit: two re-derivations of one event take turns.
        let statement = self.statements.get(
            &mut self.transaction,
            "SELECT id FROM events WHERE integration_id = $1 AND source_id = $2 FOR UPDATE",
        )?;
        let Some(row) = self
            .transaction
            .query_opt(&statement, &[&integration_id, &event.source_id])?
        else {
            return Ok(None);
        };
        let id: i64 = column(&row, 0)?;
        self.flush()?;
        let actor_id = self.object_id(integration_id, &event.actor.key, &event.source_id)?;
        let target_id = self.object_id(integration_id, &event.target.key, &event.source_id)?;
        let statement = self.statements.get(
            &mut self.transaction,
            "UPDATE events SET time = $2, service = $3, domain = $4, action = $5, value = $6, value_multiplier = $7,
                 value_unit = $8, actor_id = $9, actor_metadata = $10, target_id = $11, target_metadata = $12,
                 event_metadata = $13, embeddings = $14
             WHERE id = $1",
        )?;
        self.transaction.execute(
            &statement,
            &[
                &id,
                &event.time,
                &event.service.as_str(),
                &event.domain.as_str(),
                &event.action.as_str(),
                &event.value,
                &event.value_multiplier,
                &event.value_unit.as_deref(),
                &actor_id,
                &Json(&event.actor_metadata),
                &target_id,
                &Json(&event.target_metadata),
                &Json(&event.event_metadata),
                &event.embeddings,
            ],
        )?;
        let statement = self
            .statements
            .get(&mut self.transaction, "DELETE FROM blocks WHERE event_id = $1")?;
        self.transaction.execute(&statement, &[&id])?;
        self.next_position.insert(id, 0);
        Ok(Some(id))
    }

    fn insert_blocks(&mut self, event: i64, blocks: &[Block]) -> Result<(), PostgresError> {
        if blocks.is_empty() {
            return Ok(());
        }
        // Blocks appended by an earlier call for the same event keep their places.
        let first = match self.next_position.get(&event) {
            Some(next) => *next,
            None => {
                let statement = self.statements.get(
                    &mut self.transaction,
                    "SELECT COALESCE(MAX(position) + 1, 0) FROM blocks WHERE event_id = $1",
                )?;
                column(&self.transaction.query_one(&statement, &[&event])?, 0)?
            }
        };
        let count = i32::try_from(blocks.len()).map_err(|_| PostgresError::Corrupt {
            column: "blocks.position",
            message: format!("{} blocks do not fit the position column", blocks.len()),
        })?;
        self.next_position.insert(event, first.saturating_add(count));
        let statement = self.statements.get(
            &mut self.transaction,
            "INSERT INTO blocks (event_id, position, time, title, content, url, media_url, value, value_multiplier,
                                 value_unit, embeddings)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )?;
        for (position, block) in (first..).zip(blocks) {
            self.transaction.execute(
                &statement,
                &[
                    &event,
                    &position,
                    &block.time,
                    &block.title,
                    &block.content,
                    &block.url,
                    &block.media_url,
                    &block.value,
                    &block.value_multiplier,
                    &block.value_unit.as_deref(),
                    &block.embeddings,
                ],
            )?;
        }
        Ok(())
    }

    fn commit(mut self) -> Result<(), PostgresError> {
        self.flush()?;
        Ok(self.transaction.commit()?)
    }
}

/// `time` cut to the microseconds a `timestamptz` keeps.
pub(super) fn to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = time.timestamp_subsec_nanos();
    time.checked_sub_signed(chrono::Duration::nanoseconds(i64::from(nanos % 1_000)))
        .unwrap_or(time)
}

/// The object in the ten columns from `first` on: key, concept, type, title, content, metadata, url, image_url,
/// time, embeddings.
/// The event of a row of `recent_events`'s query, with its row id; its blocks are read apart.
fn read_event(row: &Row) -> Result<(i64, StoredEvent), PostgresError> {
    let mut event = Event::new(
        column::<String>(row, 2)?,
        column::<DateTime<Utc>>(row, 3)?,
        column::<String>(row, 4)?,
        column::<String>(row, 5)?,
        column::<String>(row, 6)?,
        read_object(row, 14)?,
        read_object(row, 24)?,
    );
    event.value = column(row, 7)?;
    event.value_multiplier = column(row, 8)?;
    event.value_unit = column::<Option<String>>(row, 9)?.map(Name::from);
    event.actor_metadata = column::<Json<Metadata>>(row, 10)?.0;
    event.target_metadata = column::<Json<Metadata>>(row, 11)?.0;
    event.event_metadata = column::<Json<Metadata>>(row, 12)?.0;
    event.embeddings = column(row, 13)?;
    let stored = StoredEvent {
        integration_id: column(row, 1)?,
        event,
    };
    Ok((column(row, 0)?, stored))
}

/// A block of the blocks query in `recent_events`, from its second column on.
fn read_block(row: &Row) -> Result<Block, PostgresError> {
    Ok(Block {
        time: column(row, 1)?,
        title: column(row, 2)?,
        content: column(row, 3)?,
        url: column(row, 4)?,
        media_url: column(row, 5)?,
        value: column(row, 6)?,
        value_multiplier: column(row, 7)?,
        value_unit: column::<Option<String>>(row, 8)?.map(Name::from),
        embeddings: column(row, 9)?,
    })
}

pub(super) fn read_object(row: &Row, first: usize) -> Result<Object, PostgresError> {
    let mut object = Object::new(
        column::<String>(row, first)?,
        column::<String>(row, first + 1)?,
        column::<String>(row, first + 2)?,
    );
    object.title = column(row, first + 3)?;
    object.content = column(row, first + 4)?;
    object.metadata = column::<Json<Metadata>>(row, first + 5)?.0;
    object.url = column(row, first + 6)?;
    object.image_url = column(row, first + 7)?;
    object.time = column(row, first + 8)?;
    object.embeddings = column(row, first + 9)?;
    Ok(object)
}
