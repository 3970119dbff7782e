//! GitHub-specific properties: no panic on arbitrary JSON in any position of a real payload, and the same input
//! always gives the same output.

use std::sync::OnceLock;

use crate::github_common::{context, fixtures as fixture_paths, webhook_event};
use crate::json_tree::{bent, payload, scalars, tree};
use proptest::prelude::*;
use serde_json::Value;
use spark_integrations::convert::Converter;
use spark_integrations::providers::github::{GithubConverter, WEBHOOK_EVENTS};

fn json_value() -> impl Strategy<Value = Value> {
    tree(prop_oneof![6 => scalars(), 1 => Just(Value::from("2025-01-01T00:00:00Z"))])
}

/// `(webhook event or None for Events API, body)` of every JSON fixture, read once.
fn fixtures() -> &'static [(Option<String>, Value)] {
    static FIXTURES: OnceLock<Vec<(Option<String>, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        [("github-events", false), ("github-webhooks", true)]
            .into_iter()
            .flat_map(|(folder, webhook)| {
                fixture_paths(folder, "json").into_iter().map(move |path| {
                    let body = serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
                    (webhook.then(|| webhook_event(&path)), body)
                })
            })
            .collect()
    })
}

fn convert(event: Option<&str>, body: &[u8]) -> String {
    format!("{:?}", GithubConverter.convert(payload(event, body), &context()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_in_any_place_of_a_fixture_never_panics(
        pick in any::<prop::sample::Index>(),
        place in any::<prop::sample::Index>(),
        with in json_value(),
    ) {
        let (event, bytes) = bent(fixtures(), pick, place, with);
        let first = convert(event, &bytes);
        prop_assert_eq!(first, convert(event, &bytes));
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
