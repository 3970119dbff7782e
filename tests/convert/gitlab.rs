//! GitLab converters: one snapshot per recorded or hand-written fixture, and the rules every conversion keeps.

use crate::gitlab_common;

use std::fs;

use gitlab_common::*;
use serde_json::Value;
use spark_integrations::convert::{Conversion, ConvertError, Converter, Payload, SkipReason};
use spark_integrations::providers::gitlab::{GitlabConverter, Instance, WEBHOOK_EVENTS};

#[test]
fn webhook_fixtures_match_their_snapshots() {
    let files = fixtures("webhooks");
    for event in WEBHOOK_EVENTS.iter().filter(|event| !event.starts_with("Confidential")) {
        assert!(
            files.iter().any(|path| webhook_event(path) == *event),
            "no fixture for `{event}`"
        );
    }
    for path in files {
        let body = fs::read(&path).expect("readable fixture");
        let rendered = render(&webhook(&webhook_event(&path), &body));
        insta::with_settings!({ snapshot_path => "snapshots/gitlab-webhooks", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(file_name(&path), rendered);
        });
    }
}

#[test]
fn events_api_fixtures_match_their_snapshots() {
    let files = fixtures("events");
    assert!(files.len() >= 15, "fixtures are missing: {files:?}");
    for path in files {
        let body = fs::read(&path).expect("readable fixture");
        let rendered = render(&polled(&body));
        insta::with_settings!({ snapshot_path => "snapshots/gitlab-events", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(file_name(&path), rendered);
        });
    }
}

#[test]
fn legacy_docs_items_without_an_id_are_errors_naming_it() {
    // GitLab's documentation examples before ids were added: each one fails, none panics.
    for path in fixtures("events-arrays") {
        let Value::Array(items) = read_json(&path) else {
            panic!("an array");
        };
        let rendered: Vec<Value> = items
            .iter()
            .map(|item| render(&polled(item.to_string().as_bytes())))
            .collect();
        for item in &rendered {
            assert_eq!(item["error"], "missing field `id`");
        }
        insta::with_settings!({ snapshot_path => "snapshots/gitlab-events", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(file_name(&path), rendered);
        });
    }
}

#[test]
fn the_same_body_gives_the_same_source_id_whatever_the_delivery() {
    let body = fs::read(fixture("webhooks/push_hook.push.json")).expect("readable");
    let converted = |delivery_id| {
        let payload = Payload::Webhook {
            event: Some("Push Hook"),
            delivery_id: Some(delivery_id),
            body: &body,
        };
        single_event(converter().convert(payload, &context()))
    };
    let first = converted("delivery-1");
    let replay = converted("delivery-2");
    assert_eq!(first, replay);
    assert!(first.source_id.starts_with("sha256:"));
    assert_eq!(first.source_id.len(), "sha256:".len() + 32);
    let mut changed = body.clone();
    changed.push(b'\n');
    let other = single_event(webhook("Push Hook", &changed));
    assert_ne!(other.source_id, first.source_id, "another body is another event");
}

#[test]
fn a_body_under_another_event_name_fails_or_is_skipped() {
    let body = fs::read(fixture("webhooks/push_hook.push.json")).expect("readable");
    for event in WEBHOOK_EVENTS.iter().filter(|event| **event != "Push Hook") {
        match webhook(event, &body) {
            Err(ConvertError::InvalidField { path, message }) => {
                assert_eq!(
                    path,
                    if *event == "Member Hook" {
                        "event_name"
                    } else {
                        "object_kind"
                    }
                );
                assert!(message.contains(event), "{message}");
            }
            other => panic!("{event}: {other:?}"),
        }
    }
    assert_eq!(
        webhook("System Hook", &body),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType("System Hook".into())))
    );
    assert_eq!(
        webhook("Job Hook", b"not even JSON"),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType("Job Hook".into()))),
        "event names the converter does not read are skipped unread"
    );
}

#[test]
fn without_an_event_name_the_object_kind_decides_unless_the_body_has_none() {
    let body = fs::read(fixture("webhooks/merge_request_hook.merge_request.json")).expect("readable");
    let payload = Payload::Webhook {
        event: None,
        delivery_id: None,
        body: &body,
    };
    let event = single_event(converter().convert(payload, &context()));
    assert_eq!(event, single_event(webhook("Merge Request Hook", &body)));

    let member = fs::read(fixture("webhooks/member_hook.member.json")).expect("readable");
    let payload = Payload::Webhook {
        event: None,
        delivery_id: None,
        body: &member,
    };
    assert!(matches!(
        converter().convert(payload, &context()),
        Err(ConvertError::MissingInput { .. })
    ));
}

#[test]
fn keys_name_the_instance() {
    let body = fs::read(fixture("webhooks/issue_hook.issue.json")).expect("readable");
    let payload = Payload::Webhook {
        event: Some("Issue Hook"),
        delivery_id: None,
        body: &body,
    };
    let on = |base: &str| {
        let converter = GitlabConverter::new(Instance::new(base).expect("a base URL"));
        single_event(converter.convert(payload, &context()))
    };
    let com = on("https://gitlab.com");
    let own = on("https://gitlab.example.com:8443/");
    assert_eq!(com.actor.key, "gitlab:gitlab.com:user:1");
    assert_eq!(own.actor.key, "gitlab:gitlab.example.com:8443:user:1");
    assert_ne!(com.target.key, own.target.key);
    assert_eq!(own.actor.url.as_deref(), Some("https://gitlab.example.com:8443/root"));
    assert_eq!(own.event_metadata["instance"], "gitlab.example.com:8443");
}

#[test]
fn pushes_count_all_commits_and_block_the_listed_ones() {
    let body = fs::read(fixture("webhooks/push_hook.push.json")).expect("readable");
    let event = single_event(webhook("Push Hook", &body));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("repository", "push"));
    assert_eq!((event.value, event.value_unit.as_deref()), (Some(4), Some("commits")));
    assert_eq!(event.blocks.len(), 2, "the body lists 2 of the 4 commits");
    for block in &event.blocks {
        assert_eq!((block.value, block.value_unit.as_deref()), (Some(1), Some("commit")));
    }
    assert_eq!(event.time, received_at(), "a push carries no time of its own");
    assert_eq!(event.target.key, "gitlab:gitlab.com:project:15");
}

#[test]
fn every_event_has_a_value_and_a_unit() {
    let webhooks = fixtures("webhooks")
        .into_iter()
        .map(|path| webhook(&webhook_event(&path), &fs::read(&path).expect("readable")));
    let polled = fixtures("events")
        .into_iter()
        .map(|path| polled(&fs::read(&path).expect("readable")));
    let mut events = 0;
    for conversion in webhooks.chain(polled) {
        if let Ok(Conversion::Converted(converted)) = conversion {
            for event in converted {
                assert!(event.value.is_some() && event.value_unit.is_some(), "{event:?}");
                assert!(event.actor.key.starts_with("gitlab:gitlab.com:"));
                assert!(event.target.key.starts_with("gitlab:gitlab.com:"));
                events += 1;
            }
        }
    }
    assert!(events >= 25, "{events}");
}

fn fixture(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gitlab")
        .join(relative)
}
