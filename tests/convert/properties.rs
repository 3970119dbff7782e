//! Properties every converter and the model must hold, on arbitrary input and on the recorded fixtures:
//! no panic on any JSON, no panic on fixtures with fields deleted or retyped, identical output for identical input,
//! and a model whose JSON round-trips.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;

use crate::json_tree::{Step, mutate, paths};
use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
use spark_integrations::model::{Block, Event, Metadata, Name, Object};
use spark_integrations::providers::github::GithubConverter;
use spark_integrations::providers::slack::SlackConverter;

/// Which converter reads a fixture, and how.
#[derive(Debug, Clone)]
enum Kind {
    GithubEvents,
    /// A GitHub webhook body with its `X-GitHub-Event` name (the file name's first part).
    GithubWebhook(String),
    Slack,
}

fn fixtures() -> &'static [(PathBuf, Kind, Vec<u8>)] {
    static FIXTURES: std::sync::OnceLock<Vec<(PathBuf, Kind, Vec<u8>)>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(load_fixtures)
}

fn load_fixtures() -> Vec<(PathBuf, Kind, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut found = Vec::new();
    for (folder, make) in [
        ("github-events", (|_: &str| Kind::GithubEvents) as fn(&str) -> Kind),
        ("github-webhooks", |name: &str| {
            Kind::GithubWebhook(name.split('.').next().unwrap_or(name).to_owned())
        }),
        ("slack", |_: &str| Kind::Slack),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|entry| Some(entry.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_some_and(|extension| extension == "json") {
                let name = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or_default()
                    .to_owned();
                let bytes = std::fs::read(&path).expect("fixture is readable");
                found.push((path, make(&name), bytes));
            }
        }
    }
    found
}

fn context() -> ConvertContext {
    ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).single().expect("valid date")).with_integration("1")
}

fn convert(kind: &Kind, body: &[u8]) -> Result<Conversion, String> {
    let result = match kind {
        Kind::GithubEvents => GithubConverter.convert(Payload::Polled { body }, &context()),
        Kind::GithubWebhook(event) => GithubConverter.convert(
            Payload::Webhook {
                event: Some(event),
                delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                body,
            },
            &context(),
        ),
        Kind::Slack => SlackConverter.convert(
            Payload::Webhook {
                event: None,
                delivery_id: None,
                body,
            },
            &context(),
        ),
    };
    result.map_err(|error| error.to_string())
}

/// The conversion rendered as bytes, to compare runs exactly.
fn render(conversion: &Result<Conversion, String>) -> Vec<u8> {
    match conversion {
        Ok(Conversion::Converted(events)) => serde_json::to_vec(events).expect("events serialize"),
        other => format!("{other:?}").into_bytes(),
    }
}

#[test]
fn the_fixture_folders_are_not_empty() {
    let all = fixtures();
    assert!(all.len() >= 40, "expected at least 40 fixtures, found {}", all.len());
}

#[test]
fn converting_the_same_bytes_twice_gives_identical_output() {
    for (path, kind, bytes) in fixtures() {
        let first = render(&convert(kind, bytes));
        let second = render(&convert(kind, &bytes.clone()));
        assert_eq!(
            first,
            second,
            "{} converted differently on a second run",
            path.display()
        );
    }
}

/// What the providers' value / unit tables promise of every converted event: a unit, always, and a value of at
/// least 0, except a push whose payload gives no commit count (the current Events API), which has a unit and no
/// value; blocks that carry a value carry a unit too. Returns the first broken promise.
fn counts_as_the_tables_say(events: &[Event]) -> Result<(), String> {
    for event in events {
        let unit = event.value_unit.as_deref().unwrap_or_default();
        if unit.is_empty() {
            return Err(format!("{} {} {}: no unit", event.service, event.domain, event.action));
        }
        match event.value {
            Some(value) if value < 0 => return Err(format!("{}: value {value} < 0", event.source_id)),
            Some(_) => {}
            None if event.service == "github" && event.action == "push" && unit == "commits" => {}
            None => return Err(format!("{} {} {}: no value", event.service, event.domain, event.action)),
        }
        if event.value_multiplier != 1 {
            return Err(format!("{}: multiplier {}", event.source_id, event.value_multiplier));
        }
        for block in &event.blocks {
            let block_unit = block.value_unit.as_deref().unwrap_or_default();
            if block.value.is_some_and(|value| value < 0) || block.value.is_some() == block_unit.is_empty() {
                return Err(format!("{}: block {:?} / {block_unit:?}", event.source_id, block.value));
            }
        }
    }
    Ok(())
}

#[test]
fn every_converted_fixture_event_has_a_value_and_a_unit() {
    let mut events = 0;
    for (path, kind, bytes) in fixtures() {
        if let Ok(Conversion::Converted(converted)) = convert(kind, bytes) {
            counts_as_the_tables_say(&converted).unwrap_or_else(|broken| panic!("{}: {broken}", path.display()));
            events += converted.len();
        }
    }
    assert!(events >= 60, "only {events} converted events");
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        // Strings that look like the fields converters read: ids, times, type names, ts values.
        prop_oneof![
            ".*",
            "[0-9]{1,20}",
            "[0-9]{10}\\.[0-9]{6}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z",
            "(PushEvent|WatchEvent|IssuesEvent|event_callback|message|url_verification|reaction_added)",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let keys = prop_oneof![
            Just("id".to_owned()),
            Just("type".to_owned()),
            Just("actor".to_owned()),
            Just("repo".to_owned()),
            Just("payload".to_owned()),
            Just("created_at".to_owned()),
            Just("event".to_owned()),
            Just("event_id".to_owned()),
            Just("team_id".to_owned()),
            Just("ts".to_owned()),
            Just("commits".to_owned()),
            Just("sender".to_owned()),
            Just("repository".to_owned()),
            "[a-z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

const WEBHOOK_EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "issues",
    "issue_comment",
    "star",
    "gollum",
    "ping",
    "x",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_converter_panics_on_arbitrary_json(value in arbitrary_json(), event in prop::sample::select(WEBHOOK_EVENTS)) {
        let body = serde_json::to_vec(&value).expect("a Value serializes");
        for kind in [Kind::GithubEvents, Kind::GithubWebhook(event.to_owned()), Kind::Slack] {
            let _ = convert(&kind, &body);
        }
    }

    #[test]
    fn no_converter_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for kind in [Kind::GithubEvents, Kind::GithubWebhook("push".to_owned()), Kind::Slack] {
            prop_assert!(convert(&kind, &body).is_err() || serde_json::from_slice::<Value>(&body).is_ok());
        }
    }

    #[test]
    fn no_converter_panics_on_fixtures_with_a_field_deleted_or_retyped(
        pick in any::<prop::sample::Index>(),
        field in any::<prop::sample::Index>(),
        replacement in prop::option::of(arbitrary_json()),
    ) {
        prop_assume!(!fixtures().is_empty());
        let (path, kind, target, body) = with_a_field_changed(pick, field, replacement);
        let result = std::panic::catch_unwind(|| convert(kind, &body));
        prop_assert!(result.is_ok(), "{} panicked with {:?} changed", path.display(), target);
    }

    #[test]
    fn converted_events_count_as_the_tables_say_whatever_a_field_holds(
        pick in any::<prop::sample::Index>(),
        field in any::<prop::sample::Index>(),
        replacement in prop::option::of(arbitrary_json()),
    ) {
        prop_assume!(!fixtures().is_empty());
        let (path, kind, target, body) = with_a_field_changed(pick, field, replacement);
        let first = convert(kind, &body);
        if let Ok(Conversion::Converted(events)) = &first {
            let counted = counts_as_the_tables_say(events);
            prop_assert!(counted.is_ok(), "{} with {:?} changed: {:?}", path.display(), target, counted);
        }
        prop_assert_eq!(render(&first), render(&convert(kind, &body)), "deterministic");
    }
}

/// A recorded fixture (`pick` of them) with one field (`field` of its paths) deleted (`None`) or replaced: its path,
/// its kind, the path of the field changed and the changed body.
fn with_a_field_changed(
    pick: prop::sample::Index,
    field: prop::sample::Index,
    replacement: Option<Value>,
) -> (&'static Path, &'static Kind, Vec<Step>, Vec<u8>) {
    let all = fixtures();
    let (path, kind, bytes) = &all[pick.index(all.len())];
    let mut value: Value = serde_json::from_slice(bytes).expect("fixtures are JSON");
    let paths = paths(&value);
    let target = paths[field.index(paths.len())].clone();
    mutate(&mut value, &target, replacement);
    let body = serde_json::to_vec(&value).expect("a Value serializes");
    (path, kind, target, body)
}

fn arbitrary_time() -> impl Strategy<Value = DateTime<Utc>> {
    // Years 1970..=9999, any nanosecond: the model must keep every precision.
    (0_i64..253_402_300_799, 0_u32..1_000_000_000)
        .prop_map(|(seconds, nanos)| Utc.timestamp_opt(seconds, nanos).single().expect("in range"))
}

fn arbitrary_metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::btree_map("[a-z_]{1,8}", arbitrary_json(), 0..4).prop_map(|map| map.into_iter().collect())
}

fn arbitrary_embeddings() -> impl Strategy<Value = Option<Vec<f32>>> {
    prop::option::of(prop::collection::vec(
        any::<f32>().prop_filter("finite", |f| f.is_finite()),
        0..4,
    ))
}

fn arbitrary_object() -> impl Strategy<Value = Object> {
    (
        ("[a-z]+:[a-z_]+:[0-9]{1,9}", "[a-z_]{1,12}", "[a-z_]{1,16}"),
        (prop::option::of(".*"), prop::option::of(".*"), arbitrary_metadata()),
        (
            prop::option::of("https://[a-z.]{1,12}/.*"),
            prop::option::of("https://[a-z.]{1,12}/.*"),
        ),
        (prop::option::of(arbitrary_time()), arbitrary_embeddings()),
    )
        .prop_map(
            |((key, concept, kind), (title, content, metadata), (url, image_url), (time, embeddings))| {
                let mut object = Object::new(key, concept, kind);
                object.title = title;
                object.content = content;
                object.metadata = metadata;
                object.url = url;
                object.image_url = image_url;
                object.time = time;
                object.embeddings = embeddings;
                object
            },
        )
}

fn arbitrary_block() -> impl Strategy<Value = Block> {
    (
        prop::option::of(arbitrary_time()),
        (
            prop::option::of(".*"),
            prop::option::of(".*"),
            prop::option::of(".*"),
            prop::option::of(".*"),
        ),
        (
            prop::option::of(any::<i64>()),
            any::<i64>(),
            prop::option::of("[a-z]{1,8}"),
        ),
        arbitrary_embeddings(),
    )
        .prop_map(
            |(time, (title, content, url, media_url), (value, value_multiplier, value_unit), embeddings)| {
                let mut block = Block::new();
                block.time = time;
                block.title = title;
                block.content = content;
                block.url = url;
                block.media_url = media_url;
                block.value = value;
                block.value_multiplier = value_multiplier;
                block.value_unit = value_unit.map(Name::from);
                block.embeddings = embeddings;
                block
            },
        )
}

fn arbitrary_event() -> impl Strategy<Value = Event> {
    (
        (
            "[0-9a-f-]{1,36}",
            arbitrary_time(),
            "[a-z]{1,8}",
            "[a-z_]{1,12}",
            "[a-z_]{1,12}",
        ),
        (arbitrary_object(), arbitrary_object()),
        (
            prop::option::of(any::<i64>()),
            any::<i64>(),
            prop::option::of("[a-z]{1,8}"),
        ),
        (arbitrary_metadata(), arbitrary_metadata(), arbitrary_metadata()),
        (prop::collection::vec(arbitrary_block(), 0..3), arbitrary_embeddings()),
    )
        .prop_map(
            |(
                (source_id, time, service, domain, action),
                (actor, target),
                (value, value_multiplier, value_unit),
                (actor_metadata, target_metadata, event_metadata),
                (blocks, embeddings),
            )| {
                let mut event = Event::builder()
                    .source_id(source_id)
                    .time(time)
                    .service(service)
                    .domain(domain)
                    .action(action)
                    .actor(actor)
                    .target(target)
                    .build()
                    .expect("every field is set and the time is in range");
                // Any multiplier, even one the builder refuses: the JSON must round-trip whatever it holds.
                event.value = value;
                event.value_multiplier = value_multiplier;
                event.value_unit = value_unit.map(Name::from);
                event.actor_metadata = actor_metadata;
                event.target_metadata = target_metadata;
                event.event_metadata = event_metadata;
                event.blocks = blocks;
                event.embeddings = embeddings;
                event
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_model_json_round_trips(event in arbitrary_event()) {
        let json = serde_json::to_string(&event).expect("events serialize");
        let back: Event = serde_json::from_str(&json).expect("serialized events deserialize");
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(serde_json::to_string(&back).expect("events serialize"), json);
    }
}

#[test]
fn event_json_has_exactly_the_documented_fields_in_order() {
    let time = Utc.timestamp_opt(1_355_517_523, 5_000).single().expect("valid");
    let event = Event::builder()
        .source_id("Ev1")
        .time(time)
        .service("slack")
        .domain("message")
        .action("sent")
        .actor(Object::new("slack:T1:user:U1", "user", "slack_user"))
        .target(Object::new(
            "slack:T1:message:C1:1355517523.000005",
            "message",
            "slack_message",
        ))
        .build()
        .expect("a complete event");
    let mut with_block = event;
    with_block.blocks.push(Block::default());
    insta::assert_json_snapshot!(with_block, @r#"
    {
      "source_id": "Ev1",
      "time": "2012-12-14T20:38:43.000005Z",
      "service": "slack",
      "domain": "message",
      "action": "sent",
      "value": null,
      "value_multiplier": 1,
      "value_unit": null,
      "actor": {
        "key": "slack:T1:user:U1",
        "concept": "user",
        "type": "slack_user",
        "title": null,
        "content": null,
        "metadata": {},
        "url": null,
        "image_url": null,
        "time": null,
        "embeddings": null
      },
      "actor_metadata": {},
      "target": {
        "key": "slack:T1:message:C1:1355517523.000005",
        "concept": "message",
        "type": "slack_message",
        "title": null,
        "content": null,
        "metadata": {},
        "url": null,
        "image_url": null,
        "time": null,
        "embeddings": null
      },
      "target_metadata": {},
      "event_metadata": {},
      "blocks": [
        {
          "time": null,
          "title": null,
          "content": null,
          "url": null,
          "media_url": null,
          "value": null,
          "value_multiplier": 1,
          "value_unit": null,
          "embeddings": null
        }
      ],
      "embeddings": null
    }
    "#);
}
