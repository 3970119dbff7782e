//! GitLab properties: no panic on arbitrary JSON in any position of a fixture or as a whole payload, under any event
//! name; the same input always gives the same output; a webhook's source id depends on its body only.

use std::sync::OnceLock;

use crate::gitlab_common::{context, fixtures as fixture_paths, webhook_event};
use crate::json_tree::{bent, payload, scalars, tree};
use proptest::prelude::*;
use serde_json::Value;
use spark_integrations::convert::{Conversion, Converter, Payload};
use spark_integrations::providers::gitlab::{GitlabConverter, Instance, WEBHOOK_EVENTS};

fn converter() -> GitlabConverter {
    GitlabConverter::new(Instance::new("https://gitlab.example.com").expect("a base URL"))
}

fn json_value() -> impl Strategy<Value = Value> {
    let kinds = [
        "push",
        "tag_push",
        "note",
        "Issue",
        "MergeRequest",
        "Commit",
        "open",
        "merge",
    ];
    tree(prop_oneof![
        6 => scalars(),
        1 => Just(Value::from("2025-01-01 00:00:00 UTC")),
        1 => Just(Value::from("0000000000000000000000000000000000000000")),
        1 => prop::sample::select(kinds.to_vec()).prop_map(Value::from),
    ])
}

/// `(X-Gitlab-Event or None for Events API items, body)` of every JSON fixture, read once.
fn fixtures() -> &'static [(Option<String>, Value)] {
    static FIXTURES: OnceLock<Vec<(Option<String>, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        [("events", false), ("webhooks", true)]
            .into_iter()
            .flat_map(|(folder, webhook)| {
                fixture_paths(folder).into_iter().map(move |path| {
                    let body = serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
                    (webhook.then(|| webhook_event(&path)), body)
                })
            })
            .collect()
    })
}

fn convert(event: Option<&str>, body: &[u8]) -> String {
    format!("{:?}", converter().convert(payload(event, body), &context()))
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
        // Without the event name too (the object_kind decides).
        let without = Payload::Webhook { event: None, delivery_id: None, body: &bytes };
        let _ = converter().convert(without, &context());
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
        let _ = convert(Some("Push Hook"), &bytes);
    }

    #[test]
    fn a_webhook_source_id_depends_on_the_body_only(
        pick in any::<prop::sample::Index>(),
        first in "[a-z0-9-]{1,36}",
        second in "[a-z0-9-]{1,36}",
    ) {
        let webhooks: Vec<_> = fixtures().iter().filter(|(event, _)| event.is_some()).collect();
        let (event, body) = webhooks[pick.index(webhooks.len())];
        let bytes = body.to_string().into_bytes();
        let with = |delivery_id: &str| {
            let payload = Payload::Webhook { event: event.as_deref(), delivery_id: Some(delivery_id), body: &bytes };
            converter().convert(payload, &context())
        };
        let (a, b) = (with(&first), with(&second));
        prop_assert_eq!(&a, &b);
        if let Ok(Conversion::Converted(events)) = a {
            for event in events {
                prop_assert!(event.source_id.starts_with("sha256:"));
            }
        }
    }
}
