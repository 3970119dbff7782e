//! Storage as traits the host implements, and [`ingest`], which stores conversions through them idempotently.
//!
//! The library never talks to a database. Storage is two traits, one concern each: [`IntegrationStore`] keeps the
//! integration records and their polling state, [`ActivityStore`] keeps objects, events and blocks. A host
//! implements them over its own database, or uses [`MemoryStore`], `SqliteStore` behind the `sqlite` feature, or
//! `PostgresStore` behind the `postgres` feature (for several instances on one database).
//!
//! The three stores also implement the OAuth [`StateLedger`](crate::oauth::StateLedger) (the record of `state`s
//! already accepted), so that hosts sharing a database accept each authorization once, whichever instance receives
//! the callback.
//!
//! # Transaction boundary
//!
//! [`ingest`] stores each event in its own transaction: [`ActivityStore::begin`], then
//! [`upsert_object`](ActivityTransaction::upsert_object) for the actor and the target,
//! [`insert_event`](ActivityTransaction::insert_event), [`insert_blocks`](ActivityTransaction::insert_blocks), and
//! [`commit`](ActivityTransaction::commit). An implementation must make everything done between `begin` and
//! `commit` visible together or not at all, and must undo it when the transaction is dropped without `commit` (an
//! error midway, a panic, a duplicate). So an event lands with its objects and blocks, or not at all.
//!
//! # Idempotence
//!
//! Events are unique per (integration, [`Event::source_id`]): [`insert_event`](ActivityTransaction::insert_event)
//! answers `None` for an event already stored, and [`ingest`] then rolls the transaction back, so a redelivered
//! webhook or an overlapping poll page changes nothing, not even the objects. Objects are unique per (integration,
//! [`Object::key`]); a newer payload's copy of an object replaces the stored one (last write wins), except that a
//! copy without a title keeps the stored name (see [`ActivityTransaction::upsert_object`]).
//!
//! # Names
//!
//! Objects that payloads name by id only are stored without a title; [`ActivityStore::untitled_objects`] lists them
//! for a plugin's [`Enricher`](crate::enrich::Enricher), and [`store_names`] writes the named copies back in place.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod database;
mod inbox;
mod integration;
mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
mod pg;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;

use std::error::Error as StdError;

use chrono::{DateTime, Utc};

use crate::convert::Conversion;
use crate::model::{Block, Event, Object};

/// The PostgreSQL client [`PostgresStore::from_client`] takes a connection from.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use ::postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use database::DatabaseError;
pub use inbox::{
    InboxDelivery, InboxOrigin, InboxQuery, InboxRecord, InboxStatus, InboxStore, KeptAndIngested, RecordedOutcome,
};
pub use integration::{IntegrationStore, PollState, RefreshClaim, routing_key};
pub use memory::{MemoryError, MemoryStore, MemoryTransaction};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use pg::{PostgresError, PostgresStore, PostgresTransaction};
/// The SQLite bindings [`SqliteStore::from_connection`] takes a connection from.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use rusqlite;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteError, SqliteStore, SqliteTransaction};

/// The schema version the SQLite and Postgres stores migrate their databases to (their `schema_version()`). A
/// database of a newer version is refused.
pub const SCHEMA_VERSION: i64 = 6;

/// Storage of activity: objects, events and their blocks, scoped by integration.
pub trait ActivityStore {
    /// What goes wrong in this store.
    type Error: StdError + Send + Sync + 'static;
    /// A unit of work; see the [module docs](self) for the contract.
    type Transaction<'a>: ActivityTransaction<Error = Self::Error>
    where
        Self: 'a;

    /// Starts a transaction.
    ///
    /// # Errors
    ///
    /// When the store cannot start one (connection lost, database locked).
    fn begin(&mut self) -> Result<Self::Transaction<'_>, Self::Error>;

    /// The most recent events, newest first (by event time, then by insertion), each with its current actor and
    /// target objects and its blocks in order.
    ///
    /// A stored row that cannot be read back (a column that does not hold what the schema promises, written by
    /// hand or by a bug) never breaks the listing: it is left out and named in [`EventListing::skipped`], and
    /// counts toward the query's limit, so a page may list fewer events than asked while rows were skipped.
    ///
    /// # Errors
    ///
    /// When the store cannot be read at all (connection lost, database locked).
    fn recent_events(&self, query: &EventQuery) -> Result<EventListing, Self::Error>;

    /// The objects of one integration that have no title yet, of the kinds asked for, in key order: those an
    /// [`Enricher`](crate::enrich::Enricher) can name.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn untitled_objects(&self, query: &UntitledQuery) -> Result<Vec<Object>, Self::Error>;

    /// What [`ingest_batch`] does: stores the events of several conversions in one transaction, one report per
    /// conversion, all or nothing. The provided implementation goes event by event through
    /// [`begin`](Self::begin) and the [`ActivityTransaction`] calls; a store may override it to do the same in a
    /// few statements for the whole batch, with the same outcome (the same rows, the same reports).
    ///
    /// # Errors
    ///
    /// The store's error; nothing of the batch is stored then.
    fn ingest_conversions(&mut self, conversions: &[(&str, &Conversion)]) -> Result<Vec<IngestReport>, Self::Error> {
        ingest_event_by_event(self, conversions)
    }
}

/// The operations of one transaction. Dropping it without [`commit`](Self::commit) must undo everything it did.
pub trait ActivityTransaction {
    /// What goes wrong in this store.
    type Error: StdError + Send + Sync + 'static;
    /// How the store refers to an inserted event, for [`insert_blocks`](Self::insert_blocks).
    type EventId: Copy;

    /// Inserts `object` under (integration, [`Object::key`]), or replaces the stored copy, and says which.
    ///
    /// A copy without a [`title`](Object::title) replacing a stored copy with one keeps the stored title, its
    /// [`image_url`](Object::image_url) when the copy has none, and the stored metadata entries the copy lacks
    /// ([`keep_name`]): a name an enricher resolved is not erased by the next event that names the object by id only.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, Self::Error>;

    /// Inserts `event` (without its blocks), linked to its actor and target by key (both were upserted earlier in
    /// this transaction). Answers `None`, and stores nothing, when (integration, `source_id`) already exists.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn insert_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<Self::EventId>, Self::Error>;

    /// Replaces the stored event (integration, `event.source_id`) with `event` (without its blocks), in place: it
    /// keeps its id and its place in the order of insertion, and loses its old blocks (add the new ones with
    /// [`insert_blocks`](Self::insert_blocks)). Answers `None`, and changes nothing, when no such event is stored.
    /// The actor and target must have been upserted earlier in this transaction.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn replace_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<Self::EventId>, Self::Error>;

    /// Inserts the blocks of an event inserted in this transaction, keeping their order.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn insert_blocks(&mut self, event: Self::EventId, blocks: &[Block]) -> Result<(), Self::Error>;

    /// Makes everything done in this transaction visible at once.
    ///
    /// # Errors
    ///
    /// When the store fails; then nothing of the transaction is stored.
    fn commit(self) -> Result<(), Self::Error>;
}

/// What [`ActivityTransaction::upsert_object`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectChange {
    /// The object was new.
    Created,
    /// The stored object differed and was replaced.
    Updated,
    /// The stored object was identical.
    Unchanged,
}

/// Which events [`ActivityStore::recent_events`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventQuery {
    /// Only this integration's events; all integrations when `None`.
    pub integration_id: Option<String>,
    /// At most this many events.
    pub limit: usize,
    /// Only events of this [`service`](Event::service).
    pub service: Option<String>,
    /// Only events whose actor has this [`key`](Object::key).
    pub actor_key: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events at or before this time (the last shown time, for the next page).
    pub until: Option<DateTime<Utc>>,
}

impl EventQuery {
    /// The `limit` most recent events of every integration.
    pub fn latest(limit: usize) -> Self {
        Self {
            integration_id: None,
            limit,
            service: None,
            actor_key: None,
            since: None,
            until: None,
        }
    }

    /// The same query, restricted to one integration.
    #[must_use]
    pub fn for_integration(mut self, integration_id: impl Into<String>) -> Self {
        self.integration_id = Some(integration_id.into());
        self
    }

    /// The same query, restricted to one service's events.
    #[must_use]
    pub fn for_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The same query, restricted to the events of the actor with key `actor_key`.
    #[must_use]
    pub fn for_actor(mut self, actor_key: impl Into<String>) -> Self {
        self.actor_key = Some(actor_key.into());
        self
    }

    /// The same query, restricted to events at or after `since`.
    #[must_use]
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// The same query, restricted to events at or before `until`.
    #[must_use]
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Whether an event of `integration_id` matches the query's filters (not its limit), for stores that filter in
    /// memory.
    pub fn matches(&self, integration_id: &str, event: &Event) -> bool {
        self.integration_id.as_deref().is_none_or(|id| id == integration_id)
            && self.service.as_deref().is_none_or(|service| service == event.service)
            && self.actor_key.as_deref().is_none_or(|key| key == event.actor.key)
            && self.since.is_none_or(|since| event.time >= since)
            && self.until.is_none_or(|until| event.time <= until)
    }
}

/// Which objects [`ActivityStore::untitled_objects`] lists: untitled ones of one integration and of some kinds, in
/// key order, from after a key on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UntitledQuery {
    /// The integration whose objects to list.
    pub integration_id: String,
    /// Only objects of these [`kind`](Object::kind)s (an enricher's [`kinds`](crate::enrich::Enricher::kinds)).
    pub kinds: Vec<String>,
    /// Only objects whose key sorts after this one (byte order): where the previous page ended.
    pub after_key: Option<String>,
    /// At most this many objects.
    pub limit: usize,
}

impl UntitledQuery {
    /// The first `limit` untitled objects of `integration_id` of the given `kinds`.
    pub fn new<K: Into<String>>(
        integration_id: impl Into<String>,
        kinds: impl IntoIterator<Item = K>,
        limit: usize,
    ) -> Self {
        Self {
            integration_id: integration_id.into(),
            kinds: kinds.into_iter().map(Into::into).collect(),
            after_key: None,
            limit,
        }
    }

    /// The same query, from after `key` on.
    #[must_use]
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.after_key = Some(key.into());
        self
    }

    /// Whether `object` of `integration_id` matches the query (for stores that filter in memory).
    pub fn matches(&self, integration_id: &str, object: &Object) -> bool {
        integration_id == self.integration_id
            && object.title.is_none()
            && self.kinds.iter().any(|kind| *kind == object.kind)
            && self
                .after_key
                .as_deref()
                .is_none_or(|after| object.key.as_str() > after)
    }
}

/// `incoming` as [`ActivityTransaction::upsert_object`] stores it over `stored`: unchanged when it has a title;
/// without one, it keeps the stored title, the stored image when it has none, and the stored metadata entries it
/// lacks.
///
/// ```
/// use spark_integrations::model::Object;
/// use spark_integrations::store::keep_name;
///
/// let mut named = Object::new("slack:T1:user:U1", "user", "slack_user");
/// named.title = Some("Ada".into());
/// named.metadata.insert("real_name".into(), "Ada Lovelace".into());
/// let by_id = Object::new("slack:T1:user:U1", "user", "slack_user");
/// let kept = keep_name(&named, &by_id);
/// assert_eq!(kept.title.as_deref(), Some("Ada"));
/// assert_eq!(kept.metadata["real_name"], "Ada Lovelace");
/// ```
pub fn keep_name(stored: &Object, incoming: &Object) -> Object {
    let mut kept = incoming.clone();
    if incoming.title.is_some() || stored.title.is_none() {
        return kept;
    }
    kept.title.clone_from(&stored.title);
    if kept.image_url.is_none() {
        kept.image_url.clone_from(&stored.image_url);
    }
    for (name, value) in &stored.metadata {
        kept.metadata.entry(name.clone()).or_insert_with(|| value.clone());
    }
    kept
}

/// Stores objects named by an [`Enricher`](crate::enrich::Enricher) ([`EnrichOutcome::updated`]) in place, in one
/// transaction, and answers how many changed.
///
/// [`EnrichOutcome::updated`]: crate::enrich::EnrichOutcome::updated
///
/// # Errors
///
/// When the store fails; then none of them is stored.
pub fn store_names<S: ActivityStore>(
    store: &mut S,
    integration_id: &str,
    objects: &[Object],
) -> Result<usize, S::Error> {
    let mut transaction = store.begin()?;
    let mut changed = 0;
    for object in objects {
        if transaction.upsert_object(integration_id, object)? != ObjectChange::Unchanged {
            changed += 1;
        }
    }
    transaction.commit()?;
    Ok(changed)
}

/// An event as stored: with the integration it belongs to, its current objects and its blocks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The integration the event belongs to.
    pub integration_id: String,
    /// The event, with [`Event::actor`] and [`Event::target`] as currently stored.
    pub event: Event,
}

impl StoredEvent {
    /// `event` as stored for `integration_id`, for [`ActivityStore`] implementations outside this crate.
    pub fn new(integration_id: impl Into<String>, event: Event) -> Self {
        Self {
            integration_id: integration_id.into(),
            event,
        }
    }
}

/// What [`ActivityStore::recent_events`] found: the events it could read, and the rows it could not.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EventListing {
    /// The events, newest first.
    pub events: Vec<StoredEvent>,
    /// The rows left out because they could not be read back, in listing order. Report them (log them, show a
    /// notice): each is stored data that needs repair.
    pub skipped: Vec<SkippedRow>,
}

/// A stored event row that [`ActivityStore::recent_events`] could not read back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedRow {
    /// The integration of the row, when that column could be read.
    pub integration_id: Option<String>,
    /// The event's [`source_id`](Event::source_id), when that column could be read.
    pub source_id: Option<String>,
    /// What was wrong, naming the column: `corrupt column `events.time`: ...`.
    pub reason: String,
}

impl EventListing {
    /// A listing of `events`, newest first, and the `skipped` rows, for [`ActivityStore`] implementations outside
    /// this crate.
    pub fn new(events: Vec<StoredEvent>, skipped: Vec<SkippedRow>) -> Self {
        Self { events, skipped }
    }
}

impl SkippedRow {
    /// A skipped row of `integration_id` and `source_id` (as far as they could be read), with the error that
    /// made it unreadable.
    pub fn new(integration_id: Option<String>, source_id: Option<String>, reason: &dyn std::fmt::Display) -> Self {
        Self {
            integration_id,
            source_id,
            reason: reason.to_string(),
        }
    }
}

/// Counts of what [`ingest`] and [`rederive`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Events stored.
    pub inserted: usize,
    /// Events already stored before (same integration and `source_id`): nothing was changed for them.
    pub duplicates: usize,
    /// Events already stored, replaced in place by [`rederive`].
    pub updated: usize,
    /// Objects stored for the first time.
    pub objects_created: usize,
    /// Stored objects replaced by a different copy.
    pub objects_updated: usize,
}

/// [`ingest`] stopped at a failing event: the events before it are stored (and counted in `report`); the failing
/// one left nothing behind; the ones after it were not attempted.
#[derive(Debug, thiserror::Error)]
#[error("storing event `{source_id}` failed after {} stored: {source}", report.inserted)]
#[non_exhaustive]
pub struct IngestError<E: StdError + 'static> {
    /// What was stored before the failure.
    pub report: IngestReport,
    /// The `source_id` of the event that failed.
    pub source_id: String,
    /// The store's error.
    #[source]
    pub source: E,
}

/// Stores `events` for `integration_id`, each in its own transaction, skipping those already stored.
///
/// ```
/// use spark_integrations::store::{ingest, ActivityStore, EventQuery, MemoryStore};
/// # use chrono::{TimeZone, Utc};
/// # use spark_integrations::model::{Event, Object};
/// # let actor = Object::new("github:user:583231", "user", "github_user");
/// # let target = Object::new("github:repository:1296269", "repository", "github_repository");
/// # let time = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
/// # let event = Event::builder().source_id("22249084964").time(time).service("github").domain("repository")
/// #     .action("push").actor(actor).target(target).build()?;
/// let mut store = MemoryStore::new();
/// let first = ingest(&mut store, "integration-1", std::slice::from_ref(&event))?;
/// let again = ingest(&mut store, "integration-1", std::slice::from_ref(&event))?;
/// assert_eq!((first.inserted, first.objects_created), (1, 2));
/// assert_eq!((again.inserted, again.duplicates), (0, 1));
/// assert_eq!(store.recent_events(&EventQuery::latest(10))?.events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`IngestError`] when the store fails; see its docs for what was stored.
pub fn ingest<S: ActivityStore>(
    store: &mut S,
    integration_id: &str,
    events: &[Event],
) -> Result<IngestReport, IngestError<S::Error>> {
    let mut report = IngestReport::default();
    for event in events {
        ingest_one(store, integration_id, event, &mut report).map_err(|source| IngestError {
            report,
            source_id: event.source_id.clone(),
            source,
        })?;
    }
    Ok(report)
}

/// Stores the events of a [`Conversion`]; skipped payloads and challenges store nothing.
///
/// # Errors
///
/// As [`ingest`].
pub fn ingest_conversion<S: ActivityStore>(
    store: &mut S,
    integration_id: &str,
    conversion: &Conversion,
) -> Result<IngestReport, IngestError<S::Error>> {
    match conversion {
        Conversion::Converted(events) => ingest(store, integration_id, events),
        _ => Ok(IngestReport::default()),
    }
}

/// Stores the events of several conversions in **one** transaction, one report per conversion, in order: how a host
/// that takes deliveries in batches pays one commit (one flush to disk) for many of them. Events already stored are
/// duplicates, as with [`ingest`]; their objects may still be refreshed.
///
/// All or nothing: when the store fails, nothing of the batch is stored, and the host can store the conversions one
/// by one with [`ingest_conversion`] to find which one fails.
///
/// ```
/// use spark_integrations::convert::Conversion;
/// use spark_integrations::store::{ingest_batch, MemoryStore};
/// # use chrono::{TimeZone, Utc};
/// # use spark_integrations::model::{Event, Object};
/// # let actor = Object::new("github:user:583231", "user", "github_user");
/// # let target = Object::new("github:repository:1296269", "repository", "github_repository");
/// # let time = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
/// # let event = Event::builder().source_id("22249084964").time(time).service("github").domain("repository")
/// #     .action("push").actor(actor).target(target).build()?;
/// let mut store = MemoryStore::new();
/// let once = Conversion::Converted(vec![event]);
/// let reports = ingest_batch(&mut store, &[("integration-1", &once), ("integration-1", &once)])?;
/// assert_eq!((reports[0].inserted, reports[1].duplicates), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The store's error; nothing of the batch is stored then.
pub fn ingest_batch<S: ActivityStore>(
    store: &mut S,
    conversions: &[(&str, &Conversion)],
) -> Result<Vec<IngestReport>, S::Error> {
    store.ingest_conversions(conversions)
}

/// [`ingest_batch`] through one transaction's calls, event by event: what [`ActivityStore::ingest_conversions`] does
/// unless a store overrides it.
pub(crate) fn ingest_event_by_event<S: ActivityStore + ?Sized>(
    store: &mut S,
    conversions: &[(&str, &Conversion)],
) -> Result<Vec<IngestReport>, S::Error> {
    let mut transaction = store.begin()?;
    let reports = ingest_within(&mut transaction, conversions)?;
    transaction.commit()?;
    Ok(reports)
}

/// Stores the events of `conversions` through `transaction`, event by event, without committing.
pub(crate) fn ingest_within<T: ActivityTransaction>(
    transaction: &mut T,
    conversions: &[(&str, &Conversion)],
) -> Result<Vec<IngestReport>, T::Error> {
    let mut reports = Vec::with_capacity(conversions.len());
    for (integration_id, conversion) in conversions {
        let mut report = IngestReport::default();
        if let Conversion::Converted(events) = conversion {
            for event in events {
                let objects = upsert_objects(transaction, integration_id, event)?;
                match transaction.insert_event(integration_id, event)? {
                    Some(id) => {
                        transaction.insert_blocks(id, &event.blocks)?;
                        report.inserted += 1;
                        report.objects_created += objects.objects_created;
                        report.objects_updated += objects.objects_updated;
                    }
                    None => report.duplicates += 1,
                }
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The conversions of `deliveries` that have one, paired with their integrations, for [`ingest_batch`]: what a
/// store's [`InboxStore::keep_and_ingest`] stores.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn to_store<'a>(
    deliveries: &'a [InboxDelivery],
    conversions: &[Option<&'a Conversion>],
) -> Vec<(&'a str, &'a Conversion)> {
    deliveries
        .iter()
        .zip(conversions)
        .filter_map(|(delivery, conversion)| Some((delivery.integration_id.as_str(), (*conversion)?)))
        .collect()
}

/// The reports of [`to_store`]'s conversions, back in the places of their deliveries; the outcome of each delivery
/// kept as `ids[i]`, as `outcome` gives it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn outcomes_of(
    ids: &[i64],
    conversions: &[Option<&Conversion>],
    reports: Vec<IngestReport>,
    outcome: &mut dyn FnMut(usize, i64, Option<&IngestReport>) -> RecordedOutcome,
) -> (Vec<Option<IngestReport>>, Vec<RecordedOutcome>) {
    let mut reports = reports.into_iter();
    let placed: Vec<Option<IngestReport>> = conversions
        .iter()
        .map(|conversion| conversion.and_then(|_| reports.next()))
        .collect();
    let outcomes = ids
        .iter()
        .zip(&placed)
        .enumerate()
        .map(|(index, (id, report))| outcome(index, *id, report.as_ref()))
        .collect();
    (placed, outcomes)
}

/// Stores the events of `conversion` again, replacing those already stored for the same source in place (same id;
/// blocks and objects replaced) and inserting the rest: for deriving kept deliveries again with improved converters.
/// Idempotent: re-deriving the same conversion twice changes nothing the second time but the counts.
///
/// ```
/// use spark_integrations::convert::Conversion;
/// use spark_integrations::store::{ingest, rederive, ActivityStore, EventQuery, MemoryStore};
/// # use chrono::{TimeZone, Utc};
/// # use spark_integrations::model::{Event, Object};
/// # let actor = Object::new("github:user:583231", "user", "github_user");
/// # let target = Object::new("github:repository:1296269", "repository", "github_repository");
/// # let time = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
/// # let event = Event::builder().source_id("22249084964").time(time).service("github").domain("repository")
/// #     .action("push").actor(actor).target(target).build()?;
/// let mut store = MemoryStore::new();
/// ingest(&mut store, "integration-1", std::slice::from_ref(&event))?;
/// let mut improved = event.clone();
/// improved.value = Some(3);
/// let report = rederive(&mut store, "integration-1", &Conversion::Converted(vec![improved]))?;
/// assert_eq!((report.inserted, report.updated), (0, 1));
/// let stored = store.recent_events(&EventQuery::latest(10))?.events;
/// assert_eq!((stored.len(), stored[0].event.value), (1, Some(3)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`ingest`].
pub fn rederive<S: ActivityStore>(
    store: &mut S,
    integration_id: &str,
    conversion: &Conversion,
) -> Result<IngestReport, IngestError<S::Error>> {
    let mut report = IngestReport::default();
    let Conversion::Converted(events) = conversion else {
        return Ok(report);
    };
    for event in events {
        rederive_one(store, integration_id, event, &mut report).map_err(|source| IngestError {
            report,
            source_id: event.source_id.clone(),
            source,
        })?;
    }
    Ok(report)
}

/// Upserts the actor and target of `event`, counting what was created and updated.
fn upsert_objects<T: ActivityTransaction>(
    transaction: &mut T,
    integration_id: &str,
    event: &Event,
) -> Result<IngestReport, T::Error> {
    let mut objects = IngestReport::default();
    for object in [&event.actor, &event.target] {
        match transaction.upsert_object(integration_id, object)? {
            ObjectChange::Created => objects.objects_created += 1,
            ObjectChange::Updated => objects.objects_updated += 1,
            ObjectChange::Unchanged => {}
        }
    }
    Ok(objects)
}

fn rederive_one<S: ActivityStore>(
    store: &mut S,
    integration_id: &str,
    event: &Event,
    report: &mut IngestReport,
) -> Result<(), S::Error> {
    let mut transaction = store.begin()?;
    let objects = upsert_objects(&mut transaction, integration_id, event)?;
    let (id, replaced) = match transaction.replace_event(integration_id, event)? {
        Some(id) => (id, true),
        None => match transaction.insert_event(integration_id, event)? {
            Some(id) => (id, false),
            // Inserted by someone else between the two calls: replace that one.
            None => match transaction.replace_event(integration_id, event)? {
                Some(id) => (id, true),
                None => return Ok(()),
            },
        },
    };
    transaction.insert_blocks(id, &event.blocks)?;
    transaction.commit()?;
    if replaced {
        report.updated += 1;
    } else {
        report.inserted += 1;
    }
    report.objects_created += objects.objects_created;
    report.objects_updated += objects.objects_updated;
    Ok(())
}

fn ingest_one<S: ActivityStore>(
    store: &mut S,
    integration_id: &str,
    event: &Event,
    report: &mut IngestReport,
) -> Result<(), S::Error> {
    let mut transaction = store.begin()?;
    let objects = upsert_objects(&mut transaction, integration_id, event)?;
    let Some(id) = transaction.insert_event(integration_id, event)? else {
        // Already stored: dropping the transaction undoes the object upserts too.
        report.duplicates += 1;
        return Ok(());
    };
    transaction.insert_blocks(id, &event.blocks)?;
    transaction.commit()?;
    report.inserted += 1;
    report.objects_created += objects.objects_created;
    report.objects_updated += objects.objects_updated;
    Ok(())
}
