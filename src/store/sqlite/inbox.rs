//! [`InboxStore`] on SQLite: kept deliveries in the `inbox` table.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use super::{SqliteError, SqliteStore, read_time, write_time};
use crate::convert::Conversion;
use crate::store::{
    ActivityStore, ActivityTransaction, InboxDelivery, InboxOrigin, InboxQuery, InboxRecord, InboxStatus, InboxStore,
    IngestReport, KeptAndIngested, RecordedOutcome, ingest_within, outcomes_of, to_store,
};

const APPEND: &str =
    "INSERT INTO inbox (integration_id, service, event, delivery_id, received_at, status, updated_at, origin)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?5, ?6)";

const RECORD: &str = "UPDATE inbox SET status = ?2, attempts = attempts + 1, outcome = ?3, next_attempt_at = ?4,
                          updated_at = ?5
                      WHERE id = ?1";

fn append(connection: &rusqlite::Connection, delivery: &InboxDelivery) -> Result<i64, SqliteError> {
    connection.prepare_cached(APPEND)?.execute(params![
        delivery.integration_id,
        delivery.service,
        delivery.event,
        delivery.delivery_id,
        write_time(&delivery.received_at),
        delivery.origin.as_str(),
    ])?;
    let id = connection.last_insert_rowid();
    connection
        .prepare_cached("INSERT INTO inbox_bodies (id, body) VALUES (?1, ?2)")?
        .execute(params![id, delivery.body])?;
    Ok(id)
}

fn record(
    connection: &rusqlite::Connection,
    id: i64,
    status: InboxStatus,
    outcome: &Value,
    next_attempt_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, SqliteError> {
    let changed = connection.prepare_cached(RECORD)?.execute(params![
        id,
        status.as_str(),
        outcome.to_string(),
        next_attempt_at.as_ref().map(write_time),
        write_time(&now),
    ])?;
    Ok(changed == 1)
}

/// The columns [`read_record`] reads, the body last.
const COLUMNS: &str = "i.id, i.integration_id, i.service, i.event, i.delivery_id, i.received_at, i.status, i.attempts, \
    i.outcome, i.next_attempt_at, i.updated_at, i.origin";

/// The tables [`COLUMNS`] and the body come from.
const WITH_BODY: &str = "inbox i JOIN inbox_bodies b ON b.id = i.id";

fn read_record(row: &Row<'_>, with_body: bool) -> Result<InboxRecord, SqliteError> {
    let status: String = row.get(6)?;
    let outcome: Option<String> = row.get(8)?;
    let mut delivery = InboxDelivery::new(
        row.get::<_, String>(1)?,
        row.get::<_, String>(2)?,
        read_time(row.get(5)?, "inbox.received_at")?,
        Vec::new(),
    );
    let origin: String = row.get(11)?;
    delivery.origin = InboxOrigin::parse(&origin).ok_or_else(|| SqliteError::Corrupt {
        column: "inbox.origin",
        message: format!("unknown origin `{origin}`"),
    })?;
    delivery.event = row.get(3)?;
    delivery.delivery_id = row.get(4)?;
    Ok(InboxRecord {
        id: row.get(0)?,
        delivery,
        body: if with_body { Some(row.get(12)?) } else { None },
        status: InboxStatus::parse(&status).ok_or_else(|| SqliteError::Corrupt {
            column: "inbox.status",
            message: format!("unknown status `{status}`"),
        })?,
        attempts: row.get(7)?,
        outcome: outcome
            .map(|text| serde_json::from_str::<Value>(&text))
            .transpose()
            .map_err(|error| SqliteError::Corrupt {
                column: "inbox.outcome",
                message: error.to_string(),
            })?,
        next_attempt_at: row
            .get::<_, Option<String>>(9)?
            .map(|text| read_time(text, "inbox.next_attempt_at"))
            .transpose()?,
        updated_at: read_time(row.get(10)?, "inbox.updated_at")?,
    })
}

impl InboxStore for SqliteStore {
    type Error = SqliteError;

    fn append_delivery(&mut self, delivery: &InboxDelivery) -> Result<i64, SqliteError> {
        append(&self.connection, delivery)
    }

    fn append_deliveries(&mut self, deliveries: &[InboxDelivery]) -> Result<Vec<i64>, SqliteError> {
        let transaction = self.connection.transaction()?;
        let ids = deliveries
            .iter()
            .map(|delivery| append(&transaction, delivery))
            .collect::<Result<_, _>>()?;
        transaction.commit()?;
        Ok(ids)
    }

    fn record_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        outcome: &Value,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, SqliteError> {
        record(&self.connection, id, status, outcome, next_attempt_at, now)
    }

    fn record_outcomes(&mut self, outcomes: &[RecordedOutcome], now: DateTime<Utc>) -> Result<(), SqliteError> {
        let transaction = self.connection.transaction()?;
        for outcome in outcomes {
            record(
                &transaction,
                outcome.id,
                outcome.status,
                &outcome.outcome,
                outcome.next_attempt_at,
                now,
            )?;
        }
        Ok(transaction.commit()?)
    }

    fn keep_and_ingest(
        &mut self,
        deliveries: &[InboxDelivery],
        conversions: &[Option<&Conversion>],
        outcome: &mut dyn FnMut(usize, i64, Option<&IngestReport>) -> RecordedOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<KeptAndIngested>, SqliteError> {
        let mut transaction = self.begin()?;
        let ids = deliveries
            .iter()
            .map(|delivery| append(transaction.connection(), delivery))
            .collect::<Result<Vec<_>, _>>()?;
        let reports = ingest_within(&mut transaction, &to_store(deliveries, conversions))?;
        let (reports, outcomes) = outcomes_of(&ids, conversions, reports, outcome);
        for outcome in &outcomes {
            record(
                transaction.connection(),
                outcome.id,
                outcome.status,
                &outcome.outcome,
                outcome.next_attempt_at,
                now,
            )?;
        }
        transaction.commit()?;
        Ok(Some((ids, reports)))
    }

    fn inbox_entry(&self, id: i64) -> Result<Option<InboxRecord>, SqliteError> {
        self.connection
            .prepare_cached(&format!("SELECT {COLUMNS}, b.body FROM {WITH_BODY} WHERE i.id = ?1"))?
            .query_row([id], |row| Ok(read_record(row, true)))
            .optional()?
            .transpose()
    }

    fn list_inbox(&self, query: &InboxQuery) -> Result<Vec<InboxRecord>, SqliteError> {
        // The body is joined only when asked for.
        let mut sql = if query.with_bodies {
            format!("SELECT {COLUMNS}, b.body FROM {WITH_BODY} WHERE 1 = 1")
        } else {
            format!("SELECT {COLUMNS} FROM inbox i WHERE 1 = 1")
        };
        let mut values: Vec<String> = Vec::new();
        if let Some(status) = query.status {
            values.push(status.as_str().to_owned());
            sql.push_str(&format!(" AND i.status = ?{}", values.len()));
        }
        if let Some(since) = query.since {
            values.push(write_time(&since));
            sql.push_str(&format!(" AND i.received_at >= ?{}", values.len()));
        }
        if let Some(ids) = &query.integration_ids {
            let first = values.len() + 1;
            values.extend(ids.iter().cloned());
            let placeholders: Vec<String> = (first..=values.len()).map(|n| format!("?{n}")).collect();
            // No ids: nothing matches.
            let list = if placeholders.is_empty() {
                "NULL".to_owned()
            } else {
                placeholders.join(", ")
            };
            sql.push_str(&format!(" AND i.integration_id IN ({list})"));
        }
        sql.push_str(&format!(
            " ORDER BY i.id DESC LIMIT {}",
            i64::try_from(query.limit).unwrap_or(i64::MAX)
        ));
        let mut statement = self.connection.prepare(&sql)?;
        let mut rows = statement.query(params_from_iter(values.iter()))?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            found.push(read_record(row, query.with_bodies)?);
        }
        Ok(found)
    }

    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<InboxRecord>, SqliteError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {COLUMNS}, b.body FROM {WITH_BODY}
             WHERE i.status = 'pending' AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= ?1)
             ORDER BY i.id LIMIT ?2"
        ))?;
        let mut rows = statement.query(params![write_time(&now), i64::try_from(limit).unwrap_or(i64::MAX)])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            found.push(read_record(row, true)?);
        }
        Ok(found)
    }

    fn prune_inbox(&mut self, before: DateTime<Utc>) -> Result<usize, SqliteError> {
        Ok(self
            .connection
            .prepare_cached("DELETE FROM inbox WHERE status = 'done' AND updated_at < ?1")?
            .execute([write_time(&before)])?)
    }
}
