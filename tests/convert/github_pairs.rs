//! One activity, two paths: an Events API item and the webhook for the same activity give the same domain,
//! action, actor key and target key, the same value and unit, and agree on the metadata both carry.

use crate::github_common;

use std::fs;
use std::path::Path;

use github_common::*;
use serde_json::{Value, json};
use sha2::Digest as _;
use spark_integrations::model::Event;
use spark_integrations::providers::github::EVENTS_API_TYPES;

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
        event.domain.to_string(),
        event.action.to_string(),
        event.actor.key.clone(),
        event.target.key.clone(),
    )
}

/// The value, the unit and the metadata keys both paths carry must agree too: every key of the actor's, the
/// target's and the event's metadata that both events have holds the same value in both, and the keys a reader
/// relies on are in both or in neither.
fn assert_same_counts_and_metadata(polled: &Event, webhook: &Event, name: &str) {
    assert_eq!(
        (polled.value, polled.value_multiplier, &polled.value_unit),
        (webhook.value, webhook.value_multiplier, &webhook.value_unit),
        "{name}: value and unit"
    );
    for (what, left, right) in [
        ("actor", &polled.actor.metadata, &webhook.actor.metadata),
        ("target", &polled.target.metadata, &webhook.target.metadata),
        ("event", &polled.event_metadata, &webhook.event_metadata),
    ] {
        for (key, value) in left {
            if let Some(other) = right.get(key) {
                assert_eq!(value, other, "{name}: {what} metadata `{key}`");
            }
        }
        for key in [
            "github_id",
            "avatar_url",
            "full_name",
            "number",
            "state",
            "ref",
            "before",
            "head",
            "repository",
            "repository_name",
        ] {
            assert_eq!(
                left.contains_key(key),
                right.contains_key(key),
                "{name}: {what} metadata `{key}` in one path only"
            );
        }
    }
    assert_eq!(polled.blocks.len(), webhook.blocks.len(), "{name}: blocks");
    for (left, right) in polled.blocks.iter().zip(&webhook.blocks) {
        assert_eq!(
            (left.value, &left.value_unit),
            (right.value, &right.value_unit),
            "{name}: block"
        );
    }
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
        assert_same_counts_and_metadata(&polled_event, &webhook_event, &file_name(&path));
        let body = webhook_body_of(&item).to_string();
        let digest = sha2::Sha256::digest(body.as_bytes());
        assert_eq!(
            webhook_event.source_id,
            format!("sha256:{}", hex::encode(digest)),
            "the signed body's hash"
        );
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
        assert_same_counts_and_metadata(&polled_event, &webhook_event, &file_name(&path));
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
        assert_same_counts_and_metadata(&polled_event, &webhook_event, item);
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
    let polled_event = single_event(polled(item));
    for (name, body) in [("star", &star[..]), ("watch", &watch[..])] {
        assert_same_counts_and_metadata(&polled_event, &single_event(webhook(name, body)), name);
    }
    assert_eq!(
        (polled_event.value, polled_event.value_unit.as_deref()),
        (Some(1), Some("star"))
    );
    let unstar = br#"{"action":"deleted","starred_at":null,"repository":{"id":2},"sender":{"id":1}}"#;
    let event = single_event(webhook("star", unstar));
    assert_eq!(event.action, "unstarred");
    assert_eq!(event.time, received_at());
}
