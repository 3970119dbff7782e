//! Times the model accepts, years 1 to 9999: converters refuse payload times outside them, naming the field, and
//! every store reads back every time inside them.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;
use spark_integrations::convert::{ConvertContext, Converter, Payload};
use spark_integrations::model::{Event, Object, is_storable_time};
use spark_integrations::providers::github::GithubConverter;
use spark_integrations::providers::slack::SlackConverter;
use spark_integrations::store::{ActivityStore, EventQuery, MemoryStore, ingest};
use spark_integrations::{Conversion, ConvertError};

/// Seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z.
const FIRST: i64 = -62_135_596_800;
const LAST: i64 = 253_402_300_799;

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    serde_json::from_str(&text).expect("JSON")
}

fn context() -> ConvertContext {
    ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
}

fn github_push(pushed_at: i64) -> Result<Conversion, ConvertError> {
    let mut push = fixture("github-webhooks/push.default.4.json");
    push["repository"]["pushed_at"] = pushed_at.into();
    let body = push.to_string();
    let payload = Payload::Webhook {
        event: Some("push"),
        delivery_id: Some("d-1"),
        body: body.as_bytes(),
    };
    GithubConverter.convert(payload, &context())
}

#[test]
fn a_push_from_year_10000_or_year_0_is_refused_naming_the_field() {
    for seconds in [LAST + 1, FIRST - 1, i64::MAX, i64::MIN] {
        let error = github_push(seconds).expect_err("out of range");
        assert!(
            matches!(&error, ConvertError::InvalidField { path, message }
                if path == "repository.pushed_at" && message.contains("outside years 1 to 9999")),
            "{seconds}: {error}"
        );
    }
    for seconds in [LAST, FIRST, 0, 1_735_689_600] {
        assert!(github_push(seconds).is_ok(), "{seconds}");
    }
}

#[test]
fn an_events_api_item_of_year_0_is_refused() {
    let mut item = fixture("github-events/WatchEvent.json");
    item["created_at"] = "0000-12-31T23:59:59Z".into();
    let body = item.to_string();
    let error = GithubConverter
        .convert(Payload::Polled { body: body.as_bytes() }, &context())
        .expect_err("year 0");
    assert!(
        matches!(&error, ConvertError::InvalidField { path, .. } if path == "created_at"),
        "{error}"
    );
}

#[test]
fn a_slack_message_from_year_10000_never_gives_an_unreadable_time() {
    let mut message = fixture("slack/message.json");
    message["event"]["ts"] = "253402300800.000100".into();
    message["event"]["event_ts"] = "253402300800.000100".into();
    let body = message.to_string();
    let converted = SlackConverter.convert(
        Payload::Webhook {
            event: None,
            delivery_id: None,
            body: body.as_bytes(),
        },
        &context(),
    );
    // Slack's `ts` is loose text: one that is no usable time is ignored (the envelope's `event_time` stands in), and
    // one that is a time out of range is refused. Either way nothing is stored that a store could not read back.
    match converted {
        Ok(Conversion::Converted(events)) => {
            for event in &events {
                assert!(is_storable_time(&event.time), "{event:?}");
                assert!(event.target.time.as_ref().is_none_or(is_storable_time), "{event:?}");
            }
        }
        Err(ConvertError::InvalidField { path, .. }) => assert!(path.ends_with("time"), "{path}"),
        other => panic!("{other:?}"),
    }
}

/// An event at `time` with objects and a block at the same time.
fn event_at(time: DateTime<Utc>) -> Event {
    let mut actor = Object::new("acme:user:1", "user", "acme_user");
    actor.time = Some(time);
    let target = Object::new("acme:task:1", "task", "acme_task");
    Event::builder()
        .source_id("1")
        .time(time)
        .service("acme")
        .domain("task")
        .action("created")
        .actor(actor)
        .target(target)
        .block(spark_integrations::Block::new().with_time(time))
        .build()
        .expect("a complete event at a storable time")
}

fn round_trip<S: ActivityStore>(mut store: S, time: DateTime<Utc>) -> Event
where
    S::Error: std::fmt::Debug,
{
    ingest(&mut store, "i1", &[event_at(time)]).expect("ingest");
    let mut stored = store.recent_events(&EventQuery::latest(1)).expect("read").events;
    stored.pop().expect("stored").event
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_store_reads_back_every_time_the_model_accepts(seconds in FIRST..=LAST, nanos in 0_u32..1_000_000_000) {
        let time = DateTime::from_timestamp(seconds, nanos).expect("in range");
        prop_assert!(is_storable_time(&time));
        prop_assert_eq!(round_trip(MemoryStore::new(), time), event_at(time));
        #[cfg(feature = "sqlite")]
        {
            let sqlite = spark_integrations::store::SqliteStore::open_in_memory().expect("sqlite");
            prop_assert_eq!(round_trip(sqlite, time), event_at(time));
        }
    }
}
