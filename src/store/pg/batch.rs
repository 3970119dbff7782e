//! [`ActivityStore::ingest_conversions`](crate::store::ActivityStore::ingest_conversions) on PostgreSQL: a whole
//! batch in a handful of statements (read the stored objects, write the new and changed ones, insert the events,
//! insert their blocks), each taking arrays through `unnest`, instead of several round trips per event.
//!
//! The outcome is the event-by-event one's: the same rows, the same reports. Objects are compared with their stored
//! copies in memory, in the batch's order, so each event counts what its own upserts would have reported, and only
//! new or changed objects are written (and so locked), in key order as [`PostgresTransaction`](super::PostgresTransaction)
//! writes them. Events are inserted sorted by (integration, source id), with `ON CONFLICT DO NOTHING`: two batches
//! that share events wait for each other in one order, never in a cycle; their ids are drawn in the batch's order,
//! so that listings order them as if inserted one by one. An event already stored, by anyone, is returned by no row
//! and counted a duplicate; a second copy of an event inside the batch is a duplicate of the first.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use postgres::types::Json;

use super::activity::{read_object, to_micros};
use super::{PostgresError, PostgresStore, Statements, column};
use crate::convert::Conversion;
use crate::model::{Event, Metadata, Object};
use crate::store::{IngestReport, ObjectChange, keep_name};

/// (integration, key) of an object, or (integration, source id) of an event.
type Key = (String, String);

/// Whether anything in the batch carries an embedding: those are stored event by event (`unnest` cannot take
/// arrays of arrays of different lengths).
pub(super) fn has_embeddings(conversions: &[(&str, &Conversion)]) -> bool {
    conversions.iter().any(|(_, conversion)| match conversion {
        Conversion::Converted(events) => events.iter().any(|event| {
            event.embeddings.is_some()
                || event.actor.embeddings.is_some()
                || event.target.embeddings.is_some()
                || event.blocks.iter().any(|block| block.embeddings.is_some())
        }),
        _ => false,
    })
}

/// Stores the batch in one transaction; see the [module docs](self).
pub(super) fn ingest(
    store: &mut PostgresStore,
    conversions: &[(&str, &Conversion)],
) -> Result<Vec<IngestReport>, PostgresError> {
    let inner = store.inner_mut();
    let mut transaction = inner.client.transaction()?;
    let reports = ingest_within(&mut transaction, &mut inner.statements, conversions)?;
    transaction.commit()?;
    Ok(reports)
}

/// Stores the batch inside `transaction`, without committing.
pub(super) fn ingest_within(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    conversions: &[(&str, &Conversion)],
) -> Result<Vec<IngestReport>, PostgresError> {
    let events: Vec<(usize, &str, &Event)> = conversions
        .iter()
        .enumerate()
        .flat_map(|(index, (integration_id, conversion))| {
            let events: &[Event] = match conversion {
                Conversion::Converted(events) => events,
                _ => &[],
            };
            events.iter().map(move |event| (index, *integration_id, event))
        })
        .collect();
    let mut reports = vec![IngestReport::default(); conversions.len()];
    if events.is_empty() {
        return Ok(reports);
    }
    // The stored copies of every object the batch names, in one query.
    let named: BTreeSet<(&str, &str)> = events
        .iter()
        .flat_map(|(_, integration_id, event)| {
            [
                (*integration_id, event.actor.key.as_str()),
                (*integration_id, event.target.key.as_str()),
            ]
        })
        .collect();
    let (integration_ids, keys): (Vec<&str>, Vec<&str>) = named.iter().copied().unzip();
    let statement = statements.get(
        transaction,
        "SELECT o.id, o.key, o.concept, o.type, o.title, o.content, o.metadata, o.url, o.image_url, o.time,
                o.embeddings, o.integration_id
         FROM objects o JOIN unnest($1::TEXT[], $2::TEXT[]) AS k (integration_id, key)
           ON o.integration_id = k.integration_id AND o.key = k.key
         WHERE o.integration_id = ANY ($1) AND o.key = ANY ($2)",
    )?;
    let mut current: HashMap<Key, Object> = HashMap::with_capacity(named.len());
    let mut ids: HashMap<Key, i64> = HashMap::with_capacity(named.len());
    for row in transaction.query(&statement, &[&integration_ids, &keys])? {
        let object = read_object(&row, 1)?;
        let key = (column::<String>(&row, 11)?, object.key.clone());
        ids.insert(key.clone(), column(&row, 0)?);
        current.insert(key, object);
    }

    // Each upsert as the event-by-event store would report it, against the stored copy or the batch's own.
    let mut changed: BTreeSet<Key> = BTreeSet::new();
    let mut object_counts = Vec::with_capacity(events.len());
    for (_, integration_id, event) in &events {
        let mut counts = IngestReport::default();
        for incoming in [&event.actor, &event.target] {
            let key = ((*integration_id).to_owned(), incoming.key.clone());
            let mut object = incoming.clone();
            object.time = object.time.map(to_micros);
            let change = match current.get(&key) {
                None => ObjectChange::Created,
                Some(before) => {
                    object = keep_name(before, &object);
                    if *before == object {
                        ObjectChange::Unchanged
                    } else {
                        ObjectChange::Updated
                    }
                }
            };
            match change {
                ObjectChange::Created => counts.objects_created += 1,
                ObjectChange::Updated => counts.objects_updated += 1,
                ObjectChange::Unchanged => continue,
            }
            changed.insert(key.clone());
            current.insert(key, object);
        }
        object_counts.push(counts);
    }
    write_objects(transaction, statements, &changed, &current, &mut ids)?;

    // The first copy of each event in the batch is inserted (if nobody stored it before); later copies are
    // duplicates of it.
    let mut first: HashMap<(&str, &str), usize> = HashMap::with_capacity(events.len());
    for (index, (_, integration_id, event)) in events.iter().enumerate() {
        first
            .entry((*integration_id, event.source_id.as_str()))
            .or_insert(index);
    }
    // In the batch's order first (the order of their ids, so of insertion), then sorted for the locks.
    let mut candidates: Vec<usize> = first.values().copied().collect();
    candidates.sort_unstable();
    let rank: HashMap<usize, i32> = candidates.iter().copied().zip(1..).collect();
    candidates.sort_unstable_by_key(|index| (events[*index].1, events[*index].2.source_id.as_str()));
    let ranks: Vec<i32> = candidates.iter().map(|index| rank[index]).collect();
    let inserted = insert_events(transaction, statements, &events, &candidates, &ranks, &ids)?;
    insert_blocks(transaction, statements, &events, &candidates, &inserted)?;

    for (index, ((conversion, integration_id, event), counts)) in events.iter().zip(object_counts).enumerate() {
        let report = &mut reports[*conversion];
        let key = (*integration_id, event.source_id.as_str());
        if first.get(&key) == Some(&index)
            && inserted.contains_key(&((*integration_id).to_owned(), event.source_id.clone()))
        {
            report.inserted += 1;
            report.objects_created += counts.objects_created;
            report.objects_updated += counts.objects_updated;
        } else {
            report.duplicates += 1;
        }
    }
    Ok(reports)
}

/// Writes the `changed` objects (their copies in `current`) in key order, and records their ids in `ids`.
fn write_objects(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    changed: &BTreeSet<Key>,
    current: &HashMap<Key, Object>,
    ids: &mut HashMap<Key, i64>,
) -> Result<(), PostgresError> {
    if changed.is_empty() {
        return Ok(());
    }
    let objects: Vec<(&Key, &Object)> = changed
        .iter()
        .filter_map(|key| current.get(key).map(|object| (key, object)))
        .collect();
    let integration_ids: Vec<&str> = objects.iter().map(|(key, _)| key.0.as_str()).collect();
    let keys: Vec<&str> = objects.iter().map(|(key, _)| key.1.as_str()).collect();
    let concepts: Vec<&str> = objects.iter().map(|(_, object)| object.concept.as_ref()).collect();
    let kinds: Vec<&str> = objects.iter().map(|(_, object)| object.kind.as_ref()).collect();
    let titles: Vec<Option<&str>> = objects.iter().map(|(_, object)| object.title.as_deref()).collect();
    let contents: Vec<Option<&str>> = objects.iter().map(|(_, object)| object.content.as_deref()).collect();
    let metadata: Vec<Json<&Metadata>> = objects.iter().map(|(_, object)| Json(&object.metadata)).collect();
    let urls: Vec<Option<&str>> = objects.iter().map(|(_, object)| object.url.as_deref()).collect();
    let images: Vec<Option<&str>> = objects.iter().map(|(_, object)| object.image_url.as_deref()).collect();
    let times: Vec<Option<DateTime<Utc>>> = objects.iter().map(|(_, object)| object.time).collect();
    // Written in the order given (the key order), which is the order their row locks are taken in.
    let statement = statements.get(
        transaction,
        "INSERT INTO objects (integration_id, key, concept, type, title, content, metadata, url, image_url, time)
         SELECT integration_id, key, concept, type, title, content, metadata, url, image_url, time
         FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::JSON[], $8::TEXT[],
                     $9::TEXT[], $10::TIMESTAMPTZ[])
              WITH ORDINALITY AS o (integration_id, key, concept, type, title, content, metadata, url, image_url,
                                    time, n)
         ORDER BY n
         ON CONFLICT (integration_id, key) DO UPDATE SET
            concept = excluded.concept, type = excluded.type,
            title = COALESCE(excluded.title, objects.title),
            content = excluded.content, metadata = excluded.metadata, url = excluded.url,
            image_url = CASE WHEN excluded.title IS NULL THEN COALESCE(excluded.image_url, objects.image_url)
                             ELSE excluded.image_url END,
            time = excluded.time, embeddings = excluded.embeddings
         RETURNING id, integration_id, key",
    )?;
    let rows = transaction.query(
        &statement,
        &[
            &integration_ids,
            &keys,
            &concepts,
            &kinds,
            &titles,
            &contents,
            &metadata,
            &urls,
            &images,
            &times,
        ],
    )?;
    for row in rows {
        ids.insert((column(&row, 1)?, column(&row, 2)?), column(&row, 0)?);
    }
    Ok(())
}

/// Inserts the events at `candidates` (indices into `events`, in lock order) that nobody stored before, numbered
/// by `ranks` (each one's place in the batch, from 1: ids follow the batch's order, as when inserted one by one);
/// answers the ids of those inserted, by (integration, source id).
fn insert_events(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    events: &[(usize, &str, &Event)],
    candidates: &[usize],
    ranks: &[i32],
    objects: &HashMap<Key, i64>,
) -> Result<HashMap<Key, i64>, PostgresError> {
    let object_id = |integration_id: &str, key: &str, source_id: &str| {
        objects
            .get(&(integration_id.to_owned(), key.to_owned()))
            .copied()
            .ok_or_else(|| PostgresError::Corrupt {
                column: "objects.key",
                message: format!("actor or target of event `{source_id}` was not upserted first"),
            })
    };
    let chosen: Vec<(&str, &Event)> = candidates
        .iter()
        .map(|index| (events[*index].1, events[*index].2))
        .collect();
    let integration_ids: Vec<&str> = chosen.iter().map(|(integration_id, _)| *integration_id).collect();
    let source_ids: Vec<&str> = chosen.iter().map(|(_, event)| event.source_id.as_str()).collect();
    let times: Vec<DateTime<Utc>> = chosen.iter().map(|(_, event)| event.time).collect();
    let services: Vec<&str> = chosen.iter().map(|(_, event)| event.service.as_ref()).collect();
    let domains: Vec<&str> = chosen.iter().map(|(_, event)| event.domain.as_ref()).collect();
    let actions: Vec<&str> = chosen.iter().map(|(_, event)| event.action.as_ref()).collect();
    let values: Vec<Option<i64>> = chosen.iter().map(|(_, event)| event.value).collect();
    let multipliers: Vec<i64> = chosen.iter().map(|(_, event)| event.value_multiplier).collect();
    let units: Vec<Option<&str>> = chosen.iter().map(|(_, event)| event.value_unit.as_deref()).collect();
    let actor_ids = chosen
        .iter()
        .map(|(integration_id, event)| object_id(integration_id, &event.actor.key, &event.source_id))
        .collect::<Result<Vec<i64>, _>>()?;
    let target_ids = chosen
        .iter()
        .map(|(integration_id, event)| object_id(integration_id, &event.target.key, &event.source_id))
        .collect::<Result<Vec<i64>, _>>()?;
    let actor_metadata: Vec<Json<&Metadata>> = chosen.iter().map(|(_, event)| Json(&event.actor_metadata)).collect();
    let target_metadata: Vec<Json<&Metadata>> = chosen.iter().map(|(_, event)| Json(&event.target_metadata)).collect();
    let event_metadata: Vec<Json<&Metadata>> = chosen.iter().map(|(_, event)| Json(&event.event_metadata)).collect();
    // Meeting an event inserted by a transaction in flight, this waits for it: after its commit the row is skipped
    // (a duplicate), after its rollback it is inserted.
    let statement = statements.get(
        transaction,
        "WITH ids AS MATERIALIZED (
            SELECT nextval(pg_get_serial_sequence('events', 'id')) AS id, rank
            FROM generate_series(1, cardinality($1::TEXT[])) AS rank
         )
         INSERT INTO events (id, integration_id, source_id, time, service, domain, action, value, value_multiplier,
                             value_unit, actor_id, actor_metadata, target_id, target_metadata, event_metadata)
         OVERRIDING SYSTEM VALUE
         SELECT ids.id, integration_id, source_id, time, service, domain, action, value, value_multiplier,
                value_unit, actor_id, actor_metadata, target_id, target_metadata, event_metadata
         FROM unnest($1::TEXT[], $2::TEXT[], $3::TIMESTAMPTZ[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[],
                     $8::BIGINT[], $9::TEXT[], $10::BIGINT[], $11::JSON[], $12::BIGINT[], $13::JSON[], $14::JSON[],
                     $15::INTEGER[])
              WITH ORDINALITY AS e (integration_id, source_id, time, service, domain, action, value,
                                    value_multiplier, value_unit, actor_id, actor_metadata, target_id,
                                    target_metadata, event_metadata, rank, n)
         JOIN ids USING (rank)
         ORDER BY n
         ON CONFLICT (integration_id, source_id) DO NOTHING
         RETURNING id, integration_id, source_id",
    )?;
    let rows = transaction.query(
        &statement,
        &[
            &integration_ids,
            &source_ids,
            &times,
            &services,
            &domains,
            &actions,
            &values,
            &multipliers,
            &units,
            &actor_ids,
            &actor_metadata,
            &target_ids,
            &target_metadata,
            &event_metadata,
            &ranks,
        ],
    )?;
    rows.iter()
        .map(|row| Ok(((column(row, 1)?, column(row, 2)?), column(row, 0)?)))
        .collect()
}

/// Inserts the blocks of the `inserted` events among `candidates`, each event's from position 0.
fn insert_blocks(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    events: &[(usize, &str, &Event)],
    candidates: &[usize],
    inserted: &HashMap<Key, i64>,
) -> Result<(), PostgresError> {
    let mut event_ids = Vec::new();
    let mut positions = Vec::new();
    let mut blocks = Vec::new();
    for index in candidates {
        let (_, integration_id, event) = events[*index];
        let Some(id) = inserted.get(&(integration_id.to_owned(), event.source_id.clone())) else {
            continue;
        };
        for (position, block) in (0_i32..).zip(&event.blocks) {
            event_ids.push(*id);
            positions.push(position);
            blocks.push(block);
        }
    }
    if blocks.is_empty() {
        return Ok(());
    }
    let times: Vec<Option<DateTime<Utc>>> = blocks.iter().map(|block| block.time).collect();
    let titles: Vec<Option<&str>> = blocks.iter().map(|block| block.title.as_deref()).collect();
    let contents: Vec<Option<&str>> = blocks.iter().map(|block| block.content.as_deref()).collect();
    let urls: Vec<Option<&str>> = blocks.iter().map(|block| block.url.as_deref()).collect();
    let media: Vec<Option<&str>> = blocks.iter().map(|block| block.media_url.as_deref()).collect();
    let values: Vec<Option<i64>> = blocks.iter().map(|block| block.value).collect();
    let multipliers: Vec<i64> = blocks.iter().map(|block| block.value_multiplier).collect();
    let units: Vec<Option<&str>> = blocks.iter().map(|block| block.value_unit.as_deref()).collect();
    let statement = statements.get(
        transaction,
        "INSERT INTO blocks (event_id, position, time, title, content, url, media_url, value, value_multiplier,
                             value_unit)
         SELECT * FROM unnest($1::BIGINT[], $2::INTEGER[], $3::TIMESTAMPTZ[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
                              $7::TEXT[], $8::BIGINT[], $9::BIGINT[], $10::TEXT[])",
    )?;
    transaction.execute(
        &statement,
        &[
            &event_ids,
            &positions,
            &times,
            &titles,
            &contents,
            &urls,
            &media,
            &values,
            &multipliers,
            &units,
        ],
    )?;
    Ok(())
}
