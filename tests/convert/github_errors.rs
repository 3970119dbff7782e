//! GitHub converters on incomplete input: skips, missing headers, missing identifying fields (named by path),
//! and optional fields that are missing or null.

use crate::github_common;

use std::fs;

use github_common::*;
use serde_json::Value;
use spark_integrations::convert::{Conversion, ConvertError, Converter, Payload, SkipReason};
use spark_integrations::providers::github::GithubConverter;

// ---------------------------------------------------------------------------------------------------------------
// Skips and missing input.

#[test]
fn ping_is_skipped() {
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    assert_eq!(webhook("ping", body), Ok(Conversion::Skipped(SkipReason::Ping)));
}

#[test]
fn unsupported_types_are_skipped_with_their_name() {
    assert_eq!(
        webhook("check_run", b"not even parsed"),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType("check_run".to_owned())))
    );
    let item = br#"{"id":"1","type":"SponsorshipEvent","payload":{"action":"created"}}"#;
    assert_eq!(
        polled(item),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType(
            "SponsorshipEvent".to_owned()
        )))
    );
}

#[test]
fn a_webhook_needs_its_event_name_and_delivery_id() {
    let body = br#"{"zen":"x"}"#;
    for (event, delivery_id) in [
        (None, Some("d")),
        (Some("ping"), None),
        (Some("push"), Some("")),
        (Some(""), Some("d")),
    ] {
        let payload = Payload::Webhook {
            event,
            delivery_id,
            body,
        };
        let result = GithubConverter.convert(payload, &context());
        assert!(
            matches!(result, Err(ConvertError::MissingInput { .. })),
            "{event:?} {delivery_id:?}: {result:?}"
        );
    }
    let payload = Payload::Webhook {
        event: Some("push"),
        delivery_id: None,
        body,
    };
    insta::assert_snapshot!(
        GithubConverter.convert(payload, &context()).expect_err("no delivery id"),
        @"missing input: the webhook delivery id (X-GitHub-Delivery header)"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Missing identifying fields name their path.

fn missing(result: Result<Conversion, ConvertError>) -> String {
    match result {
        Err(ConvertError::MissingField { path }) => path,
        other => panic!("expected a missing field, got {other:?}"),
    }
}

#[test]
fn missing_identifying_fields_of_an_item_are_named() {
    let cases: [(&[u8], &str); 9] = [
        (
            br#"{"type":"WatchEvent","actor":{"id":1},"repo":{"id":2},"payload":{}}"#,
            "id",
        ),
        (br#"{"id":"1","actor":{"id":1},"repo":{"id":2},"payload":{}}"#, "type"),
        (
            br#"{"id":"1","type":"WatchEvent","actor":{"login":"a"},"repo":{"id":2},"payload":{}}"#,
            "actor.id",
        ),
        (
            br#"{"id":"1","type":"WatchEvent","actor":null,"repo":{"id":2},"payload":{}}"#,
            "actor",
        ),
        (
            br#"{"id":"1","type":"WatchEvent","actor":{"id":1},"payload":{}}"#,
            "repo",
        ),
        (
            br#"{"id":"1","type":"WatchEvent","actor":{"id":1},"repo":{"id":null},"payload":{}}"#,
            "repo.id",
        ),
        (
            br#"{"id":"1","type":"PullRequestEvent","actor":{"id":1},"repo":{"id":2},
               "payload":{"action":"opened","pull_request":{"title":"t"}}}"#,
            "payload.pull_request.id",
        ),
        (
            br#"{"id":"1","type":"CommitCommentEvent","actor":{"id":1},"repo":{"id":2},
               "payload":{"comment":{"id":3,"body":"b"}}}"#,
            "payload.comment.commit_id",
        ),
        (
            br#"{"id":"1","type":"CreateEvent","actor":{"id":1},"repo":{"id":2},"payload":{"ref_type":"branch"}}"#,
            "payload.ref",
        ),
    ];
    for (body, path) in cases {
        assert_eq!(missing(polled(body)), path, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn a_payload_before_its_type_is_read_the_same() {
    let in_order = br#"{"id":"1","type":"IssuesEvent","actor":{"id":1},"repo":{"id":2,"name":"o/r"},
        "payload":{"action":"opened","issue":{"id":5,"number":1,"title":"t"}},"created_at":"2025-01-01T00:00:00Z"}"#;
    let payload_first = br#"{"payload":{"action":"opened","issue":{"id":5,"number":1,"title":"t"}},"id":"1",
        "type":"IssuesEvent","actor":{"id":1},"repo":{"id":2,"name":"o/r"},"created_at":"2025-01-01T00:00:00Z"}"#;
    assert_eq!(polled(in_order), polled(payload_first));
    let broken = br#"{"payload":{"action":"opened","issue":{"title":"t"}},"id":"1","type":"IssuesEvent",
        "actor":{"id":1},"repo":{"id":2}}"#;
    assert_eq!(missing(polled(broken)), "payload.issue.id");
    let no_payload = br#"{"id":"1","type":"IssuesEvent","actor":{"id":1},"repo":{"id":2}}"#;
    assert_eq!(missing(polled(no_payload)), "payload.issue");
}

#[test]
fn missing_identifying_fields_of_a_webhook_are_named() {
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "pull_request",
            br#"{"action":"opened","pull_request":{"number":1},"repository":{"id":2},"sender":{"id":1}}"#,
            "pull_request.id",
        ),
        (
            "issues",
            br#"{"action":"opened","issue":{"id":3},"repository":{"id":2}}"#,
            "sender",
        ),
        (
            "issues",
            br#"{"action":"opened","issue":{"id":3},"sender":{"id":1}}"#,
            "repository",
        ),
        (
            "watch",
            br#"{"action":"started","repository":{"id":2},"sender":{"login":"a"}}"#,
            "sender.id",
        ),
        (
            "member",
            br#"{"action":"added","member":{"login":"b"},"repository":{"id":2},"sender":{"id":1}}"#,
            "member.id",
        ),
    ];
    for (event, body, path) in cases {
        assert_eq!(missing(webhook(event, body)), path, "{event}");
    }
}

#[test]
fn malformed_json_is_a_syntax_error() {
    assert!(matches!(polled(b"{\"id\":"), Err(ConvertError::Syntax { .. })));
    assert!(matches!(
        webhook("push", b"{\"ref\":"),
        Err(ConvertError::Syntax { .. })
    ));
    assert!(matches!(polled(b"[]"), Err(ConvertError::InvalidField { .. })));
}

// ---------------------------------------------------------------------------------------------------------------
// Optional fields may be missing or null.

/// The leaves that identify an event (dotted paths without array indexes); all others may go.
const IDENTIFYING: &[&str] = &[
    "id",
    "type",
    "actor.id",
    "repo.id",
    "sender.id",
    "repository.id",
    "pull_request.id",
    "issue.id",
    "release.id",
    "member.id",
    "comment.commit_id",
    "ref",
];

fn is_identifying(path: &str) -> bool {
    let path = path.strip_prefix("payload.").unwrap_or(path);
    IDENTIFYING.contains(&path)
}

/// Replaces (`delete == false`) or removes (`delete == true`) every scalar that does not identify the event.
fn strip(value: &mut Value, path: &str, delete: bool) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let child = map.get_mut(&key).expect("key just listed");
                if child.is_object() || child.is_array() {
                    strip(child, &child_path, delete);
                } else if !is_identifying(&child_path) {
                    if delete {
                        map.remove(&key);
                    } else {
                        *child = Value::Null;
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| strip(item, path, delete)),
        _ => {}
    }
}

#[test]
fn every_fixture_converts_with_only_its_identifying_fields() {
    for delete in [false, true] {
        for path in fixtures("github-events", "json") {
            let mut item: Value = serde_json::from_slice(&fs::read(&path).expect("readable")).expect("JSON");
            strip(&mut item, "", delete);
            let event = single_event(polled(item.to_string().as_bytes()));
            assert_eq!(
                event.time,
                received_at(),
                "{} falls back to received_at",
                file_name(&path)
            );
        }
        for path in fixtures("github-webhooks", "json") {
            let mut body: Value = serde_json::from_slice(&fs::read(&path).expect("readable")).expect("JSON");
            strip(&mut body, "", delete);
            let result = webhook(&webhook_event(&path), body.to_string().as_bytes());
            assert!(
                matches!(result, Ok(Conversion::Converted(_) | Conversion::Skipped(_))),
                "{}: {result:?}",
                file_name(&path)
            );
        }
    }
}

#[test]
fn a_pull_request_with_null_details_falls_back() {
    let item = br#"{"id":"1","type":"PullRequestEvent","actor":{"id":1,"login":null},"repo":{"id":2,"name":null},
        "payload":{"action":null,"pull_request":{"id":3,"title":null,"body":null,"html_url":null,"updated_at":null}},
        "created_at":null}"#;
    let event = single_event(polled(item));
    assert_eq!(event.action, "updated");
    assert_eq!(event.target.key, "github:pull_request:3");
    assert_eq!(event.target.title, None);
    assert_eq!(event.actor.title, None);
    assert_eq!(event.actor.url, None);
    assert_eq!(event.time, received_at());
}

// ---------------------------------------------------------------------------------------------------------------
// Bodies that are not UTF-8, and text after the JSON. The fast reader takes UTF-8 bodies only; every other body is
// read by the path-tracking one, which must accept and refuse exactly what serde_json does.

/// `body` with `inserted` placed right after its first `{`.
fn with_first_field(body: &[u8], inserted: &[u8]) -> Vec<u8> {
    let open = body.iter().position(|byte| *byte == b'{').expect("a JSON object") + 1;
    [&body[..open], inserted, &body[open..]].concat()
}

#[test]
fn bytes_that_are_not_utf8_in_a_field_nobody_reads_change_nothing() {
    let item = fs::read(fixture_path("github-events/PushEvent.with-commits.json")).expect("fixture");
    let unread = with_first_field(&item, b"\"note\":\"caf\xe9\",");
    assert!(std::str::from_utf8(&unread).is_err());
    assert_eq!(polled(&unread), polled(&item));

    let push = fs::read(fixture_path("github-webhooks/push.default.4.json")).expect("fixture");
    let unread = with_first_field(&push, b"\"note\":\"caf\xe9\",");
    let (clean, dirty) = (
        single_event(webhook("push", &push)),
        single_event(webhook("push", &unread)),
    );
    // The same event, keyed by the hash of the bytes it came in.
    assert_ne!(clean.source_id, dirty.source_id);
    assert_eq!(
        (clean.action, clean.target, clean.blocks),
        (dirty.action, dirty.target, dirty.blocks)
    );
}

#[test]
fn bytes_that_are_not_utf8_in_a_field_that_is_read_are_a_syntax_error() {
    let item = [
        br#"{"id":"1","type":"WatchEvent","actor":{"id":1,"login":"oct"#.as_slice(),
        b"\xff",
        br#"cat"},"repo":{"id":2,"name":"a/b"},"payload":{"action":"started"},"created_at":"2025-01-01T00:00:00Z"}"#,
    ]
    .concat();
    let error = polled(&item).expect_err("not UTF-8");
    assert!(
        matches!(&error, ConvertError::Syntax { line: 1, message, .. } if message.contains("unicode")),
        "{error:?}"
    );
}

#[test]
fn text_after_the_json_is_a_syntax_error_on_either_reader() {
    let item = fs::read(fixture_path("github-events/WatchEvent.json")).expect("fixture");
    for tail in [&b" x"[..], b" \xff"] {
        let body = [item.as_slice(), tail].concat();
        let error = polled(&body).expect_err("trailing text");
        assert!(
            matches!(&error, ConvertError::Syntax { message, .. } if message == "trailing characters"),
            "{tail:?}: {error:?}"
        );
        let error = webhook("watch", &[br#"{"action":"started"}"#.as_slice(), tail].concat()).expect_err("trailing");
        assert!(matches!(error, ConvertError::Syntax { .. }), "{tail:?}: {error:?}");
    }
    // Whitespace after the value is JSON.
    assert_eq!(polled(&[item.as_slice(), b" \n"].concat()), polled(&item));
}
