//! GitHub converters: one snapshot per recorded fixture, the GH Archive corpus, matching webhook / Events API
//! pairs, and the error and fallback cases.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
use spark_integrations::model::Event;
use spark_integrations::providers::github::{EVENTS_API_TYPES, GithubConverter, WEBHOOK_EVENTS};

const DELIVERY_ID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0).single().expect("valid time")
}

fn context() -> ConvertContext {
    ConvertContext::new(received_at())
}

fn fixtures(folder: &str, extension: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(folder);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixture folder exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().expect("a file").to_string_lossy().into_owned()
}

/// The `X-GitHub-Event` of a webhook fixture: its name up to the first dot.
fn webhook_event(path: &Path) -> String {
    file_name(path).split('.').next().expect("a name").to_owned()
}

fn polled(body: &[u8]) -> Result<Conversion, ConvertError> {
    GithubConverter.convert(Payload::Polled { body }, &context())
}

fn webhook(event: &str, body: &[u8]) -> Result<Conversion, ConvertError> {
    let payload = Payload::Webhook {
        event: Some(event),
        delivery_id: Some(DELIVERY_ID),
        body,
    };
    GithubConverter.convert(payload, &context())
}

fn render(conversion: &Result<Conversion, ConvertError>) -> Value {
    match conversion {
        Ok(Conversion::Converted(events)) => json!({ "status": "converted", "events": events }),
        Ok(Conversion::Skipped(reason)) => json!({ "status": "skipped", "reason": reason.to_string() }),
        Ok(other) => json!({ "status": "other", "debug": format!("{other:?}") }),
        Err(error) => json!({ "status": "error", "error": error.to_string() }),
    }
}

fn single_event(conversion: Result<Conversion, ConvertError>) -> Event {
    match conversion {
        Ok(Conversion::Converted(mut events)) if events.len() == 1 => events.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

#[test]
fn events_api_fixtures_match_their_snapshots() {
    let files = fixtures("github-events", "json");
    assert!(files.len() >= 17, "fixtures are missing: {files:?}");
    for path in files {
        let body = fs::read(&path).expect("readable fixture");
        let rendered = render(&polled(&body));
        insta::with_settings!({ snapshot_path => "snapshots/github-events", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(file_name(&path), rendered);
        });
    }
}

#[test]
fn webhook_fixtures_match_their_snapshots() {
    let files = fixtures("github-webhooks", "json");
    for event in WEBHOOK_EVENTS.iter().chain(&["ping"]) {
        assert!(
            files.iter().any(|path| webhook_event(path) == *event),
            "no fixture for `{event}`"
        );
    }
    for path in files {
        let body = fs::read(&path).expect("readable fixture");
        let rendered = render(&webhook(&webhook_event(&path), &body));
        insta::with_settings!({ snapshot_path => "snapshots/github-webhooks", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(file_name(&path), rendered);
        });
    }
}

#[test]
fn every_gh_archive_event_converts_without_error() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github-events/gharchive-2025-01-01-15.part1.jsonl");
    let text = fs::read_to_string(path).expect("readable corpus");
    let mut per_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut lines = 0;
    for (number, line) in text.lines().enumerate() {
        lines += 1;
        let item: Value = serde_json::from_str(line).expect("the corpus is JSON");
        let kind = item["type"].as_str().expect("every item has a type").to_owned();
        let entry = per_type.entry(kind.clone()).or_default();
        match polled(line.as_bytes()) {
            Ok(Conversion::Converted(events)) => {
                assert_eq!(events.len(), 1, "line {}", number + 1);
                let event = &events[0];
                assert_eq!(event.source_id, item["id"].as_str().expect("string id"));
                assert_eq!(event.actor.key, format!("github:user:{}", item["actor"]["id"]));
                assert_eq!(
                    spark_integrations::model::format_time(&event.time),
                    item["created_at"].as_str().expect("a time")
                );
                entry.0 += 1;
            }
            Ok(Conversion::Skipped(reason)) => {
                assert!(!reason.to_string().is_empty());
                assert!(
                    !EVENTS_API_TYPES.contains(&kind.as_str()),
                    "{kind} was skipped: {reason}"
                );
                entry.1 += 1;
            }
            other => panic!("line {}: {kind}: {other:?}", number + 1),
        }
    }
    assert_eq!(lines, 1024);
    // Every type in the file is a converted one; the counts pin what the file holds.
    insta::assert_debug_snapshot!(per_type, @r#"
    {
        "CommitCommentEvent": (
            1,
            0,
        ),
        "CreateEvent": (
            102,
            0,
        ),
        "DeleteEvent": (
            11,
            0,
        ),
        "ForkEvent": (
            10,
            0,
        ),
        "IssueCommentEvent": (
            29,
            0,
        ),
        "IssuesEvent": (
            11,
            0,
        ),
        "PublicEvent": (
            5,
            0,
        ),
        "PullRequestEvent": (
            56,
            0,
        ),
        "PullRequestReviewCommentEvent": (
            2,
            0,
        ),
        "PullRequestReviewEvent": (
            2,
            0,
        ),
        "PushEvent": (
            730,
            0,
        ),
        "ReleaseEvent": (
            14,
            0,
        ),
        "WatchEvent": (
            51,
            0,
        ),
    }
    "#);
}

// ---------------------------------------------------------------------------------------------------------------
// The same activity by either path.

/// The `X-GitHub-Event` name of an Events API type.
fn webhook_name(events_api_type: &str) -> &'static str {
    match events_api_type {
        "PushEvent" => "push",
        "PullRequestEvent" => "pull_request",
        "IssuesEvent" => "issues",
        "IssueCommentEvent" => "issue_comment",
        "CreateEvent" => "create",
        "DeleteEvent" => "delete",
        "ForkEvent" => "fork",
        "WatchEvent" => "watch",
        "ReleaseEvent" => "release",
        "PullRequestReviewEvent" => "pull_request_review",
        "PullRequestReviewCommentEvent" => "pull_request_review_comment",
        "CommitCommentEvent" => "commit_comment",
        "GollumEvent" => "gollum",
        "MemberEvent" => "member",
        "PublicEvent" => "public",
        other => panic!("no webhook for {other}"),
    }
}

/// What must agree between the two paths.
fn identity(event: &Event) -> (String, String, String, String) {
    (
        event.domain.clone(),
        event.action.clone(),
        event.actor.key.clone(),
        event.target.key.clone(),
    )
}

/// The webhook GitHub would deliver for an Events API item: its payload plus `repository` and `sender`.
fn webhook_body_of(item: &Value) -> Value {
    let mut body = item["payload"].clone();
    let name = item["repo"]["name"].clone();
    body["repository"] = json!({ "id": item["repo"]["id"], "full_name": name });
    body["sender"] = item["actor"].clone();
    body
}

/// The Events API item for a webhook body: `sender` as actor, `repository` as repo, the rest as payload.
fn item_of(events_api_type: &str, body: &Value) -> Value {
    let mut payload = body.clone();
    let object = payload.as_object_mut().expect("a webhook body is an object");
    let repository = object.remove("repository").expect("a repository");
    let sender = object.remove("sender").expect("a sender");
    json!({
        "id": "1",
        "type": events_api_type,
        "actor": sender,
        "repo": { "id": repository["id"], "name": repository["full_name"] },
        "payload": payload,
        "created_at": "2025-01-01T00:00:00Z",
    })
}

#[test]
fn an_events_api_item_and_its_webhook_give_the_same_identity() {
    let mut checked = 0;
    for path in fixtures("github-events", "json") {
        let item: Value = serde_json::from_slice(&fs::read(&path).expect("readable")).expect("JSON");
        let kind = item["type"].as_str().expect("a type");
        let polled_event = single_event(polled(item.to_string().as_bytes()));
        let webhook_event = single_event(webhook(
            webhook_name(kind),
            webhook_body_of(&item).to_string().as_bytes(),
        ));
        assert_eq!(
            identity(&polled_event),
            identity(&webhook_event),
            "{}",
            file_name(&path)
        );
        assert_eq!(webhook_event.source_id, DELIVERY_ID);
        checked += 1;
    }
    assert!(checked >= 17);
}

#[test]
fn a_webhook_and_its_events_api_item_give_the_same_identity() {
    let mut checked = 0;
    for path in fixtures("github-webhooks", "json") {
        let event = webhook_event(&path);
        let Some(kind) = EVENTS_API_TYPES.iter().find(|kind| webhook_name(kind) == event) else {
            continue; // star, ping, label: no Events API type
        };
        let body: Value = serde_json::from_slice(&fs::read(&path).expect("readable")).expect("JSON");
        let webhook_event = single_event(webhook(&event, body.to_string().as_bytes()));
        let polled_event = single_event(polled(item_of(kind, &body).to_string().as_bytes()));
        assert_eq!(
            identity(&polled_event),
            identity(&webhook_event),
            "{}",
            file_name(&path)
        );
        checked += 1;
    }
    assert!(checked >= 24, "only {checked} pairs");
}

#[test]
fn recorded_gollum_and_member_pairs_agree() {
    for (item, hook, event) in [
        ("GollumEvent.hand-built.json", "gollum.default.0.json", "gollum"),
        ("MemberEvent.hand-built.json", "member.added.0.json", "member"),
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let polled_event = single_event(polled(
            &fs::read(dir.join("github-events").join(item)).expect("readable"),
        ));
        let webhook_event = single_event(webhook(
            event,
            &fs::read(dir.join("github-webhooks").join(hook)).expect("readable"),
        ));
        assert_eq!(identity(&polled_event), identity(&webhook_event), "{item}");
    }
}

#[test]
fn a_star_webhook_matches_a_watch_event() {
    let item = br#"{"id":"7","type":"WatchEvent","actor":{"id":1,"login":"a"},"repo":{"id":2,"name":"o/r"},
        "payload":{"action":"started"},"created_at":"2025-01-01T00:00:00Z"}"#;
    let star = br#"{"action":"created","starred_at":"2025-01-01T00:00:00Z","repository":{"id":2,"full_name":"o/r"},
        "sender":{"id":1,"login":"a"}}"#;
    let watch = br#"{"action":"started","repository":{"id":2,"full_name":"o/r"},"sender":{"id":1,"login":"a"}}"#;
    let expected = (
        "repository".to_owned(),
        "starred".to_owned(),
        "github:user:1".to_owned(),
        "github:repository:2".to_owned(),
    );
    assert_eq!(identity(&single_event(polled(item))), expected);
    assert_eq!(identity(&single_event(webhook("star", star))), expected);
    assert_eq!(identity(&single_event(webhook("watch", watch))), expected);
    let unstar = br#"{"action":"deleted","starred_at":null,"repository":{"id":2},"sender":{"id":1}}"#;
    let event = single_event(webhook("star", unstar));
    assert_eq!(event.action, "unstarred");
    assert_eq!(event.time, received_at());
}

// ---------------------------------------------------------------------------------------------------------------
// Push: both shapes.

#[test]
fn a_push_with_commits_counts_them_and_makes_a_block_each() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github-events");
    let event = single_event(polled(
        &fs::read(dir.join("PushEvent.with-commits.json")).expect("readable"),
    ));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("repository", "push"));
    assert_eq!(event.value, Some(2));
    assert_eq!(event.value_unit.as_deref(), Some("commits"));
    assert_eq!(event.blocks.len(), 2);
    assert_eq!(event.target.key, "github:repository:887751552");
}

#[test]
fn a_push_without_commits_has_no_value_and_no_blocks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github-events");
    let event = single_event(polled(
        &fs::read(dir.join("PushEvent.without-commits.json")).expect("readable"),
    ));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("repository", "push"));
    assert_eq!(event.value, None);
    assert_eq!(event.value_unit, None);
    assert!(event.blocks.is_empty());
    assert_eq!(event.event_metadata["ref"], "refs/heads/master");
}

#[test]
fn a_push_value_prefers_size_over_the_listed_commits() {
    // The Events API lists at most 20 commits; `size` is the real count.
    let item = br#"{"id":"9","type":"PushEvent","actor":{"id":1},"repo":{"id":2,"name":"o/r"},
        "payload":{"size":25,"commits":[{"sha":"abc","message":"m"}]},"created_at":"2025-01-01T00:00:00Z"}"#;
    let event = single_event(polled(item));
    assert_eq!(event.value, Some(25));
    assert_eq!(event.blocks.len(), 1);
    assert_eq!(event.blocks[0].title.as_deref(), Some("Commit abc"));
    assert_eq!(
        event.blocks[0].url.as_deref(),
        Some("https://github.com/o/r/commit/abc")
    );
}

#[test]
fn a_push_webhook_takes_its_time_from_pushed_at_in_unix_seconds() {
    let body = br#"{"ref":"refs/heads/main","after":"b","commits":[],"repository":{"id":2,"pushed_at":1557933657},
        "sender":{"id":1}}"#;
    let event = single_event(webhook("push", body));
    assert_eq!(
        spark_integrations::model::format_time(&event.time),
        "2019-05-15T15:20:57Z"
    );
    assert_eq!(event.value, Some(0));
}

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
