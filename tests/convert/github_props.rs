//! GitHub-specific properties: no panic on arbitrary JSON in any position of a real payload, and the same input
//! always gives the same output.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use crate::json_tree::{mutate, paths, tree};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;
use spark_integrations::convert::{ConvertContext, Converter, Payload};
use spark_integrations::providers::github::{GithubConverter, WEBHOOK_EVENTS};

fn context() -> ConvertContext {
    ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0).single().expect("valid time"))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("2025-01-01T00:00:00Z")),
    ];
    tree(leaf)
}

/// `(webhook event or None for Events API, body)` of every JSON fixture, read once.
fn fixtures() -> &'static [(Option<String>, Value)] {
    static FIXTURES: OnceLock<Vec<(Option<String>, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(read_fixtures)
}

fn read_fixtures() -> Vec<(Option<String>, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for (folder, webhook) in [("github-events", false), ("github-webhooks", true)] {
        let mut files: Vec<_> = fs::read_dir(root.join(folder))
            .expect("fixture folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().expect("a name").to_string_lossy().into_owned();
            let event = webhook.then(|| name.split('.').next().expect("a name").to_owned());
            let body = serde_json::from_slice(&fs::read(&path).expect("readable")).expect("JSON");
            out.push((event, body));
        }
    }
    out
}

fn convert(event: Option<&str>, body: &[u8]) -> String {
    let payload = match event {
        None => Payload::Polled { body },
        Some(event) => Payload::Webhook {
            event: Some(event),
            delivery_id: Some("d"),
            body,
        },
    };
    format!("{:?}", GithubConverter.convert(payload, &context()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_in_any_place_of_a_fixture_never_panics(
        pick in any::<prop::sample::Index>(),
        place in any::<prop::sample::Index>(),
        with in json_value(),
    ) {
        let all = fixtures();
        let (event, mut body) = all[pick.index(all.len())].clone();
        let found = paths(&body);
        let path = found[place.index(found.len())].clone();
        mutate(&mut body, &path, Some(with));
        let bytes = body.to_string().into_bytes();
        let first = convert(event.as_deref(), &bytes);
        prop_assert_eq!(first, convert(event.as_deref(), &bytes));
    }

    #[test]
    fn any_json_as_a_whole_payload_never_panics(body in json_value(), event in any::<prop::sample::Index>()) {
        let bytes = body.to_string().into_bytes();
        let _ = convert(None, &bytes);
        let _ = convert(Some(WEBHOOK_EVENTS[event.index(WEBHOOK_EVENTS.len())]), &bytes);
    }

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = convert(None, &bytes);
        let _ = convert(Some("push"), &bytes);
    }
}
