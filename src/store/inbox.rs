//! The inbox: kept deliveries, their states and outcomes, and the [`InboxStore`] trait.

use std::error::Error as StdError;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::IngestReport;
use crate::convert::Conversion;

/// How a kept payload reached the host, which says how to convert it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InboxOrigin {
    /// A webhook delivery: converted as [`Payload::Webhook`](crate::convert::Payload::Webhook).
    Webhook,
    /// An item fetched by a poller whose conversion failed: converted as
    /// [`Payload::Polled`](crate::convert::Payload::Polled).
    Polled,
}

impl InboxOrigin {
    /// The stable lowercase name: `webhook`, `polled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Polled => "polled",
        }
    }

    /// The origin named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "webhook" => Some(Self::Webhook),
            "polled" => Some(Self::Polled),
            _ => None,
        }
    }
}

/// A verified delivery (or a polled item), as the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxDelivery {
    /// How it reached the host.
    pub origin: InboxOrigin,
    /// The integration it was routed to.
    pub integration_id: String,
    /// The service (plugin identifier) whose converter reads it.
    pub service: String,
    /// The event name from the headers (`X-GitHub-Event`), where the provider sends one.
    pub event: Option<String>,
    /// The delivery id from the headers, where the provider sends one.
    pub delivery_id: Option<String>,
    /// When the host received it: the conversion's `received_at`, every time it is converted again.
    pub received_at: DateTime<Utc>,
    /// The raw body, byte for byte as signed.
    pub body: Vec<u8>,
}

impl InboxDelivery {
    /// A delivery of `body` for `integration_id` of `service`, received at `received_at`.
    pub fn new(
        integration_id: impl Into<String>,
        service: impl Into<String>,
        received_at: DateTime<Utc>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            origin: InboxOrigin::Webhook,
            integration_id: integration_id.into(),
            service: service.into(),
            event: None,
            delivery_id: None,
            received_at,
            body,
        }
    }

    /// The same payload, fetched by a poller rather than delivered to a webhook.
    #[must_use]
    pub fn polled(mut self) -> Self {
        self.origin = InboxOrigin::Polled;
        self
    }

    /// The same delivery with the event name its headers gave.
    #[must_use]
    pub fn with_event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// The same delivery with the delivery id its headers gave.
    #[must_use]
    pub fn with_delivery_id(mut self, delivery_id: impl Into<String>) -> Self {
        self.delivery_id = Some(delivery_id.into());
        self
    }
}

/// Where a kept delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InboxStatus {
    /// Kept, not processed yet (or a transient failure to retry).
    Pending,
    /// Converted and stored; the outcome says what was stored.
    Done,
    /// Converting it failed in a way that retrying the same converter cannot fix; the outcome holds the error.
    /// Retried by hand, or re-derived after a converter upgrade.
    Failed,
}

impl InboxStatus {
    /// The stable lowercase name: `pending`, `done`, `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for InboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kept delivery and where it stands.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboxRecord {
    /// The store's id for it.
    pub id: i64,
    /// The delivery; its `body` is empty unless it was asked for (see [`InboxRecord::body`]).
    pub delivery: InboxDelivery,
    /// The body, when asked for.
    pub body: Option<Vec<u8>>,
    /// Where it stands.
    pub status: InboxStatus,
    /// How many times it was processed.
    pub attempts: u32,
    /// What the last attempt gave: what was stored (done), or the error (failed, or a pending retry).
    pub outcome: Option<Value>,
    /// When a pending delivery may be tried again; `None` for at once.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which kept deliveries [`InboxStore::list_inbox`] lists: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxQuery {
    /// Only those with this status.
    pub status: Option<InboxStatus>,
    /// Only those of these integrations; all when `None`.
    pub integration_ids: Option<Vec<String>>,
    /// Only those received at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many.
    pub limit: usize,
    /// Whether to read the bodies too.
    pub with_bodies: bool,
}

impl InboxQuery {
    /// The `limit` newest kept deliveries, without bodies.
    pub fn new(limit: usize) -> Self {
        Self {
            status: None,
            integration_ids: None,
            since: None,
            limit,
            with_bodies: false,
        }
    }

    /// The same query, with `status` only.
    #[must_use]
    pub fn with_status(mut self, status: InboxStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// The same query, for these integrations only.
    #[must_use]
    pub fn for_integrations(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.integration_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// The same query, for deliveries received at or after `since`.
    #[must_use]
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// The same query, reading bodies.
    #[must_use]
    pub fn with_bodies(mut self) -> Self {
        self.with_bodies = true;
        self
    }

    /// Whether `record` matches the filters (not the limit).
    pub(crate) fn matches(&self, delivery: &InboxDelivery, status: InboxStatus) -> bool {
        self.status.is_none_or(|wanted| wanted == status)
            && self
                .integration_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&delivery.integration_id))
            && self.since.is_none_or(|since| delivery.received_at >= since)
    }
}

/// One attempt's outcome, for [`InboxStore::record_outcomes`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedOutcome {
    /// The kept delivery.
    pub id: i64,
    /// Its new status.
    pub status: InboxStatus,
    /// What the attempt gave.
    pub outcome: Value,
    /// When a pending delivery may be tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl RecordedOutcome {
    /// Delivery `id` is now `status`, with `outcome`, to be tried again at `next_attempt_at` if pending.
    pub fn new(id: i64, status: InboxStatus, outcome: Value, next_attempt_at: Option<DateTime<Utc>>) -> Self {
        Self {
            id,
            status,
            outcome,
            next_attempt_at,
        }
    }
}

/// What [`InboxStore::keep_and_ingest`] did: the deliveries' ids and what storing each one's events gave (`None`
/// for a delivery without conversion), in order.
pub type KeptAndIngested = (Vec<i64>, Vec<Option<IngestReport>>);

/// The inbox: every verified delivery kept durably, as received, before the host acknowledges it; converted and
/// ingested from there, retried, and re-derived when converters improve.
///
/// A host appends a delivery with [`InboxStore::append_delivery`] *before* it answers `2xx` (so that a crash after
/// the answer loses nothing), then converts and ingests it and records the outcome with
/// [`InboxStore::record_outcome`]. At start, and on a timer, it takes [`InboxStore::due_deliveries`] (pending ones,
/// oldest first) and processes them the same way. Ingest is idempotent, so a delivery processed twice (a crash between
/// the ingest and the record, two instances at once) is still stored once.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use spark_integrations::store::{InboxDelivery, InboxQuery, InboxStatus, InboxStore, MemoryStore};
///
/// let mut store = MemoryStore::new();
/// let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
/// let delivery = InboxDelivery::new("github-1", "github", now, br#"{"zen":"Keep it logically awesome."}"#.to_vec())
///     .with_event("ping")
///     .with_delivery_id("d-1");
/// let id = store.append_delivery(&delivery)?;
/// assert_eq!(store.due_deliveries(now, 10)?.len(), 1, "pending until its outcome is recorded");
/// store.record_outcome(id, InboxStatus::Done, &serde_json::json!({"inserted": 0}), None, now)?;
/// assert!(store.due_deliveries(now, 10)?.is_empty());
/// let done = store.list_inbox(&InboxQuery::new(10).with_status(InboxStatus::Done))?;
/// assert_eq!((done[0].attempts, done[0].body.is_none()), (1, true), "listed without bodies unless asked");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait InboxStore {
    /// What goes wrong in this store.
    type Error: StdError + Send + Sync + 'static;

    /// Keeps `delivery` as pending, durably (committed when this returns), and answers its id.
    ///
    /// # Errors
    ///
    /// When the store fails: then nothing is kept, and the host must not acknowledge the delivery.
    fn append_delivery(&mut self, delivery: &InboxDelivery) -> Result<i64, Self::Error>;

    /// Records an attempt at delivery `id`: its new `status`, what it gave (`outcome`), when a pending one may be
    /// tried again; counts the attempt. Answers `false` when there is no such delivery.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn record_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        outcome: &Value,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, Self::Error>;

    /// Keeps every one of `deliveries` as pending, in one commit, and answers their ids in order: how a host that
    /// takes deliveries in batches pays one durable commit for the batch. All or none are kept.
    ///
    /// The provided implementation appends them one by one (one commit each); stores override it.
    ///
    /// # Errors
    ///
    /// When the store fails: then none of them is kept.
    fn append_deliveries(&mut self, deliveries: &[InboxDelivery]) -> Result<Vec<i64>, Self::Error> {
        deliveries
            .iter()
            .map(|delivery| self.append_delivery(delivery))
            .collect()
    }

    /// Records the outcomes of several attempts, each as [`record_outcome`](Self::record_outcome) does, in one
    /// commit where the store can.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn record_outcomes(&mut self, outcomes: &[RecordedOutcome], now: DateTime<Utc>) -> Result<(), Self::Error> {
        for outcome in outcomes {
            self.record_outcome(
                outcome.id,
                outcome.status,
                &outcome.outcome,
                outcome.next_attempt_at,
                now,
            )?;
        }
        Ok(())
    }

    /// Keeps `deliveries` as [`append_deliveries`](Self::append_deliveries) does, stores the events they converted to
    /// as [`ingest_batch`](super::ingest_batch) does, and records every delivery's outcome as
    /// [`record_outcomes`](Self::record_outcomes) does, **in one commit**: a group of new deliveries costs a host
    /// one commit (one flush to disk) instead of three.
    ///
    /// `conversions[i]` is what delivery `i` converted to (`None`: nothing to store, its conversion failed);
    /// `outcome(i, id, report)` gives the outcome to record for delivery `i`, kept as `id` (the outcome's id), from
    /// what storing its events gave (`None` for a delivery without conversion); it is called once for each delivery,
    /// in order, before the commit. Answers the ids and the reports, in order.
    ///
    /// All or nothing: when the store fails, nothing of it is kept; the host then keeps the deliveries alone and
    /// stores them one by one, to find the one that fails. Answers `Ok(None)`, having done nothing, when the store
    /// cannot do it in one commit: the provided implementation always does, and so do the stores here for batches
    /// they cannot store that way.
    ///
    /// # Errors
    ///
    /// When the store fails: then nothing of it is kept.
    fn keep_and_ingest(
        &mut self,
        deliveries: &[InboxDelivery],
        conversions: &[Option<&Conversion>],
        outcome: &mut dyn FnMut(usize, i64, Option<&IngestReport>) -> RecordedOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<KeptAndIngested>, Self::Error> {
        let _ = (deliveries, conversions, outcome, now);
        Ok(None)
    }

    /// Delivery `id`, with its body.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn inbox_entry(&self, id: i64) -> Result<Option<InboxRecord>, Self::Error>;

    /// The kept deliveries `query` selects, newest first.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn list_inbox(&self, query: &InboxQuery) -> Result<Vec<InboxRecord>, Self::Error>;

    /// Pending deliveries whose next attempt is due at `now`, oldest first, with their bodies: what to process
    /// before anything new after a restart, and what the retry timer takes.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<InboxRecord>, Self::Error>;

    /// Forgets done deliveries last updated before `before` (retention); pending and failed ones are kept.
    /// Answers how many were removed.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn prune_inbox(&mut self, before: DateTime<Utc>) -> Result<usize, Self::Error>;
}
