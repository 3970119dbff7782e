//! GitLab properties: no panic on arbitrary JSON in any position of a fixture or as a whole payload, under any event
//! name; the same input always gives the same output; a webhook's source id depends on its body only.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use crate::json_tree::{mutate, paths, tree};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;
use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
use spark_integrations::providers::gitlab::{GitlabConverter, Instance, WEBHOOK_EVENTS};

fn context() -> ConvertContext {
    ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0).single().expect("valid time"))
}

fn converter() -> GitlabConverter {
    GitlabConverter::new(Instance::new("https://gitlab.example.com").expect("a base URL"))
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
        Just(Value::from("2025-01-01 00:00:00 UTC")),
        Just(Value::from("0000000000000000000000000000000000000000")),
        prop::sample::select(vec![
            "push",
            "tag_push",
            "note",
            "Issue",
            "MergeRequest",
            "Commit",
            "open",
            "merge"
        ])
        .prop_map(Value::from),
    ];
    tree(leaf)
}

/// `(X-Gitlab-Event or None for Events API items, body)` of every JSON fixture, read once.
fn fixtures() -> &'static [(Option<String>, Value)] {
    static FIXTURES: OnceLock<Vec<(Option<String>, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gitlab");
        let mut out = Vec::new();
        for (folder, webhook) in [("events", false), ("webhooks", true)] {
            let mut files: Vec<_> = fs::read_dir(root.join(folder))
                .expect("fixture folder")
                .map(|entry| entry.expect("entry").path())
                .collect();
            files.sort();
            for path in files {
                let name = path.file_name().expect("a name").to_string_lossy().into_owned();
                let event = webhook.then(|| {
                    let kind = name.split('.').next().expect("a name");
                    kind.split('_')
                        .map(|word| word[..1].to_uppercase() + &word[1..])
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                let body = serde_json::from_slice(&fs::read(&path).expect("readable")).expect("JSON");
                out.push((event, body));
            }
        }
        out
    })
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
    format!("{:?}", converter().convert(payload, &context()))
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
