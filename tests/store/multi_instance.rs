//! Several instances on one database at the same moment, each on its own connection (a thread each): every event
//! stored exactly once with its blocks, one token refresh for N callers, each due integration polled by one
//! scheduler. Runs on Postgres (with the `postgres` feature and a server, see `spark_test_support::postgres`) and on SQLite
//! with several connections to one file (with the `sqlite` feature).

#![cfg(any(feature = "postgres", feature = "sqlite"))]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
use spark_integrations::model::{Event, Object};
use spark_integrations::oauth::TokenSet;
use spark_integrations::plugin::Registry;
use spark_integrations::providers::github::GithubConverter;
use spark_integrations::providers::github::GithubPlugin;
use spark_integrations::schedule::{self, PollSuccess};
use spark_integrations::store::{ActivityStore, EventQuery, IngestReport, IntegrationStore, RefreshClaim, ingest};
use spark_integrations::{AccessToken, Integration, RefreshToken};

const EVENTS: usize = 1_000;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_735_743_600 + seconds, 0)
        .single()
        .expect("valid time")
}

/// A small deterministic generator (xorshift64*), so that every run shuffles the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("small")).expect("small")
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn user(id: usize) -> Object {
    let mut object = Object::new(format!("github:user:{id}"), "user", "github_user");
    object.title = Some(format!("user-{id}"));
    object.metadata.insert("id".to_owned(), json!(id));
    object
}

/// The first 1,000 events of the recorded GH Archive hour (`fixtures/github-events/`), converted: real actors,
/// repositories, issues and pull requests that many events share, and the blocks of comments and reviews.
fn events() -> Vec<Event> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/github-events/gharchive-2025-01-01-15.part1.jsonl"
    );
    let file = std::fs::read_to_string(path).expect("the recorded hour");
    let context = ConvertContext::new(at(3_600)).with_integration("i1");
    let events: Vec<Event> = file
        .lines()
        .take(EVENTS)
        .flat_map(
            |line| match GithubConverter.convert(Payload::Polled { body: line.as_bytes() }, &context) {
                Ok(Conversion::Converted(events)) => events,
                other => panic!("every GH Archive event converts, got {other:?}"),
            },
        )
        .collect();
    assert_eq!(events.len(), EVENTS);
    assert!(
        events.iter().filter(|event| !event.blocks.is_empty()).count() > 10,
        "some events carry blocks"
    );
    events
}

/// What one worker is handed: every event, a quarter of them twice, in its own order.
fn workload(events: &[Event], worker: u64) -> Vec<Event> {
    let mut work: Vec<Event> = events.iter().chain(events.iter().step_by(4)).cloned().collect();
    Rng(0xABCD_0000 + worker).shuffle(&mut work);
    work
}

/// Runs one ingest worker per store, all starting together, over the same events; then checks that every event is
/// stored exactly once with its blocks, and that the reports add up.
fn every_event_is_stored_once<S>(stores: Vec<S>)
where
    S: ActivityStore + Send,
    S::Error: fmt::Debug,
{
    let events = events();
    let workers = stores.len();
    let barrier = Barrier::new(workers);
    let (reports, mut stores): (Vec<IngestReport>, Vec<S>) = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .into_iter()
            .zip(0_u64..)
            .map(|(mut store, worker)| {
                let work = workload(&events, worker);
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let mut total = IngestReport::default();
                    // Batches of a delivery's size: a webhook's events, or a poll page.
                    for batch in work.chunks(30) {
                        let report = ingest(&mut store, "i1", batch).expect("no error under concurrency");
                        total.inserted += report.inserted;
                        total.duplicates += report.duplicates;
                    }
                    (total, store)
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("worker")).unzip()
    });
    let handed: usize = (0..workers)
        .map(|worker| workload(&events, u64::try_from(worker).expect("small")).len())
        .sum();
    assert_eq!(reports.iter().map(|r| r.inserted).sum::<usize>(), EVENTS, "{reports:?}");
    assert_eq!(
        reports.iter().map(|r| r.duplicates).sum::<usize>(),
        handed - EVENTS,
        "everything else was a duplicate"
    );
    let store = stores.pop().expect("one store at least");
    let stored = store
        .recent_events(&EventQuery::latest(10 * EVENTS))
        .expect("listing")
        .events;
    assert_eq!(stored.len(), EVENTS, "each event once");
    let stored: BTreeMap<String, Event> = stored
        .into_iter()
        .map(|stored| (stored.event.source_id.clone(), stored.event))
        .collect();
    assert_eq!(stored.len(), EVENTS, "no source id twice");
    // An object shared by several events (an issue, a repository) is stored once per key, as the version some
    // ingest wrote last: whole, never a mix of two versions.
    let mut versions: HashMap<&str, Vec<&Object>> = HashMap::new();
    for event in &events {
        for object in [&event.actor, &event.target] {
            versions.entry(object.key.as_str()).or_default().push(object);
        }
    }
    let mut changed_objects = 0;
    for event in &events {
        let found = stored.get(&event.source_id).expect("stored");
        let mut expected = event.clone();
        expected.actor = found.actor.clone();
        expected.target = found.target.clone();
        assert_eq!(found, &expected, "stored whole, blocks once and in order");
        for (object, original) in [(&found.actor, &event.actor), (&found.target, &event.target)] {
            assert_eq!(object.key, original.key);
            assert!(
                versions[object.key.as_str()].contains(&object),
                "{} is one version that was written",
                object.key
            );
            changed_objects += usize::from(object != original);
        }
    }
    assert!(
        changed_objects > 0,
        "the recording has objects that change from event to event"
    );
}

/// Two instances store, at the same moment, events that share two objects in opposite roles (`a` follows `b` while
/// `b` follows `a`): neither may fail, as it would if each locked its actor first and then waited for its target.
fn crossed_actors_and_targets_do_not_deadlock<S>(stores: Vec<S>)
where
    S: ActivityStore + Send,
    S::Error: fmt::Debug,
{
    const PAIRS: usize = 60;
    let barrier = Barrier::new(stores.len());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(worker, mut store)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for pair in 0..PAIRS {
                        let (a, b) = (user(1_000 + 2 * pair), user(1_001 + 2 * pair));
                        let (actor, target) = if worker % 2 == 0 { (a, b) } else { (b, a) };
                        let id = format!("follow-{pair}-{worker}");
                        let event = Event::builder()
                            .source_id(id)
                            .time(at(0))
                            .service("github")
                            .domain("user")
                            .action("follow")
                            .actor(actor)
                            .target(target)
                            .build()
                            .expect("a complete event");
                        barrier.wait();
                        // Failures are collected, not raised, so that the other worker is not left at the barrier.
                        if let Err(error) = ingest(&mut store, "i1", &[event]) {
                            failures.push(format!("{error:?}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("worker"))
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

fn github(id: &str, random: u8) -> Integration {
    Integration::initialize(&GithubPlugin::new(), id, "user-1", &[random; 32])
}

/// N instances find the same access token expired at once and follow the protocol of
/// `IntegrationStore::try_begin_refresh`; the refresh request is simulated with a counter and a delay.
fn one_refresh_for_simultaneous_callers<S>(mut stores: Vec<S>)
where
    S: IntegrationStore + Send,
    S::Error: fmt::Debug,
{
    let now = at(0);
    let first = stores.first_mut().expect("one store at least");
    let mut integration = github("g1", 1);
    first.create_integration(&integration).expect("create");
    let mut old = TokenSet::new(AccessToken::new("gho_old"));
    old.refresh_token = Some(RefreshToken::new("ghr_old"));
    old.expires_at = Some(now - Duration::seconds(1));
    integration.tokens = Some(old);
    first.update_integration(&integration).expect("authorize");

    let refresh_requests = AtomicUsize::new(0);
    let barrier = Barrier::new(stores.len());
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(instance, mut store)| {
                let (barrier, refresh_requests) = (&barrier, &refresh_requests);
                scope.spawn(move || {
                    barrier.wait();
                    let holder = format!("instance-{instance}");
                    loop {
                        let seen = store.token_version("g1").expect("version").expect("exists");
                        let current = store.find_integration("g1").expect("find").expect("exists");
                        let current = current.tokens.expect("authorized");
                        if current.expires_at.is_some_and(|expiry| expiry > now) {
                            return current.access_token.expose_secret().to_owned();
                        }
                        match store
                            .try_begin_refresh("g1", seen, &holder, now, Duration::seconds(30))
                            .expect("claim")
                        {
                            RefreshClaim::Granted(record) => {
                                // The refresh request: it uses, and at GitHub invalidates, the old refresh token.
                                refresh_requests.fetch_add(1, Ordering::SeqCst);
                                let old = record.tokens.expect("authorized");
                                assert_eq!(
                                    old.refresh_token.as_ref().map(RefreshToken::expose_secret),
                                    Some("ghr_old")
                                );
                                std::thread::sleep(StdDuration::from_millis(50));
                                let mut fresh = TokenSet::new(AccessToken::new("gho_new"));
                                fresh.refresh_token = Some(RefreshToken::new("ghr_new"));
                                fresh.expires_at = Some(now + Duration::hours(8));
                                assert!(store.replace_tokens("g1", seen, &fresh).expect("replace"));
                            }
                            RefreshClaim::Superseded { .. } => {}
                            RefreshClaim::Busy { .. } => std::thread::sleep(StdDuration::from_millis(2)),
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("instance"))
            .collect()
    });
    assert_eq!(refresh_requests.load(Ordering::SeqCst), 1, "one refresh request");
    assert!(tokens.iter().all(|token| token == "gho_new"), "{tokens:?}");
}

/// N schedulers poll 30 integrations due at the same moment, each taking leases a few at a time: every
/// integration is polled exactly once.
fn each_due_integration_is_polled_once<S>(mut stores: Vec<S>)
where
    S: IntegrationStore + Send,
    S::Error: fmt::Debug,
{
    let now = at(0);
    let first = stores.first_mut().expect("one store at least");
    let ids: Vec<String> = (0..30).map(|n| format!("g{n:02}")).collect();
    for (id, random) in ids.iter().zip(0_u8..) {
        first.create_integration(&github(id, random)).expect("create");
    }
    let mut registry = Registry::new();
    registry.register(GithubPlugin::new()).expect("register");
    let polls: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    let barrier = Barrier::new(stores.len());
    std::thread::scope(|scope| {
        for (scheduler, mut store) in stores.into_iter().enumerate() {
            let (barrier, polls, registry) = (&barrier, &polls, &registry);
            scope.spawn(move || {
                barrier.wait();
                let holder = format!("scheduler-{scheduler}");
                loop {
                    let batch = schedule::acquire_due(&mut store, registry, &holder, now, Duration::minutes(5), 3)
                        .expect("acquire");
                    if batch.is_empty() {
                        break;
                    }
                    for integration in batch {
                        *polls.lock().expect("lock").entry(integration.id.clone()).or_default() += 1;
                        std::thread::sleep(StdDuration::from_millis(2));
                        let polled = Ok(PollSuccess::new(now + Duration::minutes(1)));
                        schedule::record(&mut store, &integration.id, polled, now).expect("record");
                    }
                }
            });
        }
    });
    let polls = polls.into_inner().expect("lock");
    assert_eq!(polls.len(), ids.len(), "every due integration polled");
    assert!(polls.values().all(|count| *count == 1), "{polls:?}");
}

#[cfg(feature = "postgres")]
mod postgres {
    use spark_test_support::postgres::{connect, fresh_schema};

    const INSTANCES: usize = 4;

    #[test]
    fn every_event_is_stored_once() {
        let Some(config) = fresh_schema("every_event_is_stored_once") else {
            return;
        };
        super::every_event_is_stored_once((0..INSTANCES).map(|_| connect(&config)).collect());
    }

    #[test]
    fn crossed_actors_and_targets_do_not_deadlock() {
        let Some(config) = fresh_schema("crossed_actors_and_targets_do_not_deadlock") else {
            return;
        };
        super::crossed_actors_and_targets_do_not_deadlock((0..2).map(|_| connect(&config)).collect());
    }

    #[test]
    fn one_refresh_for_simultaneous_callers() {
        let Some(config) = fresh_schema("one_refresh_for_simultaneous_callers") else {
            return;
        };
        super::one_refresh_for_simultaneous_callers((0..8).map(|_| connect(&config)).collect());
    }

    #[test]
    fn each_due_integration_is_polled_once() {
        let Some(config) = fresh_schema("each_due_integration_is_polled_once") else {
            return;
        };
        super::each_due_integration_is_polled_once((0..INSTANCES).map(|_| connect(&config)).collect());
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use spark_integrations::store::{SqliteStore, rusqlite};

    /// `count` connections to one fresh database file, in a folder removed when the guard drops. The file is in
    /// WAL mode, as a host with several writers would set it: readers never block the writer, and commits are
    /// short, so waiting writers do not run out their busy timeout.
    fn connections(name: &str, count: usize) -> (Vec<SqliteStore>, TempDir) {
        let dir = std::env::temp_dir().join(format!("spark-multi-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("spark.sqlite3");
        let stores = (0..count)
            .map(|_| {
                let connection = rusqlite::Connection::open(&path).expect("open");
                connection
                    .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    .expect("WAL mode");
                SqliteStore::from_connection(connection).expect("migrate")
            })
            .collect();
        (stores, TempDir(dir))
    }

    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn every_event_is_stored_once() {
        let (stores, _dir) = connections("ingest", 3);
        super::every_event_is_stored_once(stores);
    }

    #[test]
    fn crossed_actors_and_targets_do_not_deadlock() {
        let (stores, _dir) = connections("crossed", 2);
        super::crossed_actors_and_targets_do_not_deadlock(stores);
    }

    #[test]
    fn one_refresh_for_simultaneous_callers() {
        let (stores, _dir) = connections("refresh", 8);
        super::one_refresh_for_simultaneous_callers(stores);
    }

    #[test]
    fn each_due_integration_is_polled_once() {
        let (stores, _dir) = connections("lease", 4);
        super::each_due_integration_is_polled_once(stores);
    }
}
