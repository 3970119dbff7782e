//! [`Store`]: the library's SQLite or Postgres store, chosen by `--db` at start-up, behind one type.
//!
//! The storage traits have associated types (errors, transactions), so they are not object safe; a host that
//! supports two databases wraps them in an enum and forwards each call, as here. A host with one database uses its
//! store directly.

use chrono::{DateTime, Duration, Utc};
use spark_integrations::convert::Conversion;
use spark_integrations::model::{Block, Event, Object};
use spark_integrations::oauth::{StateId, StateLedger, TokenSet};
use spark_integrations::store::{
    ActivityStore, ActivityTransaction, EventListing, EventQuery, InboxDelivery, InboxQuery, InboxRecord, InboxStatus,
    InboxStore, IngestReport, IntegrationStore, KeptAndIngested, ObjectChange, PollState, PostgresError, PostgresStore,
    PostgresTransaction, RecordedOutcome, RefreshClaim, SqliteError, SqliteStore, SqliteTransaction, UntitledQuery,
};
use spark_integrations::{Integration, RoutingSecret};

/// One connection to the host's database.
#[derive(Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    // Boxed: a Postgres client is three times the size of a SQLite connection.
    Postgres(Box<PostgresStore>),
}

impl Store {
    /// Whether this connection's commits wait for the flush to disk (PostgreSQL's `synchronous_commit`; `true` is
    /// the server's own setting; SQLite's is per database, chosen at open). The host turns it off only for writes it
    /// can derive again from the inbox, and back before anything that must be durable.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub fn set_synchronous_commit(&self, on: bool) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(store) => {
                // Back to the server's own setting, whatever it is.
                let sql = if on {
                    "RESET synchronous_commit"
                } else {
                    "SET synchronous_commit = off"
                };
                store
                    .with_client(|client| client.batch_execute(sql))
                    .map_err(|error| StoreError::from(PostgresError::from(error)))
            }
        }
    }
}

/// What goes wrong in either database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] SqliteError),
    #[error(transparent)]
    Postgres(#[from] PostgresError),
}

/// A transaction of either database.
#[derive(Debug)]
pub enum StoreTransaction<'a> {
    Sqlite(SqliteTransaction<'a>),
    Postgres(PostgresTransaction<'a>),
}

/// Forwards `$call` to the store inside `$value`, converting the error.
macro_rules! forward {
    ($value:expr, $inner:ident => $call:expr) => {
        match $value {
            Store::Sqlite($inner) => $call.map_err(StoreError::from),
            Store::Postgres($inner) => $call.map_err(StoreError::from),
        }
    };
}

impl IntegrationStore for Store {
    type Error = StoreError;

    fn create_integration(&mut self, integration: &Integration) -> Result<(), StoreError> {
        forward!(self, store => store.create_integration(integration))
    }

    fn update_integration(&mut self, integration: &Integration) -> Result<bool, StoreError> {
        forward!(self, store => store.update_integration(integration))
    }

    fn update_details(&mut self, integration: &Integration) -> Result<bool, StoreError> {
        forward!(self, store => store.update_details(integration))
    }

    fn find_integration(&self, id: &str) -> Result<Option<Integration>, StoreError> {
        forward!(self, store => store.find_integration(id))
    }

    fn find_by_routing_secret(
        &self,
        service: &str,
        routing_secret: &RoutingSecret,
    ) -> Result<Option<Integration>, StoreError> {
        forward!(self, store => store.find_by_routing_secret(service, routing_secret))
    }

    fn list_integrations(&self) -> Result<Vec<Integration>, StoreError> {
        forward!(self, store => store.list_integrations())
    }

    fn poll_state(&self, id: &str) -> Result<PollState, StoreError> {
        forward!(self, store => store.poll_state(id))
    }

    fn save_poll_state(&mut self, id: &str, state: &PollState) -> Result<(), StoreError> {
        forward!(self, store => store.save_poll_state(id, state))
    }

    fn due_for_polling(&self, services: &[&str], now: DateTime<Utc>) -> Result<Vec<Integration>, StoreError> {
        forward!(self, store => store.due_for_polling(services, now))
    }

    fn acquire_due_for_polling(
        &mut self,
        services: &[&str],
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Integration>, StoreError> {
        forward!(self, store => store.acquire_due_for_polling(services, holder, now, lease, limit))
    }

    fn acquire_poll_lease(
        &mut self,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Integration>, StoreError> {
        forward!(self, store => store.acquire_poll_lease(id, holder, now, lease))
    }

    fn token_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        forward!(self, store => store.token_version(id))
    }

    fn try_begin_refresh(
        &mut self,
        id: &str,
        seen_version: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<RefreshClaim, StoreError> {
        forward!(self, store => store.try_begin_refresh(id, seen_version, holder, now, ttl))
    }

    fn replace_tokens(&mut self, id: &str, expected_version: i64, tokens: &TokenSet) -> Result<bool, StoreError> {
        forward!(self, store => store.replace_tokens(id, expected_version, tokens))
    }

    fn release_refresh(&mut self, id: &str, holder: &str) -> Result<(), StoreError> {
        forward!(self, store => store.release_refresh(id, holder))
    }
}

impl StateLedger for Store {
    type Error = StoreError;

    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        forward!(self, store => store.mark_used(id, expires_at))
    }
}

impl ActivityStore for Store {
    type Error = StoreError;
    type Transaction<'a> = StoreTransaction<'a>;

    fn begin(&mut self) -> Result<StoreTransaction<'_>, StoreError> {
        Ok(match self {
            Self::Sqlite(store) => StoreTransaction::Sqlite(store.begin()?),
            Self::Postgres(store) => StoreTransaction::Postgres(store.begin()?),
        })
    }

    fn recent_events(&self, query: &EventQuery) -> Result<EventListing, StoreError> {
        forward!(self, store => store.recent_events(query))
    }

    fn untitled_objects(&self, query: &UntitledQuery) -> Result<Vec<Object>, StoreError> {
        forward!(self, store => store.untitled_objects(query))
    }

    fn ingest_conversions(&mut self, conversions: &[(&str, &Conversion)]) -> Result<Vec<IngestReport>, StoreError> {
        forward!(self, store => store.ingest_conversions(conversions))
    }
}

/// Forwards `$call` to the transaction inside `$value`, converting the error.
macro_rules! forward_transaction {
    ($value:expr, $inner:ident => $call:expr) => {
        match $value {
            StoreTransaction::Sqlite($inner) => $call.map_err(StoreError::from),
            StoreTransaction::Postgres($inner) => $call.map_err(StoreError::from),
        }
    };
}

impl ActivityTransaction for StoreTransaction<'_> {
    type Error = StoreError;
    // Both stores number events with their `BIGINT` / `INTEGER` row id.
    type EventId = i64;

    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, StoreError> {
        forward_transaction!(self, transaction => transaction.upsert_object(integration_id, object))
    }

    fn insert_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<i64>, StoreError> {
        forward_transaction!(self, transaction => transaction.insert_event(integration_id, event))
    }

    fn replace_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<i64>, StoreError> {
        forward_transaction!(self, transaction => transaction.replace_event(integration_id, event))
    }

    fn insert_blocks(&mut self, event: i64, blocks: &[Block]) -> Result<(), StoreError> {
        forward_transaction!(self, transaction => transaction.insert_blocks(event, blocks))
    }

    fn commit(self) -> Result<(), StoreError> {
        forward_transaction!(self, transaction => transaction.commit())
    }
}

impl InboxStore for Store {
    type Error = StoreError;

    fn append_delivery(&mut self, delivery: &InboxDelivery) -> Result<i64, StoreError> {
        forward!(self, store => store.append_delivery(delivery))
    }

    fn record_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        outcome: &serde_json::Value,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        forward!(self, store => store.record_outcome(id, status, outcome, next_attempt_at, now))
    }

    fn keep_and_ingest(
        &mut self,
        deliveries: &[InboxDelivery],
        conversions: &[Option<&Conversion>],
        outcome: &mut dyn FnMut(usize, i64, Option<&IngestReport>) -> RecordedOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<KeptAndIngested>, StoreError> {
        forward!(self, store => store.keep_and_ingest(deliveries, conversions, outcome, now))
    }

    fn inbox_entry(&self, id: i64) -> Result<Option<InboxRecord>, StoreError> {
        forward!(self, store => store.inbox_entry(id))
    }

    fn list_inbox(&self, query: &InboxQuery) -> Result<Vec<InboxRecord>, StoreError> {
        forward!(self, store => store.list_inbox(query))
    }

    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<InboxRecord>, StoreError> {
        forward!(self, store => store.due_deliveries(now, limit))
    }

    fn prune_inbox(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        forward!(self, store => store.prune_inbox(before))
    }
}
