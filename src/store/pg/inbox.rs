//! [`InboxStore`] on PostgreSQL: kept deliveries in the `inbox` table.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use postgres::types::{Json, ToSql};
use postgres::{GenericClient, Row, Statement};
use serde_json::Value;

use super::{PostgresError, PostgresStore, Statements, batch, column};
use crate::convert::Conversion;
use crate::store::{
    InboxDelivery, InboxOrigin, InboxQuery, InboxRecord, InboxStatus, InboxStore, IngestReport, KeptAndIngested,
    RecordedOutcome, outcomes_of, to_store,
};

const APPEND: &str =
    "INSERT INTO inbox (integration_id, service, event, delivery_id, received_at, body, status, updated_at,
                                        origin)
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $5, $7)
                     RETURNING id";

const RECORD: &str = "UPDATE inbox SET status = $2, attempts = attempts + 1, outcome = $3, next_attempt_at = $4,
                          updated_at = $5
                      WHERE id = $1";

/// [`APPEND`] for many deliveries at once: answers their ids in the order of the arrays.
const APPEND_MANY: &str = "WITH ids AS MATERIALIZED (
        SELECT nextval(pg_get_serial_sequence('inbox', 'id')) AS id, n
        FROM generate_series(1, cardinality($1::TEXT[])) AS n
    ),
    kept AS (
        INSERT INTO inbox (id, integration_id, service, event, delivery_id, received_at, body, status, updated_at,
                           origin)
        OVERRIDING SYSTEM VALUE
        SELECT ids.id, d.integration_id, d.service, d.event, d.delivery_id, d.received_at, d.body, 'pending',
               d.received_at, d.origin
        FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TIMESTAMPTZ[], $6::BYTEA[], $7::TEXT[])
             WITH ORDINALITY AS d (integration_id, service, event, delivery_id, received_at, body, origin, n)
        JOIN ids USING (n)
    )
    SELECT id FROM ids ORDER BY n";

/// `$1` new inbox ids.
const DRAW_IDS: &str = "SELECT nextval(pg_get_serial_sequence('inbox', 'id')) FROM generate_series(1, $1)";

/// Deliveries kept with their ids drawn before and their outcomes recorded (one attempt), at once.
const KEEP_RECORDED: &str = "INSERT INTO inbox (id, integration_id, service, event, delivery_id, received_at, body,
                                                  origin, status, outcome, next_attempt_at, attempts, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT *, 1, $12::TIMESTAMPTZ FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TIMESTAMPTZ[],
                                 $7::BYTEA[], $8::TEXT[], $9::TEXT[], $10::JSON[], $11::TIMESTAMPTZ[])";

/// [`RECORD`] for many deliveries at once, each id once. (`id = ANY` lets the planner find the rows by the primary
/// key whatever it thinks of the array's length; joined alone, it may read the whole table.)
const RECORD_MANY: &str = "UPDATE inbox SET status = o.status, attempts = attempts + 1, outcome = o.outcome,
                               next_attempt_at = o.next_attempt_at, updated_at = $5
                           FROM unnest($1::BIGINT[], $2::TEXT[], $3::JSON[], $4::TIMESTAMPTZ[])
                                AS o (id, status, outcome, next_attempt_at)
                           WHERE inbox.id = o.id AND inbox.id = ANY ($1)";

fn append(
    client: &mut impl GenericClient,
    statement: &Statement,
    delivery: &InboxDelivery,
) -> Result<i64, PostgresError> {
    let row = client.query_one(
        statement,
        &[
            &delivery.integration_id,
            &delivery.service,
            &delivery.event,
            &delivery.delivery_id,
            &delivery.received_at,
            &delivery.body,
            &delivery.origin.as_str(),
        ],
    )?;
    column(&row, 0)
}

/// The fields of a batch of deliveries as columns, one array a field, for the statements that take a batch through
/// `unnest`.
struct DeliveryColumns<'a> {
    integration_ids: Vec<&'a str>,
    services: Vec<&'a str>,
    events: Vec<Option<&'a str>>,
    delivery_ids: Vec<Option<&'a str>>,
    received: Vec<DateTime<Utc>>,
    bodies: Vec<&'a [u8]>,
    origins: Vec<&'a str>,
}

impl<'a> DeliveryColumns<'a> {
    fn of(deliveries: &'a [InboxDelivery]) -> Self {
        Self {
            integration_ids: deliveries
                .iter()
                .map(|delivery| delivery.integration_id.as_str())
                .collect(),
            services: deliveries.iter().map(|delivery| delivery.service.as_str()).collect(),
            events: deliveries.iter().map(|delivery| delivery.event.as_deref()).collect(),
            delivery_ids: deliveries
                .iter()
                .map(|delivery| delivery.delivery_id.as_deref())
                .collect(),
            received: deliveries.iter().map(|delivery| delivery.received_at).collect(),
            bodies: deliveries.iter().map(|delivery| delivery.body.as_slice()).collect(),
            origins: deliveries.iter().map(|delivery| delivery.origin.as_str()).collect(),
        }
    }

    /// The columns as statement parameters, in the order `APPEND_MANY` and `KEEP_RECORDED` take them.
    fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.integration_ids,
            &self.services,
            &self.events,
            &self.delivery_ids,
            &self.received,
            &self.bodies,
            &self.origins,
        ]
    }
}

/// Keeps `deliveries` in one statement (so one commit, outside a transaction); answers their ids in order.
fn append_many(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    deliveries: &[InboxDelivery],
) -> Result<Vec<i64>, PostgresError> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let columns = DeliveryColumns::of(deliveries);
    // One statement (so one commit, without a transaction around it) for the whole batch. The ids are drawn
    // first, by position, so that each delivery's id is known whatever order the rows are written in.
    let statement = statements.get(client, APPEND_MANY)?;
    let rows = client.query(&statement, &columns.params())?;
    rows.iter().map(|row| column(row, 0)).collect()
}

/// Records `outcomes` in one statement when each id is there once, else one by one.
fn record_many(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    outcomes: &[RecordedOutcome],
    now: DateTime<Utc>,
) -> Result<(), PostgresError> {
    let ids: Vec<i64> = outcomes.iter().map(|outcome| outcome.id).collect();
    let distinct: HashSet<i64> = ids.iter().copied().collect();
    if distinct.len() == ids.len() {
        // Each id once, so each row is updated once, as one by one.
        let statuses: Vec<&str> = outcomes.iter().map(|outcome| outcome.status.as_str()).collect();
        let values: Vec<Json<&Value>> = outcomes.iter().map(|outcome| Json(&outcome.outcome)).collect();
        let next: Vec<Option<DateTime<Utc>>> = outcomes.iter().map(|outcome| outcome.next_attempt_at).collect();
        let statement = statements.get(client, RECORD_MANY)?;
        client.execute(&statement, &[&ids, &statuses, &values, &next, &now])?;
        return Ok(());
    }
    let statement = statements.get(client, RECORD)?;
    for outcome in outcomes {
        client.execute(
            &statement,
            &[
                &outcome.id,
                &outcome.status.as_str(),
                &Json(&outcome.outcome),
                &outcome.next_attempt_at,
                &now,
            ],
        )?;
    }
    Ok(())
}

/// The columns [`read_record`] reads, the body last.
macro_rules! inbox_columns {
    () => {
        "id, integration_id, service, event, delivery_id, received_at, status, attempts, outcome, next_attempt_at, \
         updated_at, body, origin"
    };
}

fn read_record(row: &Row, with_body: bool) -> Result<InboxRecord, PostgresError> {
    let status: String = column(row, 6)?;
    let mut delivery = InboxDelivery::new(
        column::<String>(row, 1)?,
        column::<String>(row, 2)?,
        column(row, 5)?,
        Vec::new(),
    );
    let origin: String = column(row, 12)?;
    delivery.origin = InboxOrigin::parse(&origin).ok_or_else(|| PostgresError::Corrupt {
        column: "inbox.origin",
        message: format!("unknown origin `{origin}`"),
    })?;
    delivery.event = column(row, 3)?;
    delivery.delivery_id = column(row, 4)?;
    let attempts: i32 = column(row, 7)?;
    Ok(InboxRecord {
        id: column(row, 0)?,
        delivery,
        body: if with_body { Some(column(row, 11)?) } else { None },
        status: InboxStatus::parse(&status).ok_or_else(|| PostgresError::Corrupt {
            column: "inbox.status",
            message: format!("unknown status `{status}`"),
        })?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        outcome: column::<Option<Json<Value>>>(row, 8)?.map(|json| json.0),
        next_attempt_at: column(row, 9)?,
        updated_at: column(row, 10)?,
    })
}

impl InboxStore for PostgresStore {
    type Error = PostgresError;

    fn append_delivery(&mut self, delivery: &InboxDelivery) -> Result<i64, PostgresError> {
        let inner = self.inner_mut();
        let statement = inner.statements.get(&mut inner.client, APPEND)?;
        append(&mut inner.client, &statement, delivery)
    }

    fn append_deliveries(&mut self, deliveries: &[InboxDelivery]) -> Result<Vec<i64>, PostgresError> {
        let inner = self.inner_mut();
        append_many(&mut inner.client, &mut inner.statements, deliveries)
    }

    fn keep_and_ingest(
        &mut self,
        deliveries: &[InboxDelivery],
        conversions: &[Option<&Conversion>],
        outcome: &mut dyn FnMut(usize, i64, Option<&IngestReport>) -> RecordedOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<KeptAndIngested>, PostgresError> {
        let batch = to_store(deliveries, conversions);
        if batch::has_embeddings(&batch) {
            return Ok(None);
        }
        let inner = self.inner_mut();
        let mut transaction = inner.client.transaction()?;
        // The ids first, then the events, then each delivery written once, as it ends: no row written twice.
        let statement = inner.statements.get(&mut transaction, DRAW_IDS)?;
        let count = i32::try_from(deliveries.len()).unwrap_or(i32::MAX);
        let mut ids = transaction
            .query(&statement, &[&count])?
            .iter()
            .map(|row| column(row, 0))
            .collect::<Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        let reports = batch::ingest_within(&mut transaction, &mut inner.statements, &batch)?;
        let (reports, outcomes) = outcomes_of(&ids, conversions, reports, outcome);
        let statuses: Vec<&str> = outcomes.iter().map(|outcome| outcome.status.as_str()).collect();
        let values: Vec<Json<&Value>> = outcomes.iter().map(|outcome| Json(&outcome.outcome)).collect();
        let next: Vec<Option<DateTime<Utc>>> = outcomes.iter().map(|outcome| outcome.next_attempt_at).collect();
        let columns = DeliveryColumns::of(deliveries);
        let statement = inner.statements.get(&mut transaction, KEEP_RECORDED)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&ids];
        params.extend(columns.params());
        params.extend([&statuses as &(dyn ToSql + Sync), &values, &next, &now]);
        transaction.execute(&statement, &params)?;
        transaction.commit()?;
        Ok(Some((ids, reports)))
    }

    fn record_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        outcome: &Value,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, PostgresError> {
        let inner = self.inner_mut();
        let statement = inner.statements.get(&mut inner.client, RECORD)?;
        let changed = inner.client.execute(
            &statement,
            &[&id, &status.as_str(), &Json(outcome), &next_attempt_at, &now],
        )?;
        Ok(changed == 1)
    }

    fn record_outcomes(&mut self, outcomes: &[RecordedOutcome], now: DateTime<Utc>) -> Result<(), PostgresError> {
        let inner = self.inner_mut();
        let mut transaction = inner.client.transaction()?;
        record_many(&mut transaction, &mut inner.statements, outcomes, now)?;
        Ok(transaction.commit()?)
    }

    fn inbox_entry(&self, id: i64) -> Result<Option<InboxRecord>, PostgresError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let statement = inner.statements.get(
            &mut inner.client,
            concat!("SELECT ", inbox_columns!(), " FROM inbox WHERE id = $1"),
        )?;
        inner
            .client
            .query_opt(&statement, &[&id])?
            .map(|row| read_record(&row, true))
            .transpose()
    }

    fn list_inbox(&self, query: &InboxQuery) -> Result<Vec<InboxRecord>, PostgresError> {
        let status = query.status.map(InboxStatus::as_str);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut inner = self.lock();
        let inner = &mut *inner;
        // The body is read only when asked for: `NULL` stands in for it otherwise.
        let statement = inner.statements.get(
            &mut inner.client,
            "SELECT id, integration_id, service, event, delivery_id, received_at, status, attempts, outcome,
                    next_attempt_at, updated_at, CASE WHEN $5 THEN body END, origin
             FROM inbox
             WHERE ($1::TEXT IS NULL OR status = $1)
               AND ($2::TIMESTAMPTZ IS NULL OR received_at >= $2)
               AND ($3::TEXT[] IS NULL OR integration_id = ANY ($3))
             ORDER BY id DESC LIMIT $4",
        )?;
        let params: [&(dyn ToSql + Sync); 5] = [
            &status,
            &query.since,
            &query.integration_ids,
            &limit,
            &query.with_bodies,
        ];
        inner
            .client
            .query(&statement, &params)?
            .iter()
            .map(|row| read_record(row, query.with_bodies))
            .collect()
    }

    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<InboxRecord>, PostgresError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut inner = self.lock();
        let inner = &mut *inner;
        let statement = inner.statements.get(
            &mut inner.client,
            concat!(
                "SELECT ",
                inbox_columns!(),
                " FROM inbox WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
                 ORDER BY id LIMIT $2"
            ),
        )?;
        inner
            .client
            .query(&statement, &[&now, &limit])?
            .iter()
            .map(|row| read_record(row, true))
            .collect()
    }

    fn prune_inbox(&mut self, before: DateTime<Utc>) -> Result<usize, PostgresError> {
        let inner = self.inner_mut();
        let statement = inner.statements.get(
            &mut inner.client,
            "DELETE FROM inbox WHERE status = 'done' AND updated_at < $1",
        )?;
        let removed = inner.client.execute(&statement, &[&before])?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}
