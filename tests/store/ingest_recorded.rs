//! Recorded payloads through the converters into storage: a redelivered webhook and overlapping poll pages store
//! nothing twice, in memory and in SQLite.

use chrono::{TimeZone, Utc};
use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
use spark_integrations::model::Event;
use spark_integrations::providers::github::GithubConverter;
use spark_integrations::providers::slack::SlackConverter;
use spark_integrations::store::{ActivityStore, EventQuery, MemoryStore, ingest_conversion};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(path),
    )
    .expect("fixture")
}

fn context() -> ConvertContext {
    ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0).single().expect("valid")).with_integration("i1")
}

fn convert_push_delivery(delivery_id: &str) -> Conversion {
    let body = fixture("github-webhooks/push.default.0.json");
    let payload = Payload::Webhook {
        event: Some("push"),
        delivery_id: Some(delivery_id),
        body: &body,
    };
    GithubConverter
        .convert(payload, &context())
        .expect("a recorded push converts")
}

/// The GH Archive hour's events, converted, in file order.
fn gharchive_events() -> Vec<Event> {
    let file = fixture("github-events/gharchive-2025-01-01-15.part1.jsonl");
    file.split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .flat_map(
            |line| match GithubConverter.convert(Payload::Polled { body: line }, &context()) {
                Ok(Conversion::Converted(events)) => events,
                other => panic!("every GH Archive event converts, got {other:?}"),
            },
        )
        .collect()
}

fn redelivered_webhooks_are_stored_once<S: ActivityStore>(mut store: S)
where
    S::Error: std::fmt::Debug,
{
    let first = ingest_conversion(&mut store, "i1", &convert_push_delivery("d-1")).expect("first delivery");
    let again = ingest_conversion(&mut store, "i1", &convert_push_delivery("d-1")).expect("redelivery");
    assert_eq!((first.inserted, first.duplicates), (1, 0));
    assert_eq!(
        (
            again.inserted,
            again.duplicates,
            again.objects_created,
            again.objects_updated
        ),
        (0, 1, 0, 0)
    );

    let slack = fixture("slack/message.json");
    let conversion = SlackConverter
        .convert(
            Payload::Webhook {
                event: None,
                delivery_id: None,
                body: &slack,
            },
            &context(),
        )
        .expect("converts");
    for _retry in 0..3 {
        ingest_conversion(&mut store, "i1", &conversion).expect("Slack retries");
    }
    let stored = store.recent_events(&EventQuery::latest(10)).expect("list").events;
    assert_eq!(stored.len(), 2, "one push, one Slack message");
    let push = stored
        .iter()
        .find(|stored| stored.event.service == "github")
        .expect("the push");
    let Conversion::Converted(events) = convert_push_delivery("d-1") else {
        panic!("converted")
    };
    assert_eq!(push.event, events[0], "stored as converted, blocks included");
}

fn overlapping_poll_pages_are_stored_once<S: ActivityStore>(mut store: S)
where
    S::Error: std::fmt::Debug,
{
    let events = gharchive_events();
    // Three "pages" that overlap, the way successive polls of a busy feed do.
    let pages = [&events[0..400], &events[300..800], &events[700..]];
    let mut inserted = 0;
    let mut duplicates = 0;
    for page in pages {
        let report = spark_integrations::store::ingest(&mut store, "i1", page).expect("ingest");
        inserted += report.inserted;
        duplicates += report.duplicates;
    }
    let distinct: std::collections::BTreeSet<&str> = events.iter().map(|event| event.source_id.as_str()).collect();
    assert_eq!(inserted, distinct.len());
    assert_eq!(
        duplicates,
        200 + events.len() - distinct.len(),
        "the overlaps, and ids GH Archive repeats"
    );
    let stored = store.recent_events(&EventQuery::latest(5_000)).expect("list").events;
    assert_eq!(stored.len(), distinct.len());
    let blocks: usize = stored.iter().map(|stored| stored.event.blocks.len()).sum();
    let expected_blocks: usize = distinct
        .iter()
        .map(|id| {
            events
                .iter()
                .find(|event| event.source_id == *id)
                .map_or(0, |event| event.blocks.len())
        })
        .sum();
    assert_eq!(blocks, expected_blocks, "every commit block stored once");
}

#[test]
fn memory_redelivered_webhooks_are_stored_once() {
    redelivered_webhooks_are_stored_once(MemoryStore::new());
}

#[test]
fn memory_overlapping_poll_pages_are_stored_once() {
    overlapping_poll_pages_are_stored_once(MemoryStore::new());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_redelivered_webhooks_are_stored_once() {
    redelivered_webhooks_are_stored_once(spark_integrations::store::SqliteStore::open_in_memory().expect("sqlite"));
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_overlapping_poll_pages_are_stored_once() {
    overlapping_poll_pages_are_stored_once(spark_integrations::store::SqliteStore::open_in_memory().expect("sqlite"));
}
