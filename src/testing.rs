//! The storage contract as a test suite: run it against your own [`ActivityStore`], [`IntegrationStore`],
//! [`InboxStore`] and [`StateLedger`] implementations to check that they keep what [`ingest`], the
//! [scheduler](crate::schedule), the OAuth driver and a host rely on. The crate runs the same suite on
//! [`MemoryStore`], `SqliteStore` and `PostgresStore`.
//!
//! Each check is a function that takes a fresh, empty store and **panics** (with an assertion message) when the store
//! breaks the contract: this module is a test suite, meant to be called from tests, unlike the rest of the crate,
//! which answers bad input with errors. [`activity_store`], [`integration_store`], [`inbox_store`] and
//! [`state_ledger`] run every check of one trait, each on a store of its own from a function you give; call the
//! checks one by one instead to see them as separate tests.
//!
//! What is checked, in short: an event stored once per (integration, source id) with its objects and blocks, in one
//! transaction (nothing partial after a failure midway); objects one per (integration, key), updated in place;
//! rederived events replaced in place; listings ordered to the full precision and filtered; times read back as
//! written from year 1 to year 9999 (to the microsecond: a store may cut finer digits); names resolved once;
//! integration records, routing, tokens with their versions and refresh leases, poll state and poll leases; the
//! inbox's deliveries and outcomes; OAuth `state`s accepted once.
//!
//! ```
//! use spark_integrations::store::MemoryStore;
//! use spark_integrations::testing;
//!
//! testing::activity_store(MemoryStore::new);
//! testing::integration_store(MemoryStore::new);
//! testing::inbox_store(MemoryStore::new);
//! testing::state_ledger(MemoryStore::new);
//! ```
//!
//! To see each check as a test of its own, call the checks one by one from `#[test]` functions, each on a fresh
//! store (this crate's `tests/store/main.rs` does so with a small macro, for each of its stores).

use std::fmt;

use crate::convert::Conversion;
use crate::model::{Block, Event, Object, is_storable_time};
use crate::oauth::{StateId, StateLedger, UserToken};
use crate::plugin::Registry;
use crate::providers::github::GithubPlugin;
use crate::providers::slack::SlackPlugin;
use crate::schedule::{self, PollFailure, PollSuccess};
use crate::store::{
    ActivityStore, ActivityTransaction, EventListing, EventQuery, InboxDelivery, InboxOrigin, InboxQuery, InboxStatus,
    InboxStore, IngestReport, IntegrationStore, MemoryStore, ObjectChange, PollState, RecordedOutcome, RefreshClaim,
    StoredEvent, UntitledQuery, ingest, ingest_batch, rederive, store_names,
};
use crate::{AccessToken, Integration, RoutingSecret};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

fn events_of<S: ActivityStore>(store: &S) -> Vec<StoredEvent>
where
    S::Error: fmt::Debug,
{
    store
        .recent_events(&EventQuery::latest(1_000))
        .expect("listing works")
        .events
}

/// The source ids of the events `query` lists, in its order.
fn listed_ids<S: ActivityStore>(store: &S, query: &EventQuery) -> Vec<String>
where
    S::Error: fmt::Debug,
{
    store
        .recent_events(query)
        .expect("listing")
        .events
        .into_iter()
        .map(|stored| stored.event.source_id)
        .collect()
}

/// The sample data the checks store, for tests of your own beside the suite (migrations, damaged rows): times,
/// GitHub objects and pushes, tokens, integration records and the reports `ingest` gives for them.
pub mod sample {
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;

    use crate::model::{Block, Event, Object};
    use crate::oauth::TokenSet;
    use crate::providers::github::GithubPlugin;
    use crate::store::IngestReport;
    use crate::{AccessToken, Integration, RefreshToken};

    /// `seconds` and `nanos` past 2025-01-01T15:00:00Z.
    pub fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(1_735_743_600 + seconds, nanos)
            .single()
            .expect("valid time")
    }

    /// A GitHub user object with its login and id.
    pub fn user(id: u32, login: &str) -> Object {
        let mut object = Object::new(format!("github:user:{id}"), "user", "github_user");
        object.title = Some(login.to_owned());
        object.metadata.insert("id".to_owned(), json!(id));
        object
    }

    /// A GitHub repository object with its name and URL.
    pub fn repository(id: u32, name: &str) -> Object {
        let mut object = Object::new(format!("github:repository:{id}"), "repository", "github_repository");
        object.title = Some(name.to_owned());
        object.url = Some(format!("https://github.com/{name}"));
        object
    }

    /// A push with `commits` blocks, at `seconds` past the base time (with microseconds, to check precision).
    pub fn push(source_id: &str, seconds: i64, commits: usize) -> Event {
        let mut event = Event::builder()
            .source_id(source_id)
            .time(at(seconds, 123_456_000))
            .service("github")
            .domain("repository")
            .action("push")
            .actor(user(583_231, "octocat"))
            .target(repository(1_296_269, "octocat/Hello-World"))
            .value(i64::try_from(commits).expect("small"), "commits")
            .build()
            .expect("a complete event");
        event.event_metadata.insert("ref".to_owned(), json!("refs/heads/main"));
        event
            .actor_metadata
            .insert("display_login".to_owned(), json!("octocat"));
        event.embeddings = Some(vec![0.25, -1.5]);
        event.blocks = (0..commits)
            .map(|index| {
                Block::new()
                    .with_time(at(seconds, 0))
                    .with_title(format!("Commit {index}"))
                    .with_content(format!("message {index}\n\nwith a body"))
                    .with_url(format!("https://github.com/octocat/Hello-World/commit/{index:040}"))
            })
            .collect();
        event
    }

    /// Tokens with an access token, a refresh token and an expiry, as a GitHub authorization gives.
    pub fn tokens(access: &str, refresh: &str, expiry: Option<DateTime<Utc>>) -> TokenSet {
        let mut tokens = TokenSet::new(AccessToken::new(access));
        tokens.refresh_token = Some(RefreshToken::new(refresh));
        tokens.expires_at = expiry;
        tokens
    }

    /// The report of an ingest that stored `inserted` events, found `duplicates` and created or updated objects.
    pub fn report(inserted: usize, duplicates: usize, objects_created: usize, objects_updated: usize) -> IngestReport {
        IngestReport {
            inserted,
            duplicates,
            objects_created,
            objects_updated,
            ..IngestReport::default()
        }
    }

    /// A new GitHub integration record `id` of `user-1`, its routing secret made of `random`.
    pub fn github(id: &str, random: u8) -> Integration {
        Integration::initialize(&GithubPlugin::new(), id, "user-1", &[random; 32])
    }
}

use sample::{at, github, push, report, repository, tokens, user};

/// An ingested event reads back exactly as it was written: its objects, metadata, embeddings and blocks in order.
pub fn stores_an_event_with_its_objects_and_blocks_exactly<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let event = push("1", 0, 3);
    assert_eq!(
        ingest(&mut store, "i1", std::slice::from_ref(&event)).expect("ingest"),
        report(1, 0, 2, 0)
    );
    let stored = events_of(&store);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].integration_id, "i1");
    assert_eq!(
        stored[0].event, event,
        "the stored event reads back as it was written, blocks in order"
    );
}

/// A redelivered event (same integration and source id) stores nothing, not even a changed copy of its objects;
/// the same source id under another integration is another event.
pub fn a_redelivery_stores_nothing_twice<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let event = push("delivery-1", 0, 2);
    ingest(&mut store, "i1", std::slice::from_ref(&event)).expect("first delivery");
    let mut redelivered = event.clone();
    // Even a redelivery carrying a changed copy of an object changes nothing: the duplicate is rolled back whole.
    redelivered.actor.title = Some("renamed".to_owned());
    assert_eq!(
        ingest(&mut store, "i1", &[redelivered]).expect("redelivery"),
        report(0, 1, 0, 0)
    );
    let stored = events_of(&store);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event.blocks.len(), 2);
    assert_eq!(stored[0].event.actor.title.as_deref(), Some("octocat"));
    // The same source id under another integration is another event.
    assert_eq!(
        ingest(&mut store, "i2", &[event]).expect("other integration"),
        report(1, 0, 2, 0)
    );
    assert_eq!(events_of(&store).len(), 2);
}

/// Overlapping pages store each event once; the listing is newest first.
pub fn overlapping_pages_are_deduplicated<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let page =
        |range: std::ops::Range<i64>| -> Vec<Event> { range.map(|n| push(&format!("{}", 1_000 + n), n, 1)).collect() };
    assert_eq!(
        ingest(&mut store, "i1", &page(0..10)).expect("first page"),
        report(10, 0, 2, 0)
    );
    assert_eq!(
        ingest(&mut store, "i1", &page(5..15)).expect("overlapping page"),
        report(5, 5, 0, 0)
    );
    let ids: Vec<String> = events_of(&store)
        .into_iter()
        .map(|stored| stored.event.source_id)
        .collect();
    let expected: Vec<String> = (0..15).rev().map(|n| format!("{}", 1_000 + n)).collect();
    assert_eq!(ids, expected, "newest first, each once");
}

/// Objects are one per (integration, key): a newer copy updates the stored one, and every event shows it.
pub fn a_changed_object_is_updated_by_key<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    ingest(&mut store, "i1", &[push("1", 0, 0)]).expect("first");
    let mut renamed = push("2", 1, 0);
    renamed.target.title = Some("octocat/Renamed".to_owned());
    assert_eq!(
        ingest(&mut store, "i1", &[renamed]).expect("second"),
        report(1, 0, 0, 1)
    );
    for stored in events_of(&store) {
        assert_eq!(
            stored.event.target.title.as_deref(),
            Some("octocat/Renamed"),
            "events show the current object"
        );
    }
    // Same title as another user's login, different id: a different object.
    let mut other = push("3", 2, 0);
    other.actor = user(1, "octocat");
    assert_eq!(
        ingest(&mut store, "i1", &[other]).expect("third"),
        report(1, 0, 1, 1),
        "new actor; target back to its old title"
    );
}

/// [`ActivityStore::recent_events`] orders to the full precision of the times, newest first, filters by
/// integration and stops at the limit.
pub fn listing_filters_orders_and_limits<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    // Same second, different sub-second parts: order must follow the full precision.
    let mut early = push("early", 5, 0);
    early.time = at(5, 900_000_000);
    let mut late = push("late", 5, 0);
    late.time = at(5, 950_000_001);
    let mut whole = push("whole", 5, 0);
    whole.time = at(5, 0);
    ingest(&mut store, "i1", &[late, whole, early]).expect("ingest");
    ingest(&mut store, "i2", &[push("elsewhere", 100, 0)]).expect("ingest");
    let ids = |query: EventQuery| listed_ids(&store, &query);
    assert_eq!(ids(EventQuery::latest(10)), ["elsewhere", "late", "early", "whole"]);
    assert_eq!(
        ids(EventQuery::latest(10).for_integration("i1")),
        ["late", "early", "whole"]
    );
    assert_eq!(ids(EventQuery::latest(2)), ["elsewhere", "late"]);
    assert!(ids(EventQuery::latest(10).for_integration("nobody")).is_empty());
}

fn slack_object(kind: &'static str, id: &str) -> Object {
    let concept = kind.trim_start_matches("slack_");
    let mut object = Object::new(format!("slack:T1:{concept}:{id}"), concept, kind);
    object.metadata.insert("team".to_owned(), json!("T1"));
    object.metadata.insert("id".to_owned(), json!(id));
    object
}

/// A Slack event naming its actor and target by id only, as the converter makes them.
fn slack_event(source_id: &str, seconds: i64, user: &str, target: Object) -> Event {
    Event::builder()
        .source_id(source_id)
        .time(at(seconds, 0))
        .service("slack")
        .domain("message")
        .action("sent")
        .actor(slack_object("slack_user", user))
        .target(target)
        .value(1, "message")
        .build()
        .expect("a complete event")
}

/// [`ActivityStore::untitled_objects`] lists the objects named by id only, by kind and integration, paged by
/// key; [`store_names`] names them in place, and later events without a title keep the name.
pub fn names_are_resolved_once_and_survive_later_events<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let mut message = Object::new("slack:T1:message:C1:1.000001", "message", "slack_message");
    message.content = Some("hello".to_owned());
    ingest(
        &mut store,
        "i1",
        &[
            slack_event("Ev1", 0, "U2", message),
            slack_event("Ev2", 1, "U1", slack_object("slack_channel", "C1")),
        ],
    )
    .expect("ingest");
    ingest(
        &mut store,
        "i2",
        &[slack_event("Ev3", 2, "U9", slack_object("slack_channel", "C9"))],
    )
    .expect("ingest");
    let keys = |store: &S, query: UntitledQuery| -> Vec<String> {
        store
            .untitled_objects(&query)
            .expect("listing")
            .into_iter()
            .map(|object| object.key)
            .collect()
    };
    let kinds = ["slack_user", "slack_channel"];
    assert_eq!(
        keys(&store, UntitledQuery::new("i1", kinds, 10)),
        ["slack:T1:channel:C1", "slack:T1:user:U1", "slack:T1:user:U2"],
        "untitled objects of the kinds asked for, of one integration, in key order; never the messages"
    );
    assert_eq!(
        keys(&store, UntitledQuery::new("i1", ["slack_user"], 1)),
        ["slack:T1:user:U1"]
    );
    assert_eq!(
        keys(&store, UntitledQuery::new("i1", kinds, 10).after("slack:T1:user:U1")),
        ["slack:T1:user:U2"],
        "paged by key"
    );

    // The enricher's copy: a name, an avatar, more metadata.
    let listed = store
        .untitled_objects(&UntitledQuery::new("i1", ["slack_user"], 1))
        .expect("listing");
    let mut named = listed[0].clone();
    named.title = Some("Ada".to_owned());
    named.image_url = Some("https://avatars.example/ada.png".to_owned());
    named.metadata.insert("real_name".to_owned(), json!("Ada Lovelace"));
    assert_eq!(
        store_names(&mut store, "i1", std::slice::from_ref(&named)).expect("store"),
        1
    );
    assert_eq!(
        store_names(&mut store, "i1", std::slice::from_ref(&named)).expect("again"),
        0
    );
    assert_eq!(
        keys(&store, UntitledQuery::new("i1", kinds, 10)),
        ["slack:T1:channel:C1", "slack:T1:user:U2"],
        "named once, no longer listed"
    );
    let actor_of = |store: &S, source_id: &str| -> Object {
        events_of(store)
            .into_iter()
            .find(|stored| stored.event.source_id == source_id)
            .expect("stored")
            .event
            .actor
    };
    assert_eq!(actor_of(&store, "Ev2"), named, "updated in place: every event shows it");

    // A later event naming the same user by id only changes nothing: the name stays, and it is not listed again.
    let report = ingest(
        &mut store,
        "i1",
        &[slack_event("Ev4", 3, "U1", slack_object("slack_channel", "C1"))],
    )
    .expect("ingest");
    assert_eq!((report.inserted, report.objects_updated), (1, 0));
    assert_eq!(actor_of(&store, "Ev4"), named);
    assert_eq!(
        keys(&store, UntitledQuery::new("i1", ["slack_user"], 10)),
        ["slack:T1:user:U2"]
    );
    // A payload that carries a title of its own still replaces it (last write wins).
    let mut renamed = slack_event("Ev5", 4, "U1", slack_object("slack_channel", "C1"));
    renamed.actor.title = Some("ada.l".to_owned());
    ingest(&mut store, "i1", &[renamed]).expect("ingest");
    let actor = actor_of(&store, "Ev2");
    assert_eq!(actor.title.as_deref(), Some("ada.l"));
    assert_eq!(actor.image_url, None, "the payload's copy, whole");
}

/// [`ActivityStore::recent_events`] filters by service, actor and an inclusive time range.
pub fn listing_filters_by_service_actor_and_time<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    ingest(&mut store, "i1", &[push("p1", 0, 1), push("p2", 10, 1)]).expect("ingest");
    let mut other = push("p3", 20, 1);
    other.actor = user(7, "hubot");
    ingest(&mut store, "i1", &[other]).expect("ingest");
    ingest(
        &mut store,
        "i2",
        &[slack_event("Ev1", 5, "U1", slack_object("slack_channel", "C1"))],
    )
    .expect("ingest");
    let ids = |query: EventQuery| listed_ids(&store, &query);
    assert_eq!(ids(EventQuery::latest(10)), ["p3", "p2", "Ev1", "p1"]);
    assert_eq!(ids(EventQuery::latest(10).for_service("slack")), ["Ev1"]);
    assert_eq!(
        ids(EventQuery::latest(10).for_actor("github:user:583231")),
        ["p2", "p1"]
    );
    assert_eq!(
        ids(EventQuery::latest(10).until(at(10, 123_456_000))),
        ["p2", "Ev1", "p1"],
        "until is inclusive, to the full precision"
    );
    assert_eq!(
        ids(EventQuery::latest(10).since(at(5, 0))),
        ["p3", "p2", "Ev1"],
        "since is inclusive"
    );
    assert_eq!(
        ids(EventQuery::latest(1)
            .for_integration("i1")
            .since(at(1, 0))
            .until(at(15, 0))),
        ["p2"]
    );
}

/// Wraps a store so that its transactions fail at `insert_blocks` for one event: the failure injected through the
/// trait, as a broken disk or a lost connection would.
struct FailAtBlocks<S> {
    inner: S,
    source_id: String,
}

#[derive(Debug)]
enum Injected<E> {
    Store(E),
    Failure,
}

impl<E: fmt::Display> fmt::Display for Injected<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(error) => error.fmt(f),
            Self::Failure => f.write_str("injected failure"),
        }
    }
}

impl<E: std::error::Error> std::error::Error for Injected<E> {}

struct FailingTransaction<'a, T> {
    inner: T,
    source_id: &'a str,
    current: Option<String>,
}

impl<S: ActivityStore> ActivityStore for FailAtBlocks<S> {
    type Error = Injected<S::Error>;
    type Transaction<'a>
        = FailingTransaction<'a, S::Transaction<'a>>
    where
        Self: 'a;

    fn begin(&mut self) -> Result<Self::Transaction<'_>, Self::Error> {
        let inner = self.inner.begin().map_err(Injected::Store)?;
        Ok(FailingTransaction {
            inner,
            source_id: &self.source_id,
            current: None,
        })
    }

    fn recent_events(&self, query: &EventQuery) -> Result<EventListing, Self::Error> {
        self.inner.recent_events(query).map_err(Injected::Store)
    }

    fn untitled_objects(&self, query: &UntitledQuery) -> Result<Vec<Object>, Self::Error> {
        self.inner.untitled_objects(query).map_err(Injected::Store)
    }
}

impl<T: ActivityTransaction> ActivityTransaction for FailingTransaction<'_, T> {
    type Error = Injected<T::Error>;
    type EventId = T::EventId;

    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, Self::Error> {
        self.inner
            .upsert_object(integration_id, object)
            .map_err(Injected::Store)
    }

    fn insert_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<T::EventId>, Self::Error> {
        self.current = Some(event.source_id.clone());
        self.inner.insert_event(integration_id, event).map_err(Injected::Store)
    }

    fn replace_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<T::EventId>, Self::Error> {
        self.current = Some(event.source_id.clone());
        self.inner.replace_event(integration_id, event).map_err(Injected::Store)
    }

    fn insert_blocks(&mut self, event: T::EventId, blocks: &[Block]) -> Result<(), Self::Error> {
        self.inner
            .insert_blocks(event, &blocks[..blocks.len() / 2])
            .map_err(Injected::Store)?;
        if self.current.as_deref() == Some(self.source_id) {
            return Err(Injected::Failure);
        }
        self.inner
            .insert_blocks(event, &blocks[blocks.len() / 2..])
            .map_err(Injected::Store)
    }

    fn commit(self) -> Result<(), Self::Error> {
        self.inner.commit().map_err(Injected::Store)
    }
}

/// A transaction that fails midway (injected at `insert_blocks`) leaves nothing of its event, not even its new
/// objects; the events before it stay.
pub fn a_failure_midway_leaves_no_partial_event<S: ActivityStore>(store: S)
where
    S::Error: fmt::Debug,
{
    let mut store = FailAtBlocks {
        inner: store,
        source_id: "2".to_owned(),
    };
    let mut failing = push("2", 2, 4);
    failing.actor = user(42, "newcomer");
    let error = ingest(&mut store, "i1", &[push("1", 1, 2), failing, push("3", 3, 2)]).expect_err("injected");
    assert_eq!(error.source_id, "2");
    assert_eq!(
        error.report,
        report(1, 0, 2, 0),
        "the event before the failure is stored and counted"
    );
    assert!(matches!(error.source, Injected::Failure));
    let stored = events_of(&store.inner);
    assert_eq!(stored.len(), 1, "no partial event, and nothing after the failure");
    assert_eq!(stored[0].event.source_id, "1");
    assert_eq!(stored[0].event.blocks.len(), 2);
    // The failed event's new actor was rolled back with it: storing it again creates it.
    let mut retry = push("2", 2, 4);
    retry.actor = user(42, "newcomer");
    assert_eq!(
        ingest(&mut store.inner, "i1", &[retry]).expect("retry"),
        report(1, 0, 1, 0)
    );
    assert_eq!(events_of(&store.inner)[0].event.blocks.len(), 4);
}

/// [`rederive`] replaces stored events in place and stores new ones once; again, it changes nothing.
pub fn rederiving_replaces_events_in_place_and_never_duplicates<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    ingest(&mut store, "i1", &[push("1", 0, 3), push("2", 1, 1)]).expect("ingest");
    let before = events_of(&store);
    // A better converter: another value, another title for the actor, other blocks.
    let mut improved = push("1", 0, 2);
    improved.value = Some(2);
    improved.value_unit = Some("commits".into());
    improved.actor.title = Some("octocat (renamed)".to_owned());
    let mut new = push("3", 2, 1);
    new.actor.title = improved.actor.title.clone();
    let conversion = Conversion::Converted(vec![improved.clone(), new]);
    let report = rederive(&mut store, "i1", &conversion).expect("rederive");
    assert_eq!((report.inserted, report.updated, report.duplicates), (1, 1, 0));
    let after = events_of(&store);
    assert_eq!(after.len(), 3, "replaced in place, not added");
    let replaced = after
        .iter()
        .find(|stored| stored.event.source_id == "1")
        .expect("still there");
    assert_eq!(
        replaced.event, improved,
        "its fields, objects and blocks are the new ones"
    );
    let untouched = |events: &[StoredEvent]| {
        let mut stored = events
            .iter()
            .find(|stored| stored.event.source_id == "2")
            .cloned()
            .expect("kept");
        // It shares the actor, whose stored copy is the newest: only its own fields must be as they were.
        stored.event.actor.title = None;
        stored
    };
    assert_eq!(untouched(&after), untouched(&before));
    // Idempotent: the same again changes nothing but the counts.
    let again = rederive(&mut store, "i1", &conversion).expect("rederive");
    assert_eq!((again.inserted, again.updated), (0, 2));
    assert_eq!(events_of(&store), after);
}

/// [`ingest_batch`] stores a batch of conversions together, counting each one's duplicates.
pub fn a_batch_is_stored_in_one_transaction_with_its_duplicates_counted<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    ingest(&mut store, "i1", &[push("1", 0, 1)]).expect("ingest");
    let (old, new, other) = (
        Conversion::Converted(vec![push("1", 0, 1)]),
        Conversion::Converted(vec![push("2", 1, 2), push("3", 2, 0)]),
        Conversion::Converted(vec![push("2", 1, 2)]),
    );
    let reports = ingest_batch(
        &mut store,
        &[("i1", &old), ("i1", &new), ("i2", &other), ("i1", &other)],
    )
    .expect("batch");
    let counts: Vec<(usize, usize)> = reports
        .iter()
        .map(|report| (report.inserted, report.duplicates))
        .collect();
    assert_eq!(
        counts,
        [(0, 1), (2, 0), (1, 0), (0, 1)],
        "a source stored earlier in the batch is a duplicate"
    );
    let stored = events_of(&store);
    assert_eq!(stored.len(), 4);
    let two = stored
        .iter()
        .find(|e| e.integration_id == "i1" && e.event.source_id == "2")
        .expect("stored");
    assert_eq!(two.event.blocks.len(), 2);
}

/// Batches as a webhook host forms them: pushes without embeddings (the form stores may write in a few statements),
/// with redeliveries, objects renamed, named by id only and new, and the same source for two integrations.
pub fn a_batch_stores_what_event_by_event_stores<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let plain = |source_id: &str, seconds: i64, commits: usize| {
        let mut event = push(source_id, seconds, commits);
        event.embeddings = None;
        event
    };
    let renamed = |source_id: &str, seconds: i64| {
        let mut event = plain(source_id, seconds, 1);
        event.actor.title = Some("octocat-renamed".to_owned());
        event
    };
    let by_id = |source_id: &str, seconds: i64| {
        let mut event = plain(source_id, seconds, 0);
        event.actor.title = None;
        event.actor.metadata.clear();
        event.target = repository(7, "octocat/Spoon-Knife");
        event
    };
    let batches = [
        vec![
            ("i1", Conversion::Converted(vec![plain("1", 0, 1)])),
            (
                "i1",
                Conversion::Converted(vec![plain("2", 5, 2), renamed("3", 5), plain("2", 5, 2)]),
            ),
            ("i2", Conversion::Converted(vec![plain("2", 5, 2)])),
            ("i1", Conversion::Converted(Vec::new())),
            ("i1", Conversion::Converted(vec![by_id("4", 5), plain("5", 5, 3)])),
        ],
        vec![
            ("i1", Conversion::Converted(vec![plain("5", 5, 3), by_id("6", 7)])),
            ("i2", Conversion::Converted(vec![renamed("1", 8), plain("1", 8, 0)])),
        ],
    ];
    let mut reference = MemoryStore::new();
    ingest(&mut store, "i1", &[plain("1", 0, 1)]).expect("ingest");
    ingest(&mut reference, "i1", &[plain("1", 0, 1)]).expect("ingest");
    for batch in &batches {
        let batch: Vec<(&str, &Conversion)> = batch.iter().map(|(id, conversion)| (*id, conversion)).collect();
        let reports = ingest_batch(&mut store, &batch).expect("batch");
        let expected = ingest_batch(&mut reference, &batch).expect("batch");
        assert_eq!(reports, expected);
        assert_eq!(events_of(&store), events_of(&reference));
    }
}

/// A group of new deliveries kept, stored and recorded in one commit ([`InboxStore::keep_and_ingest`]): what
/// keeping, storing and recording them one step after the other gives; a store that cannot do it at once does
/// nothing.
pub fn a_group_is_kept_stored_and_recorded_at_once<S: InboxStore + ActivityStore>(mut store: S)
where
    <S as InboxStore>::Error: fmt::Debug,
    <S as ActivityStore>::Error: fmt::Debug,
{
    let plain = |source_id: &str, seconds: i64, commits: usize| {
        let mut event = push(source_id, seconds, commits);
        event.embeddings = None;
        event
    };
    let deliveries = [
        InboxDelivery::new("i1", "github", at(1, 0), b"one".to_vec()).with_delivery_id("d-1"),
        InboxDelivery::new("i1", "github", at(2, 0), b"broken".to_vec()),
        InboxDelivery::new("i2", "github", at(3, 0), b"two".to_vec()),
        InboxDelivery::new("i1", "github", at(4, 0), b"one again".to_vec()).with_delivery_id("d-1"),
    ];
    let (one, two) = (
        Conversion::Converted(vec![plain("1", 0, 2)]),
        Conversion::Converted(vec![plain("1", 0, 2), plain("2", 1, 1)]),
    );
    let conversions = [Some(&one), None, Some(&two), Some(&one)];
    let mut asked = Vec::new();
    let mut outcome = |index: usize, id: i64, report: Option<&IngestReport>| {
        asked.push((index, id));
        match report {
            Some(report) => RecordedOutcome::new(
                id,
                InboxStatus::Done,
                json!({"inserted": report.inserted, "duplicates": report.duplicates}),
                None,
            ),
            None => RecordedOutcome::new(id, InboxStatus::Failed, json!({"error": "broken"}), None),
        }
    };
    let Some((ids, reports)) = store
        .keep_and_ingest(&deliveries, &conversions, &mut outcome, at(10, 0))
        .expect("kept")
    else {
        assert!(
            store.list_inbox(&InboxQuery::new(10)).expect("list").is_empty(),
            "a store that cannot do it at once does nothing"
        );
        return;
    };
    assert_eq!(ids.len(), 4);
    assert_eq!(asked, ids.iter().copied().enumerate().collect::<Vec<_>>());
    let mut reference = MemoryStore::new();
    let expected = ingest_batch(&mut reference, &[("i1", &one), ("i2", &two), ("i1", &one)]).expect("batch");
    assert_eq!(reports, [Some(expected[0]), None, Some(expected[1]), Some(expected[2])]);
    assert_eq!(events_of(&store), events_of(&reference));
    let kept: Vec<_> = ids
        .iter()
        .map(|id| {
            let entry = store.inbox_entry(*id).expect("entry").expect("kept");
            (entry.status, entry.attempts, entry.outcome, entry.body)
        })
        .collect();
    assert_eq!(
        kept,
        [
            (
                InboxStatus::Done,
                1,
                Some(json!({"inserted": 1, "duplicates": 0})),
                Some(b"one".to_vec())
            ),
            (
                InboxStatus::Failed,
                1,
                Some(json!({"error": "broken"})),
                Some(b"broken".to_vec())
            ),
            (
                InboxStatus::Done,
                1,
                Some(json!({"inserted": 2, "duplicates": 0})),
                Some(b"two".to_vec())
            ),
            (
                InboxStatus::Done,
                1,
                Some(json!({"inserted": 0, "duplicates": 1})),
                Some(b"one again".to_vec())
            ),
        ]
    );
    assert!(
        store.due_deliveries(at(20, 0), 10).expect("due").is_empty(),
        "none left pending"
    );
}

/// The inbox keeps deliveries byte for byte, hands out the due ones oldest first, records outcomes and retries,
/// lists newest first, appends and records in batches, and prunes only what is done.
pub fn the_inbox_keeps_deliveries_and_their_outcomes<S: InboxStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let body = |n: u8| vec![b'{', b'"', n, b'"', b':', b'1', b'}', 0, 255];
    let first = InboxDelivery::new("i1", "github", at(0, 123_000), body(b'a'))
        .with_event("push")
        .with_delivery_id("d-1");
    let second = InboxDelivery::new("i2", "github", at(10, 0), body(b'b')).polled();
    let a = store.append_delivery(&first).expect("append");
    let b = store.append_delivery(&second).expect("append");
    assert_ne!(a, b);

    // Pending, oldest first, with bodies byte for byte.
    let due = store.due_deliveries(at(20, 0), 10).expect("due");
    assert_eq!(due.iter().map(|record| record.id).collect::<Vec<_>>(), [a, b]);
    assert_eq!(due[0].body.as_deref(), Some(body(b'a').as_slice()));
    assert_eq!(
        (due[0].delivery.event.as_deref(), due[0].delivery.delivery_id.as_deref()),
        (Some("push"), Some("d-1"))
    );
    assert_eq!(due[0].delivery.received_at, at(0, 123_000));
    assert_eq!((due[0].status, due[0].attempts), (InboxStatus::Pending, 0));
    assert_eq!(
        (due[0].delivery.origin, due[1].delivery.origin),
        (InboxOrigin::Webhook, InboxOrigin::Polled)
    );

    // Outcomes: done, failed, and a pending retry that is not due yet.
    assert!(
        store
            .record_outcome(a, InboxStatus::Done, &json!({"inserted": 1}), None, at(30, 0))
            .expect("record")
    );
    assert!(
        store
            .record_outcome(
                b,
                InboxStatus::Pending,
                &json!({"error": "database busy"}),
                Some(at(100, 0)),
                at(30, 0)
            )
            .expect("record")
    );
    assert!(
        store.due_deliveries(at(50, 0), 10).expect("due").is_empty(),
        "the retry waits"
    );
    assert_eq!(store.due_deliveries(at(100, 0), 10).expect("due").len(), 1);
    assert!(
        store
            .record_outcome(
                b,
                InboxStatus::Failed,
                &json!({"error": "missing field `x`"}),
                None,
                at(110, 0)
            )
            .expect("record")
    );
    assert!(
        !store
            .record_outcome(9_999, InboxStatus::Done, &json!({}), None, at(0, 0))
            .expect("record")
    );

    let entry = store.inbox_entry(b).expect("entry").expect("kept");
    assert_eq!((entry.status, entry.attempts), (InboxStatus::Failed, 2));
    assert_eq!(entry.outcome, Some(json!({"error": "missing field `x`"})));
    assert_eq!(entry.body.as_deref(), Some(body(b'b').as_slice()));

    // Listing: newest first, filtered, without bodies unless asked.
    let all = store.list_inbox(&InboxQuery::new(10)).expect("list");
    assert_eq!(all.iter().map(|record| record.id).collect::<Vec<_>>(), [b, a]);
    assert!(all.iter().all(|record| record.body.is_none()));
    let failed = store
        .list_inbox(&InboxQuery::new(10).with_status(InboxStatus::Failed))
        .expect("list");
    assert_eq!(failed.len(), 1);
    let mine = store
        .list_inbox(&InboxQuery::new(10).for_integrations(["i1"]).with_bodies())
        .expect("list");
    assert_eq!((mine.len(), mine[0].body.is_some()), (1, true));
    let none: [&str; 0] = [];
    assert!(
        store
            .list_inbox(&InboxQuery::new(10).for_integrations(none))
            .expect("list")
            .is_empty()
    );
    let recent = store.list_inbox(&InboxQuery::new(10).since(at(5, 0))).expect("list");
    assert_eq!(recent.iter().map(|record| record.id).collect::<Vec<_>>(), [b]);

    // In batches: all appended in one commit, ids in order; outcomes recorded together.
    let batch = [
        InboxDelivery::new("i3", "github", at(40, 0), body(b'c')),
        InboxDelivery::new("i3", "github", at(41, 0), body(b'd'))
            .with_event("push")
            .with_delivery_id("d-2"),
        InboxDelivery::new("i4", "gitlab", at(39, 0), body(b'e')).polled(),
    ];
    let ids = store.append_deliveries(&batch).expect("append batch");
    assert_eq!(ids.len(), 3);
    let due = store.due_deliveries(at(50, 0), 10).expect("due");
    assert_eq!(due.iter().map(|record| record.id).collect::<Vec<_>>(), ids);
    for (id, delivery) in ids.iter().zip(&batch) {
        let entry = store.inbox_entry(*id).expect("entry").expect("kept");
        assert_eq!(
            (
                &entry.delivery.integration_id,
                entry.delivery.received_at,
                entry.delivery.origin
            ),
            (&delivery.integration_id, delivery.received_at, delivery.origin)
        );
        assert_eq!(
            (entry.delivery.event, entry.delivery.delivery_id, entry.body),
            (
                delivery.event.clone(),
                delivery.delivery_id.clone(),
                Some(delivery.body.clone())
            ),
            "each id is its own delivery's"
        );
    }
    assert!(store.append_deliveries(&[]).expect("append nothing").is_empty());
    let outcomes: Vec<RecordedOutcome> = ids
        .iter()
        .zip([InboxStatus::Done, InboxStatus::Failed, InboxStatus::Done])
        .map(|(id, status)| RecordedOutcome::new(*id, status, json!({"inserted": 1, "id": id}), None))
        .collect();
    store.record_outcomes(&outcomes, at(20, 0)).expect("record batch");
    assert!(store.due_deliveries(at(50, 0), 10).expect("due").is_empty());
    for outcome in &outcomes {
        let entry = store.inbox_entry(outcome.id).expect("entry").expect("kept");
        assert_eq!(
            (entry.status, entry.attempts, entry.outcome.as_ref(), entry.updated_at),
            (outcome.status, 1, Some(&outcome.outcome), at(20, 0))
        );
    }
    // The same delivery twice in one batch of outcomes: two attempts, the last outcome kept.
    let twice = [
        RecordedOutcome::new(ids[1], InboxStatus::Pending, json!({"error": "busy"}), Some(at(60, 0))),
        RecordedOutcome::new(ids[1], InboxStatus::Failed, json!({"error": "bad"}), None),
    ];
    store.record_outcomes(&twice, at(21, 0)).expect("record twice");
    let entry = store.inbox_entry(ids[1]).expect("entry").expect("kept");
    assert_eq!(
        (entry.status, entry.attempts, entry.outcome, entry.next_attempt_at),
        (InboxStatus::Failed, 3, Some(json!({"error": "bad"})), None)
    );

    // Retention removes done deliveries only.
    assert_eq!(store.prune_inbox(at(31, 0)).expect("prune"), 3);
    assert!(store.inbox_entry(a).expect("entry").is_none());
    assert!(store.inbox_entry(b).expect("entry").is_some(), "failed ones stay");
}

/// Integration records are created once per id, found, updated whole, and listed in creation order.
pub fn integrations_are_created_found_and_updated<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let created = github("g1", 1);
    store.create_integration(&created).expect("create");
    assert!(
        store.create_integration(&created).is_err(),
        "a second integration with the same id is refused"
    );
    assert_eq!(store.find_integration("g1").expect("find"), Some(created.clone()));
    assert_eq!(store.find_integration("nope").expect("find"), None);

    let mut authorized = created.clone();
    authorized.account_id = Some("octocat".to_owned());
    // Every part of the token set is kept: scopes, the user token beside the app's, and the provider's ids.
    let mut granted = tokens("gho_access", "ghr_refresh", Some(at(3_600, 5_000)));
    granted.refresh_expires_at = Some(at(86_400, 0));
    granted.token_type = "bot".to_owned();
    granted.scopes = vec!["repo".to_owned(), "read:user".to_owned()];
    let mut user_token = UserToken::new(AccessToken::new("xoxp-user"));
    user_token.scopes = vec!["search:read".to_owned()];
    granted.user_token = Some(user_token);
    granted.ids.insert("team_id".to_owned(), "T123".to_owned());
    authorized.tokens = Some(granted);
    authorized.configuration = Some(
        crate::Plugin::configuration_schema(&GithubPlugin::new())
            .validate(&json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]}))
            .expect("valid configuration"),
    );
    assert!(store.update_integration(&authorized).expect("update"));
    assert_eq!(store.find_integration("g1").expect("find"), Some(authorized.clone()));
    let mut unknown = authorized;
    unknown.id = "nope".to_owned();
    assert!(
        !store
            .update_integration(&unknown)
            .expect("update of a missing integration")
    );

    store.create_integration(&github("g2", 2)).expect("create");
    let slack = Integration::initialize(&SlackPlugin::new(), "s1", "user-1", &[1; 32]);
    store
        .create_integration(&slack)
        .expect("same random bytes, other service");
    let ids: Vec<String> = store
        .list_integrations()
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["g1", "g2", "s1"], "creation order");
}

/// A record read before another instance refreshed the tokens, saved back with a new configuration: the
/// configuration lands, the fresh tokens stay.
pub fn saving_details_keeps_the_stored_tokens<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    store.create_integration(&github("g1", 1)).expect("create");
    let mut authorized = github("g1", 1);
    authorized.tokens = Some(tokens("gho_old", "ghr_old", None));
    assert!(store.update_integration(&authorized).expect("authorize"));
    let stale = store.find_integration("g1").expect("find").expect("stored");

    // Another instance refreshes.
    let refreshed = tokens("gho_new", "ghr_new", Some(at(28_800, 0)));
    assert!(store.replace_tokens("g1", 1, &refreshed).expect("refresh"));

    let mut edited = stale;
    edited.display_name = "Work GitHub".to_owned();
    edited.account_id = Some("octocat".to_owned());
    edited.configuration = Some(
        crate::Plugin::configuration_schema(&GithubPlugin::new())
            .validate(&json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]}))
            .expect("valid configuration"),
    );
    assert!(store.update_details(&edited).expect("save details"));

    let stored = store.find_integration("g1").expect("find").expect("stored");
    assert_eq!(stored.display_name, "Work GitHub");
    assert_eq!(stored.account_id.as_deref(), Some("octocat"));
    assert_eq!(stored.configuration, edited.configuration);
    assert_eq!(stored.tokens, Some(refreshed), "the refreshed tokens survive");
    assert_eq!(
        store.token_version("g1").expect("version"),
        Some(2),
        "details leave the version alone"
    );

    edited.id = "nope".to_owned();
    assert!(!store.update_details(&edited).expect("update of a missing integration"));
}

/// The OAuth `state` ledger: each state is accepted once; entries are forgotten only once expired.
pub fn oauth_states_are_accepted_once<S: StateLedger>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let id = |text: &str| -> StateId { serde_json::from_value(json!(text)).expect("a state id") };
    assert!(store.mark_used(&id("s1"), at(600, 0)).expect("mark"));
    assert!(
        !store.mark_used(&id("s1"), at(600, 0)).expect("mark"),
        "a second use is refused"
    );
    assert!(store.mark_used(&id("s2"), at(1_500, 0)).expect("mark"));

    // A state issued at 1,200 s (expiring at 1,800 s): `s1` expired before it and may go; `s2` has not.
    assert!(store.mark_used(&id("s3"), at(1_800, 0)).expect("mark"));
    assert!(
        !store.mark_used(&id("s2"), at(1_500, 0)).expect("mark"),
        "an unexpired entry is kept"
    );
    assert!(
        store.mark_used(&id("s1"), at(600, 0)).expect("mark"),
        "an expired entry was forgotten (its state is refused as expired before the ledger is asked)"
    );
}

/// An integration is found by its service and routing secret, and by nothing else.
pub fn integrations_are_routed_by_their_secret<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let first = github("g1", 1);
    let second = github("g2", 2);
    store.create_integration(&first).expect("create");
    store.create_integration(&second).expect("create");
    let secret = second.routing_secret.clone().expect("GitHub accepts webhooks");
    assert_eq!(
        store
            .find_by_routing_secret("github", &secret)
            .expect("lookup")
            .map(|i| i.id),
        Some("g2".into())
    );
    assert_eq!(
        store.find_by_routing_secret("slack", &secret).expect("lookup"),
        None,
        "scoped by service"
    );
    let unknown = RoutingSecret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(store.find_by_routing_secret("github", &unknown).expect("lookup"), None);
}

/// Stores what the scheduling checks schedule: GitHub integrations `a`, `b` and `c` and Slack integration `s`; answers
/// the registry that knows both plugins.
fn scheduled_integrations<S: IntegrationStore>(store: &mut S) -> Registry
where
    S::Error: fmt::Debug,
{
    let mut registry = Registry::new();
    registry.register(GithubPlugin::new()).expect("register");
    registry.register(SlackPlugin::new()).expect("register");
    for (id, random) in [("a", 1), ("b", 2), ("c", 3)] {
        store.create_integration(&github(id, random)).expect("create");
    }
    store
        .create_integration(&Integration::initialize(&SlackPlugin::new(), "s", "u", &[9; 32]))
        .expect("create");
    registry
}

/// The poll state records successes and failures, and the scheduler's due list follows it, earliest first.
pub fn the_scheduler_records_failures_and_goes_on<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let registry = scheduled_integrations(&mut store);
    let now = at(0, 0);
    let due: Vec<String> = schedule::due(&store, &registry, now)
        .expect("due")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(due, ["a", "b", "c"], "Slack does not poll");

    for id in due {
        let result = match id.as_str() {
            "b" => Err(PollFailure::new("404: repository not found")),
            "c" => Err(PollFailure::new("rate limited").retry_at(at(30, 0))),
            _ => Ok(PollSuccess::new(at(60, 0)).with_cursor(json!({"etag": "W/\"abc\""}))),
        };
        schedule::record(&mut store, &id, result, now).expect("record");
    }
    let a = store.poll_state("a").expect("state");
    assert_eq!(a.cursor, Some(json!({"etag": "W/\"abc\""})));
    assert_eq!(
        (a.next_poll_at, a.last_polled_at, a.last_error),
        (Some(at(60, 0)), Some(now), None)
    );
    let b = store.poll_state("b").expect("state");
    assert_eq!(b.last_error.as_deref(), Some("404: repository not found"));
    assert_eq!(b.next_poll_at, Some(now + schedule::DEFAULT_RETRY_AFTER));
    assert_eq!(store.poll_state("c").expect("state").next_poll_at, Some(at(30, 0)));
    assert_eq!(store.poll_state("never-created").expect("state"), PollState::default());

    let ids_due_at = |store: &S, seconds| -> Vec<String> {
        schedule::due(store, &registry, at(seconds, 0))
            .expect("due")
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert!(ids_due_at(&store, 29).is_empty());
    assert_eq!(ids_due_at(&store, 30), ["c"]);
    assert_eq!(ids_due_at(&store, 60), ["c", "a"], "earliest due first");
    assert_eq!(ids_due_at(&store, 300), ["c", "a", "b"]);

    // A later success clears the error and keeps the cursor when it brings none.
    schedule::record(&mut store, "a", Ok(PollSuccess::new(at(120, 0))), at(60, 0)).expect("record");
    assert_eq!(
        store.poll_state("a").expect("state").cursor,
        Some(json!({"etag": "W/\"abc\""}))
    );
    schedule::record(&mut store, "b", Ok(PollSuccess::new(at(400, 0))), at(300, 0)).expect("record");
    assert_eq!(store.poll_state("b").expect("state").last_error, None);
}

/// Tokens carry a version that a new authorization moves; a refresh lease goes to one holder until it expires,
/// and tokens are replaced only over the version they were read at.
pub fn token_versions_and_refresh_leases<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let ttl = Duration::seconds(30);
    store.create_integration(&github("g1", 1)).expect("create");
    assert_eq!(store.token_version("g1").expect("version"), Some(0));
    assert_eq!(store.token_version("nope").expect("version"), None);

    // A new authorization stored with `update_integration` moves the version; other changes do not.
    let mut authorized = github("g1", 1);
    authorized.tokens = Some(tokens("gho_1", "ghr_1", Some(at(28_800, 0))));
    assert!(store.update_integration(&authorized).expect("update"));
    assert_eq!(store.token_version("g1").expect("version"), Some(1));
    authorized.display_name = "Work GitHub".to_owned();
    assert!(store.update_integration(&authorized).expect("update"));
    assert_eq!(store.token_version("g1").expect("version"), Some(1));

    // An instance takes the lease and crashes: until it expires nobody else refreshes, not even the same holder.
    assert_eq!(
        store
            .try_begin_refresh("g1", 1, "crashed", at(0, 0), ttl)
            .expect("claim"),
        RefreshClaim::Granted(Box::new(authorized.clone())),
        "granted with the record whose refresh token to use"
    );
    for holder in ["b", "crashed"] {
        assert_eq!(
            store.try_begin_refresh("g1", 1, holder, at(10, 0), ttl).expect("claim"),
            RefreshClaim::Busy { until: at(30, 0) }
        );
    }
    // Expired: taken over.
    let RefreshClaim::Granted(record) = store.try_begin_refresh("g1", 1, "b", at(30, 0), ttl).expect("claim") else {
        panic!("an expired lease is taken over");
    };
    // Only the holder releases it; `b`'s refresh fails with a transient error and it lets `c` try.
    store.release_refresh("g1", "crashed").expect("release");
    assert!(matches!(
        store.try_begin_refresh("g1", 1, "c", at(31, 0), ttl).expect("claim"),
        RefreshClaim::Busy { .. }
    ));
    store.release_refresh("g1", "b").expect("release");
    assert!(matches!(
        store.try_begin_refresh("g1", 1, "c", at(31, 0), ttl).expect("claim"),
        RefreshClaim::Granted(_)
    ));

    // `c` stores the refreshed tokens: compare-and-swap on version 1.
    assert_eq!(record.tokens, authorized.tokens, "granted with the stored tokens");
    let mut refreshed = tokens("gho_2", "ghr_2", Some(at(28_832, 0)));
    refreshed.scopes = vec!["repo".to_owned()];
    assert!(store.replace_tokens("g1", 1, &refreshed).expect("replace"));
    assert_eq!(store.token_version("g1").expect("version"), Some(2));
    // A late finisher holding version 1 stores nothing.
    let stale = tokens("gho_stale", "ghr_stale", None);
    assert!(!store.replace_tokens("g1", 1, &stale).expect("replace"));
    let stored = store.find_integration("g1").expect("find").expect("stored");
    assert_eq!(
        stored.tokens,
        Some(refreshed.clone()),
        "the whole token set is replaced"
    );
    assert_eq!(stored.access_token().map(AccessToken::expose_secret), Some("gho_2"));
    assert_eq!(stored.display_name, "Work GitHub", "only the tokens are replaced");

    // Whoever still holds version 1 is told to use the stored tokens; the lease was released by the replace.
    assert_eq!(
        store.try_begin_refresh("g1", 1, "d", at(32, 0), ttl).expect("claim"),
        RefreshClaim::Superseded { version: 2 }
    );
    assert!(matches!(
        store.try_begin_refresh("g1", 2, "d", at(32, 0), ttl).expect("claim"),
        RefreshClaim::Granted(_)
    ));
    assert_eq!(
        store.try_begin_refresh("nope", 0, "d", at(32, 0), ttl).expect("claim"),
        RefreshClaim::Missing
    );
    assert!(!store.replace_tokens("nope", 0, &refreshed).expect("replace"));
}

/// Poll leases hand each due integration to one scheduler until it records its poll or the lease expires.
pub fn poll_leases_hand_each_integration_to_one_scheduler<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let registry = scheduled_integrations(&mut store);
    let lease = Duration::seconds(60);
    let acquire = |store: &mut S, holder: &str, seconds: i64, limit: usize| -> Vec<String> {
        schedule::acquire_due(store, &registry, holder, at(seconds, 0), lease, limit)
            .expect("acquire")
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(
        acquire(&mut store, "x", 0, 2),
        ["a", "b"],
        "at most `limit`, earliest due first"
    );
    assert_eq!(
        acquire(&mut store, "y", 0, 10),
        ["c"],
        "the others are leased; Slack does not poll"
    );
    assert!(
        acquire(&mut store, "x", 0, 10).is_empty(),
        "not even the holder gets a lease twice"
    );

    // `y` finishes `c`, which releases its lease; `x` crashed holding `a` and `b`.
    schedule::record(&mut store, "c", Ok(PollSuccess::new(at(120, 0))), at(5, 0)).expect("record");
    assert!(acquire(&mut store, "y", 59, 10).is_empty(), "leases run for 60 s");
    assert_eq!(
        acquire(&mut store, "y", 60, 10),
        ["a", "b"],
        "expired leases are taken over"
    );
    for id in ["a", "b"] {
        schedule::record(&mut store, id, Ok(PollSuccess::new(at(600, 0))), at(61, 0)).expect("record");
    }
    assert_eq!(
        acquire(&mut store, "z", 120, 10),
        ["c"],
        "due again once its next poll time comes"
    );
    assert_eq!(
        acquire(&mut store, "z", 600, 10),
        ["c", "a", "b"],
        "`z` never recorded `c`: its lease expired at 180"
    );
}

/// "Poll now": the lease on one integration, due or not, unless a poll holds it; schedulers skip it meanwhile.
pub fn a_poll_on_demand_takes_the_lease_of_one_integration<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let mut registry = Registry::new();
    registry.register(GithubPlugin::new()).expect("register");
    store.create_integration(&github("a", 1)).expect("create");
    let lease = Duration::seconds(60);
    let scheduled = |store: &mut S, seconds: i64| -> Vec<String> {
        schedule::acquire_due(store, &registry, "scheduler", at(seconds, 0), lease, 10)
            .expect("acquire")
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    schedule::record(&mut store, "a", Ok(PollSuccess::new(at(600, 0))), at(0, 0)).expect("record");

    let taken = store.acquire_poll_lease("a", "x", at(10, 0), lease).expect("acquire");
    assert_eq!(
        taken.map(|i| i.id).as_deref(),
        Some("a"),
        "not due, and taken all the same"
    );
    for holder in ["y", "x"] {
        assert_eq!(
            store
                .acquire_poll_lease("a", holder, at(20, 0), lease)
                .expect("acquire"),
            None
        );
    }
    assert_eq!(
        store
            .acquire_poll_lease("nope", "x", at(20, 0), lease)
            .expect("acquire"),
        None
    );

    // `x` crashed; `y` takes the expired lease just before the integration falls due: the scheduler waits.
    assert!(
        store
            .acquire_poll_lease("a", "y", at(590, 0), lease)
            .expect("acquire")
            .is_some()
    );
    assert!(
        scheduled(&mut store, 600).is_empty(),
        "due, but polled on demand until 650"
    );
    schedule::record(&mut store, "a", Ok(PollSuccess::new(at(600, 0))), at(595, 0)).expect("record");
    assert_eq!(scheduled(&mut store, 600), ["a"], "recording released it");
    assert_eq!(
        store.acquire_poll_lease("a", "y", at(601, 0), lease).expect("acquire"),
        None,
        "and now the scheduler holds it"
    );
}

/// An event at `time` whose objects and block carry the same time; `n` tells the events and their objects apart.
fn event_at(n: usize, time: DateTime<Utc>) -> Event {
    let mut actor = Object::new(format!("acme:user:{n}"), "user", "acme_user");
    actor.time = Some(time);
    let mut target = Object::new(format!("acme:task:{n}"), "task", "acme_task");
    target.time = Some(time);
    Event::builder()
        .source_id(format!("time-{n}"))
        .time(time)
        .service("acme")
        .domain("task")
        .action("created")
        .actor(actor)
        .target(target)
        .block(Block::new().with_time(time))
        .build()
        .expect("a complete event at a storable time")
}

/// Times read back as they were written, on the event, its objects and its blocks, at both ends of the years the
/// model accepts (the first instant of year 1, the last microsecond of year 9999) and in between, to the
/// microsecond.
pub fn times_round_trip_from_year_1_to_9999<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let times = [
        // 0001-01-01T00:00:00Z.
        (-62_135_596_800, 0),
        // A microsecond before the Unix epoch, the epoch, and an ordinary time.
        (-1, 999_999_000),
        (0, 0),
        (1_735_743_600, 123_456_000),
        // 9999-12-31T23:59:59.999999Z.
        (253_402_300_799, 999_999_000),
    ];
    let events: Vec<Event> = times
        .iter()
        .enumerate()
        .map(|(n, &(seconds, nanos))| {
            let time = DateTime::from_timestamp(seconds, nanos).expect("a time in chrono's range");
            assert!(is_storable_time(&time), "{time} is a time the model accepts");
            event_at(n, time)
        })
        .collect();
    assert_eq!(
        ingest(&mut store, "i1", &events).expect("ingest"),
        report(times.len(), 0, 2 * times.len(), 0)
    );
    let stored = events_of(&store);
    let newest_first: Vec<&Event> = events.iter().rev().collect();
    assert_eq!(
        stored.iter().map(|stored| &stored.event).collect::<Vec<_>>(),
        newest_first,
        "every time reads back as written, and orders the listing"
    );
}

/// Runs every check of the [`ActivityStore`] contract, each on a store of its own from `make`.
pub fn activity_store<S: ActivityStore>(mut make: impl FnMut() -> S)
where
    S::Error: fmt::Debug,
{
    stores_an_event_with_its_objects_and_blocks_exactly(make());
    a_redelivery_stores_nothing_twice(make());
    overlapping_pages_are_deduplicated(make());
    a_changed_object_is_updated_by_key(make());
    listing_filters_orders_and_limits(make());
    listing_filters_by_service_actor_and_time(make());
    times_round_trip_from_year_1_to_9999(make());
    names_are_resolved_once_and_survive_later_events(make());
    a_failure_midway_leaves_no_partial_event(make());
    rederiving_replaces_events_in_place_and_never_duplicates(make());
    a_batch_is_stored_in_one_transaction_with_its_duplicates_counted(make());
    a_batch_stores_what_event_by_event_stores(make());
}

/// Runs every check of the [`IntegrationStore`] contract, each on a store of its own from `make`.
pub fn integration_store<S: IntegrationStore>(mut make: impl FnMut() -> S)
where
    S::Error: fmt::Debug,
{
    integrations_are_created_found_and_updated(make());
    saving_details_keeps_the_stored_tokens(make());
    integrations_are_routed_by_their_secret(make());
    the_scheduler_records_failures_and_goes_on(make());
    token_versions_and_refresh_leases(make());
    poll_leases_hand_each_integration_to_one_scheduler(make());
    a_poll_on_demand_takes_the_lease_of_one_integration(make());
}

/// Runs every check of the [`InboxStore`] contract, each on a store of its own from `make`: the inbox of a store
/// that also stores activity, since [`InboxStore::keep_and_ingest`] keeps deliveries and stores their events at once.
pub fn inbox_store<S: InboxStore + ActivityStore>(mut make: impl FnMut() -> S)
where
    <S as InboxStore>::Error: fmt::Debug,
    <S as ActivityStore>::Error: fmt::Debug,
{
    the_inbox_keeps_deliveries_and_their_outcomes(make());
    a_group_is_kept_stored_and_recorded_at_once(make());
}

/// Runs every check of the [`StateLedger`] contract on a store from `make`.
pub fn state_ledger<S: StateLedger>(mut make: impl FnMut() -> S)
where
    S::Error: fmt::Debug,
{
    oauth_states_are_accepted_once(make());
}
