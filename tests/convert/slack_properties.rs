//! Properties of the Slack converter: no panic and no error from non-identifying fields, whatever the JSON.

use crate::slack_support;

use crate::json_tree::{Step, mutate, paths};
use serde_json::Value;
use slack_support::{convert, fixture_paths, render};

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        "[a-z_.0-9]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("event_callback"),
            Just("message"),
            Just("reaction_added"),
            Just("1355517523.000005")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("event".to_owned()),
                    Just("event_id".to_owned()),
                    Just("team_id".to_owned()),
                    Just("subtype".to_owned()),
                    Just("ts".to_owned()),
                    Just("message".to_owned()),
                    Just("item".to_owned()),
                    Just("files".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn fixtures_with_a_field_deleted_or_retyped_never_panic(
        fixture_index in 0_usize..1000,
        path_index in 0_usize..10_000,
        replacement in proptest::option::of(arbitrary_json()),
    ) {
        let fixtures = fixture_paths();
        let path = &fixtures[fixture_index % fixtures.len()];
        let mut value: Value = serde_json::from_slice(&std::fs::read(path).expect("readable")).expect("JSON");
        let was_ok = convert(&serde_json::to_vec(&value).expect("serializes")).is_ok();
        // Every field below the root.
        let all: Vec<Vec<Step>> = paths(&value).into_iter().filter(|path| !path.is_empty()).collect();
        let mut identifying = true;
        if !all.is_empty() {
            let chosen = &all[path_index % all.len()];
            let names: Vec<&str> = chosen.iter().filter_map(Step::key).collect();
            identifying = chosen.len() == names.len()
                && matches!(names[..], ["type" | "event_id" | "team_id" | "event" | "challenge"] | ["event", "type"]);
            mutate(&mut value, chosen, replacement);
        }
        let body = serde_json::to_vec(&value).expect("serializes");
        let result = convert(&body);
        // Only the fields that identify the event may turn a converting payload into an error.
        if was_ok && !identifying {
            proptest::prop_assert!(result.is_ok(), "{}: {:?}", path.display(), result);
        }
        proptest::prop_assert_eq!(render(&result), render(&convert(&body)));
    }

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        let body = serde_json::to_vec(&value).expect("serializes");
        let _ = convert(&body);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = convert(&body);
    }
}
