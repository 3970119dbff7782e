//! One storage test suite, run against every store: the in-memory store, SQLite (with the `sqlite` feature) and
//! Postgres (with the `postgres` feature and a server; see `postgres_support`).

#[cfg(feature = "postgres")]
mod postgres_support;

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use spark_integrations::convert::Conversion;
use spark_integrations::model::{Block, Event, Object};
use spark_integrations::oauth::{StateId, StateLedger};
use spark_integrations::plugin::Registry;
use spark_integrations::providers::github::GithubPlugin;
use spark_integrations::providers::slack::SlackPlugin;
use spark_integrations::schedule::{self, PollFailure, PollSuccess};
use spark_integrations::store::{
    ActivityStore, ActivityTransaction, EventQuery, InboxDelivery, InboxOrigin, InboxQuery, InboxStatus, InboxStore,
    IngestReport, IntegrationStore, MemoryStore, ObjectChange, PollState, RecordedOutcome, RefreshClaim, StoredEvent,
    UntitledQuery, ingest, ingest_batch, rederive, store_names,
};
use spark_integrations::{AccessToken, Integration, RefreshToken, RoutingSecret};

fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_735_743_600 + seconds, nanos)
        .single()
        .expect("valid time")
}

fn user(id: u32, login: &str) -> Object {
    let mut object = Object::new(format!("github:user:{id}"), "user", "github_user");
    object.title = Some(login.to_owned());
    object.metadata.insert("id".to_owned(), json!(id));
    object
}

fn repository(id: u32, name: &str) -> Object {
    let mut object = Object::new(format!("github:repository:{id}"), "repository", "github_repository");
    object.title = Some(name.to_owned());
    object.url = Some(format!("https://github.com/{name}"));
    object
}

/// A push with `commits` blocks, at `seconds` past the base time (with microseconds, to check precision).
fn push(source_id: &str, seconds: i64, commits: usize) -> Event {
    let mut event = Event::new(
        source_id,
        at(seconds, 123_456_000),
        "github",
        "repository",
        "push",
        user(583_231, "octocat"),
        repository(1_296_269, "octocat/Hello-World"),
    );
    event.value = Some(i64::try_from(commits).expect("small"));
    event.value_unit = Some("commits".to_owned());
    event.event_metadata.insert("ref".to_owned(), json!("refs/heads/main"));
    event
        .actor_metadata
        .insert("display_login".to_owned(), json!("octocat"));
    event.embeddings = Some(vec![0.25, -1.5]);
    event.blocks = (0..commits)
        .map(|index| Block {
            time: Some(at(seconds, 0)),
            title: Some(format!("Commit {index}")),
            content: Some(format!("message {index}\n\nwith a body")),
            url: Some(format!("https://github.com/octocat/Hello-World/commit/{index:040}")),
            ..Block::default()
        })
        .collect();
    event
}

fn events_of<S: ActivityStore>(store: &S) -> Vec<StoredEvent>
where
    S::Error: fmt::Debug,
{
    store.recent_events(&EventQuery::latest(1_000)).expect("listing works")
}

fn report(inserted: usize, duplicates: usize, objects_created: usize, objects_updated: usize) -> IngestReport {
    let mut report = IngestReport::default();
    report.inserted = inserted;
    report.duplicates = duplicates;
    report.objects_created = objects_created;
    report.objects_updated = objects_updated;
    report
}

fn stores_an_event_with_its_objects_and_blocks_exactly<S: ActivityStore>(mut store: S)
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

fn a_redelivery_stores_nothing_twice<S: ActivityStore>(mut store: S)
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

fn overlapping_pages_are_deduplicated<S: ActivityStore>(mut store: S)
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

fn a_changed_object_is_updated_by_key<S: ActivityStore>(mut store: S)
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

fn listing_filters_orders_and_limits<S: ActivityStore>(mut store: S)
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
    let ids = |query: EventQuery| -> Vec<String> {
        store
            .recent_events(&query)
            .expect("listing")
            .into_iter()
            .map(|stored| stored.event.source_id)
            .collect()
    };
    assert_eq!(ids(EventQuery::latest(10)), ["elsewhere", "late", "early", "whole"]);
    assert_eq!(
        ids(EventQuery::latest(10).for_integration("i1")),
        ["late", "early", "whole"]
    );
    assert_eq!(ids(EventQuery::latest(2)), ["elsewhere", "late"]);
    assert!(ids(EventQuery::latest(10).for_integration("nobody")).is_empty());
}

fn slack_object(kind: &str, id: &str) -> Object {
    let concept = kind.trim_start_matches("slack_");
    let mut object = Object::new(format!("slack:T1:{concept}:{id}"), concept, kind);
    object.metadata.insert("team".to_owned(), json!("T1"));
    object.metadata.insert("id".to_owned(), json!(id));
    object
}

/// A Slack event naming its actor and target by id only, as the converter makes them.
fn slack_event(source_id: &str, seconds: i64, user: &str, target: Object) -> Event {
    let mut event = Event::new(
        source_id,
        at(seconds, 0),
        "slack",
        "message",
        "sent",
        slack_object("slack_user", user),
        target,
    );
    event.value = Some(1);
    event.value_unit = Some("message".to_owned());
    event
}

fn names_are_resolved_once_and_survive_later_events<S: ActivityStore>(mut store: S)
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

fn listing_filters_by_service_actor_and_time<S: ActivityStore>(mut store: S)
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
    let ids = |query: EventQuery| -> Vec<String> {
        store
            .recent_events(&query)
            .expect("listing")
            .into_iter()
            .map(|stored| stored.event.source_id)
            .collect()
    };
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

    fn recent_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, Self::Error> {
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

fn a_failure_midway_leaves_no_partial_event<S: ActivityStore>(store: S)
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

fn rederiving_replaces_events_in_place_and_never_duplicates<S: ActivityStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    ingest(&mut store, "i1", &[push("1", 0, 3), push("2", 1, 1)]).expect("ingest");
    let before = events_of(&store);
    // A better converter: another value, another title for the actor, other blocks.
    let mut improved = push("1", 0, 2);
    improved.value = Some(2);
    improved.value_unit = Some("commits".to_owned());
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

fn a_batch_is_stored_in_one_transaction_with_its_duplicates_counted<S: ActivityStore>(mut store: S)
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
fn a_batch_stores_what_event_by_event_stores<S: ActivityStore>(mut store: S)
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

/// A group of new deliveries kept, stored and recorded in one commit: what keeping, storing and recording them one
/// step after the other gives.
fn a_group_is_kept_stored_and_recorded_at_once<S: InboxStore + ActivityStore>(mut store: S)
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

fn the_inbox_keeps_deliveries_and_their_outcomes<S: InboxStore>(mut store: S)
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

fn github(id: &str, random: u8) -> Integration {
    Integration::initialize(&GithubPlugin::new(), id, "user-1", &[random; 32])
}

fn integrations_are_created_found_and_updated<S: IntegrationStore>(mut store: S)
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
    authorized.access_token = Some(AccessToken::new("gho_access"));
    authorized.refresh_token = Some(RefreshToken::new("ghr_refresh"));
    authorized.expiry = Some(at(3_600, 5_000));
    authorized.refresh_expiry = Some(at(86_400, 0));
    authorized.configuration = Some(
        spark_integrations::Plugin::configuration_schema(&GithubPlugin::new())
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
fn saving_details_keeps_the_stored_tokens<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    store.create_integration(&github("g1", 1)).expect("create");
    let mut authorized = github("g1", 1);
    authorized.access_token = Some(AccessToken::new("gho_old"));
    authorized.refresh_token = Some(RefreshToken::new("ghr_old"));
    assert!(store.update_integration(&authorized).expect("authorize"));
    let stale = store.find_integration("g1").expect("find").expect("stored");

    // Another instance refreshes.
    let mut refreshed = stale.clone();
    refreshed.access_token = Some(AccessToken::new("gho_new"));
    refreshed.refresh_token = Some(RefreshToken::new("ghr_new"));
    refreshed.expiry = Some(at(28_800, 0));
    assert!(store.replace_tokens("g1", 1, &refreshed).expect("refresh"));

    let mut edited = stale;
    edited.display_name = "Work GitHub".to_owned();
    edited.account_id = Some("octocat".to_owned());
    edited.configuration = Some(
        spark_integrations::Plugin::configuration_schema(&GithubPlugin::new())
            .validate(&json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]}))
            .expect("valid configuration"),
    );
    assert!(store.update_details(&edited).expect("save details"));

    let stored = store.find_integration("g1").expect("find").expect("stored");
    assert_eq!(stored.display_name, "Work GitHub");
    assert_eq!(stored.account_id.as_deref(), Some("octocat"));
    assert_eq!(stored.configuration, edited.configuration);
    assert_eq!(
        stored.access_token, refreshed.access_token,
        "the refreshed token survives"
    );
    assert_eq!(stored.refresh_token, refreshed.refresh_token);
    assert_eq!(stored.expiry, refreshed.expiry);
    assert_eq!(
        store.token_version("g1").expect("version"),
        Some(2),
        "details leave the version alone"
    );

    edited.id = "nope".to_owned();
    assert!(!store.update_details(&edited).expect("update of a missing integration"));
}

/// The OAuth `state` ledger: each state is accepted once; entries are forgotten only once expired.
fn oauth_states_are_accepted_once<S: StateLedger>(mut store: S)
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

fn integrations_are_routed_by_their_secret<S: IntegrationStore>(mut store: S)
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

fn the_scheduler_records_failures_and_goes_on<S: IntegrationStore>(mut store: S)
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

fn token_versions_and_refresh_leases<S: IntegrationStore>(mut store: S)
where
    S::Error: fmt::Debug,
{
    let ttl = Duration::seconds(30);
    store.create_integration(&github("g1", 1)).expect("create");
    assert_eq!(store.token_version("g1").expect("version"), Some(0));
    assert_eq!(store.token_version("nope").expect("version"), None);

    // A new authorization stored with `update_integration` moves the version; other changes do not.
    let mut authorized = github("g1", 1);
    authorized.access_token = Some(AccessToken::new("gho_1"));
    authorized.refresh_token = Some(RefreshToken::new("ghr_1"));
    authorized.expiry = Some(at(28_800, 0));
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
    let mut refreshed = record.clone();
    refreshed.access_token = Some(AccessToken::new("gho_2"));
    refreshed.refresh_token = Some(RefreshToken::new("ghr_2"));
    refreshed.expiry = Some(at(28_832, 0));
    refreshed.display_name = "ignored".to_owned();
    assert!(store.replace_tokens("g1", 1, &refreshed).expect("replace"));
    assert_eq!(store.token_version("g1").expect("version"), Some(2));
    // A late finisher holding version 1 stores nothing.
    let mut stale = record;
    stale.access_token = Some(AccessToken::new("gho_stale"));
    assert!(!store.replace_tokens("g1", 1, &stale).expect("replace"));
    let stored = store.find_integration("g1").expect("find").expect("stored");
    assert_eq!(
        stored.access_token.as_ref().map(AccessToken::expose_secret),
        Some("gho_2")
    );
    assert_eq!(
        stored.refresh_token.as_ref().map(RefreshToken::expose_secret),
        Some("ghr_2")
    );
    assert_eq!(stored.expiry, Some(at(28_832, 0)));
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
    assert!(!store.replace_tokens("nope", 0, &stored).expect("replace"));
}

fn poll_leases_hand_each_integration_to_one_scheduler<S: IntegrationStore>(mut store: S)
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
fn a_poll_on_demand_takes_the_lease_of_one_integration<S: IntegrationStore>(mut store: S)
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

macro_rules! storage_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            #[test]
            fn stores_an_event_with_its_objects_and_blocks_exactly() {
                super::stores_an_event_with_its_objects_and_blocks_exactly($make);
            }

            #[test]
            fn a_redelivery_stores_nothing_twice() {
                super::a_redelivery_stores_nothing_twice($make);
            }

            #[test]
            fn overlapping_pages_are_deduplicated() {
                super::overlapping_pages_are_deduplicated($make);
            }

            #[test]
            fn a_changed_object_is_updated_by_key() {
                super::a_changed_object_is_updated_by_key($make);
            }

            #[test]
            fn listing_filters_orders_and_limits() {
                super::listing_filters_orders_and_limits($make);
            }

            #[test]
            fn rederiving_replaces_events_in_place_and_never_duplicates() {
                super::rederiving_replaces_events_in_place_and_never_duplicates($make);
            }

            #[test]
            fn a_batch_is_stored_in_one_transaction_with_its_duplicates_counted() {
                super::a_batch_is_stored_in_one_transaction_with_its_duplicates_counted($make);
            }

            #[test]
            fn a_batch_stores_what_event_by_event_stores() {
                super::a_batch_stores_what_event_by_event_stores($make);
            }

            #[test]
            fn a_group_is_kept_stored_and_recorded_at_once() {
                super::a_group_is_kept_stored_and_recorded_at_once($make);
            }

            #[test]
            fn the_inbox_keeps_deliveries_and_their_outcomes() {
                super::the_inbox_keeps_deliveries_and_their_outcomes($make);
            }

            #[test]
            fn names_are_resolved_once_and_survive_later_events() {
                super::names_are_resolved_once_and_survive_later_events($make);
            }

            #[test]
            fn listing_filters_by_service_actor_and_time() {
                super::listing_filters_by_service_actor_and_time($make);
            }

            #[test]
            fn a_failure_midway_leaves_no_partial_event() {
                super::a_failure_midway_leaves_no_partial_event($make);
            }

            #[test]
            fn integrations_are_created_found_and_updated() {
                super::integrations_are_created_found_and_updated($make);
            }

            #[test]
            fn saving_details_keeps_the_stored_tokens() {
                super::saving_details_keeps_the_stored_tokens($make);
            }

            #[test]
            fn oauth_states_are_accepted_once() {
                super::oauth_states_are_accepted_once($make);
            }

            #[test]
            fn a_poll_on_demand_takes_the_lease_of_one_integration() {
                super::a_poll_on_demand_takes_the_lease_of_one_integration($make);
            }

            #[test]
            fn integrations_are_routed_by_their_secret() {
                super::integrations_are_routed_by_their_secret($make);
            }

            #[test]
            fn the_scheduler_records_failures_and_goes_on() {
                super::the_scheduler_records_failures_and_goes_on($make);
            }

            #[test]
            fn token_versions_and_refresh_leases() {
                super::token_versions_and_refresh_leases($make);
            }

            #[test]
            fn poll_leases_hand_each_integration_to_one_scheduler() {
                super::poll_leases_hand_each_integration_to_one_scheduler($make);
            }
        }
    };
}

storage_suite!(memory, super::MemoryStore::new());

#[cfg(feature = "sqlite")]
storage_suite!(
    sqlite,
    spark_integrations::store::SqliteStore::open_in_memory().expect("in-memory SQLite")
);

#[cfg(feature = "postgres")]
storage_suite!(
    postgres,
    match crate::postgres_support::store(module_path!()) {
        Some(store) => store,
        None => return,
    }
);

#[cfg(feature = "postgres")]
mod postgres_schema {
    use super::*;
    use crate::postgres_support::{connect, fresh_schema, store, terminate_connections};
    use spark_integrations::store::postgres::NoTls;
    use spark_integrations::store::{PostgresError, SCHEMA_VERSION};

    #[test]
    fn data_and_schema_version_survive_reconnecting() {
        let Some(config) = fresh_schema("data_and_schema_version_survive_reconnecting") else {
            return;
        };
        {
            let mut store = connect(&config);
            assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("ingest");
        }
        let mut store = connect(&config);
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("redelivery"),
            report(0, 1, 0, 0)
        );
        assert_eq!(events_of(&store)[0].event, push("1", 0, 2));
    }

    #[test]
    fn an_older_schema_is_migrated_keeping_its_data() {
        let Some(config) = fresh_schema("an_older_schema_is_migrated_keeping_its_data") else {
            return;
        };
        {
            let mut store = connect(&config);
            ingest(&mut store, "i1", &[push("1", 0, 1)]).expect("ingest");
        }
        // Turn the schema back into version 1: activity only.
        let mut client = config.connect(NoTls).expect("connect");
        client
            .batch_execute("DROP TABLE integrations, oauth_states, inbox; UPDATE schema_version SET version = 1;")
            .expect("downgrade");
        let mut store = connect(&config);
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(events_of(&store)[0].event, push("1", 0, 1));
        store.create_integration(&github("g1", 1)).expect("the new table works");
    }

    #[test]
    fn a_connection_closed_by_the_server_says_so() {
        let Some(mut config) = fresh_schema("a_connection_closed_by_the_server_says_so") else {
            return;
        };
        let name = format!("spark_closed_{}", std::process::id());
        config.application_name(&name);
        let store = connect(&config);
        assert!(!store.is_closed());
        assert_eq!(terminate_connections(&name), 1);
        // The server's goodbye (an error) and the end of the connection may arrive apart: a call or two fail
        // before the client knows.
        let mut failed = 0;
        while !store.is_closed() {
            assert!(store.schema_version().is_err(), "a call on the dead connection fails");
            failed += 1;
            assert!(failed <= 2, "the client saw the connection end");
        }
        assert!(failed >= 1);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let Some(config) = fresh_schema("a_database_from_a_newer_version_is_refused") else {
            return;
        };
        drop(connect(&config));
        let mut client = config.connect(NoTls).expect("connect");
        client
            .batch_execute("UPDATE schema_version SET version = 99")
            .expect("set version");
        let error = spark_integrations::store::PostgresStore::from_client(config.connect(NoTls).expect("connect"))
            .expect_err("newer schema");
        assert!(
            matches!(
                error,
                PostgresError::UnsupportedVersion {
                    found: 99,
                    supported: SCHEMA_VERSION
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn instances_opening_at_once_migrate_once() {
        let Some(config) = fresh_schema("instances_opening_at_once_migrate_once") else {
            return;
        };
        let barrier = std::sync::Barrier::new(6);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    barrier.wait();
                    // Without the advisory lock, all but one fail on `CREATE TABLE objects`.
                    let store = connect(&config);
                    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
                });
            }
        });
        let mut client = config.connect(NoTls).expect("connect");
        let rows = client.query("SELECT version FROM schema_version", &[]).expect("query");
        assert_eq!(rows.len(), 1, "one version row");
    }

    #[test]
    fn sub_microsecond_digits_are_cut_and_nothing_else_changes() {
        let Some(mut store) = store("sub_microsecond_digits_are_cut") else {
            return;
        };
        let mut event = push("ns", 0, 1);
        event.time = at(0, 123_456_789);
        event.actor.time = Some(at(0, 999_999_999));
        event.actor.metadata.insert("nul".to_owned(), json!("a\u{0}b"));
        ingest(&mut store, "i1", std::slice::from_ref(&event)).expect("ingest");
        let stored = events_of(&store).remove(0).event;
        assert_eq!(stored.time, at(0, 123_456_000));
        assert_eq!(stored.actor.time, Some(at(0, 999_999_000)));
        assert_eq!(
            stored.actor.metadata, event.actor.metadata,
            "json keeps a NUL escape jsonb refuses"
        );
        // The stored copy of the actor counts as unchanged when the same object comes again.
        let mut again = push("ns-2", 1, 0);
        again.actor = event.actor.clone();
        assert_eq!(ingest(&mut store, "i1", &[again]).expect("ingest"), report(1, 0, 0, 0));
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_file {
    use super::*;
    use spark_integrations::store::{SCHEMA_VERSION, SqliteError, SqliteStore, rusqlite};

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spark-store-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("spark.sqlite3")
    }

    #[test]
    fn data_and_schema_version_survive_reopening() {
        let path = temp_path("reopen");
        {
            let mut store = SqliteStore::open(&path).expect("create");
            assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("ingest");
        }
        let mut store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("redelivery"),
            report(0, 1, 0, 0)
        );
        assert_eq!(events_of(&store)[0].event, push("1", 0, 2));
        std::fs::remove_dir_all(path.parent().expect("temp dir")).expect("clean up");
    }

    #[test]
    fn an_older_schema_is_migrated_keeping_its_data() {
        let path = temp_path("migrate");
        {
            let mut store = SqliteStore::open(&path).expect("create");
            ingest(&mut store, "i1", &[push("1", 0, 1)]).expect("ingest");
        }
        {
            // Turn the file back into a version 1 database: activity only.
            let connection = rusqlite::Connection::open(&path).expect("open");
            connection
                .execute_batch(
                    "DROP TABLE integrations; DROP TABLE oauth_states; DROP TABLE inbox_bodies; DROP TABLE inbox; PRAGMA user_version = 1;",
                )
                .expect("downgrade");
        }
        let mut store = SqliteStore::open(&path).expect("migrate");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(events_of(&store)[0].event, push("1", 0, 1));
        store.create_integration(&github("g1", 1)).expect("the new table works");
        std::fs::remove_dir_all(path.parent().expect("temp dir")).expect("clean up");
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        connection.pragma_update(None, "user_version", 99).expect("set version");
        let error = SqliteStore::from_connection(connection).expect_err("newer schema");
        assert!(
            matches!(error, SqliteError::UnsupportedVersion { found: 99, .. }),
            "{error}"
        );
    }
}
