//! GitHub converters: one snapshot per recorded fixture, the GH Archive corpus, and both push shapes.

use crate::github_common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use github_common::*;
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
use spark_integrations::model::Event;
use spark_integrations::plugin::Plugin;
use spark_integrations::providers::github::{EVENTS_API_TYPES, GithubConverter, GithubPlugin, WEBHOOK_EVENTS};

fn render(conversion: &Result<Conversion, ConvertError>) -> Value {
    match conversion {
        Ok(Conversion::Converted(events)) => json!({ "status": "converted", "events": events }),
        Ok(Conversion::Skipped(reason)) => json!({ "status": "skipped", "reason": reason.to_string() }),
        Ok(other) => json!({ "status": "other", "debug": format!("{other:?}") }),
        Err(error) => json!({ "status": "error", "error": error.to_string() }),
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
    for block in &event.blocks {
        assert_eq!((block.value, block.value_unit.as_deref()), (Some(1), Some("commit")));
    }
    assert_eq!(event.target.key, "github:repository:887751552");
}

#[test]
fn a_push_without_commits_has_no_value_but_its_unit_and_no_blocks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github-events");
    let event = single_event(polled(
        &fs::read(dir.join("PushEvent.without-commits.json")).expect("readable"),
    ));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("repository", "push"));
    assert_eq!(event.value, None, "the current Events API gives no commit count");
    assert_eq!(event.value_unit.as_deref(), Some("commits"));
    assert!(event.blocks.is_empty());
    assert_eq!(event.event_metadata["ref"], "refs/heads/master");
    assert_eq!(
        event.event_metadata["before"],
        "883efe034920928c47fe18598c01249d1a9fdabd"
    );
    assert_eq!(event.event_metadata["head"], "7a8f3ac80e2ad2f6842cb86f576d4bfe2c03e300");
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
// Values, units and metadata: the table in the module docs.

/// The unit the module docs' table gives a webhook event (by `X-GitHub-Event`); `None` where it depends on the
/// payload (`create`, `delete`: branch, tag or repository).
fn unit_of(webhook_event: &str) -> Option<&'static str> {
    Some(match webhook_event {
        "push" => "commits",
        "pull_request" => "pull_request",
        "issues" => "issue",
        "issue_comment" | "pull_request_review_comment" | "commit_comment" => "comment",
        "fork" => "fork",
        "watch" | "star" => "star",
        "release" => "release",
        "pull_request_review" => "review",
        "gollum" => "pages",
        "member" => "member",
        "public" => "repository",
        _ => return None,
    })
}

/// The webhook event name of an Events API type.
fn webhook_name_of(events_api_type: &str) -> String {
    let name = events_api_type.trim_end_matches("Event");
    let mut snake = String::new();
    for (index, character) in name.chars().enumerate() {
        if character.is_ascii_uppercase() && index > 0 {
            snake.push('_');
        }
        snake.push(character.to_ascii_lowercase());
    }
    snake
}

fn assert_counts(event: &Event, webhook_event: &str, name: &str) {
    let unit = event.value_unit.as_deref().unwrap_or_else(|| panic!("{name}: no unit"));
    match unit_of(webhook_event) {
        Some(expected) => assert_eq!(unit, expected, "{name}"),
        None => assert!(["branch", "tag", "repository", "ref"].contains(&unit), "{name}: {unit}"),
    }
    match webhook_event {
        "push" => {
            if let Some(value) = event.value {
                assert!(value >= i64::try_from(event.blocks.len()).expect("small"), "{name}");
            }
        }
        "gollum" => assert_eq!(event.value, i64::try_from(event.blocks.len()).ok(), "{name}"),
        _ => assert_eq!(event.value, Some(1), "{name}"),
    }
    assert_eq!(event.value_multiplier, 1, "{name}");
}

#[test]
fn every_converted_kind_counts_as_the_table_says() {
    let mut seen = std::collections::BTreeSet::new();
    for path in fixtures("github-webhooks", "json") {
        let event_name = webhook_event(&path);
        let body = fs::read(&path).expect("readable fixture");
        if let Ok(Conversion::Converted(events)) = webhook(&event_name, &body) {
            assert_counts(&events[0], &event_name, &file_name(&path));
            seen.insert(event_name);
        }
    }
    for path in fixtures("github-events", "json") {
        let body = fs::read(&path).expect("readable fixture");
        let item: Value = serde_json::from_slice(&body).expect("JSON");
        let event_name = webhook_name_of(item["type"].as_str().expect("a type"));
        if let Ok(Conversion::Converted(events)) = polled(&body) {
            assert_counts(&events[0], &event_name, &file_name(&path));
        }
    }
    let listed: std::collections::BTreeSet<String> = WEBHOOK_EVENTS.iter().map(|name| (*name).to_owned()).collect();
    assert_eq!(seen, listed, "a converted fixture for every webhook event");
}

#[test]
fn branches_and_tags_count_as_what_they_are() {
    for (ref_type, git_ref, unit) in [
        ("branch", "main", "branch"),
        ("tag", "v1.0", "tag"),
        ("repository", "", "repository"),
    ] {
        let body = format!(
            r#"{{"ref":"{git_ref}","ref_type":"{ref_type}","repository":{{"id":2,"full_name":"o/r"}},"sender":{{"id":1}}}}"#
        );
        let body = body.replace(r#""ref":"","#, "");
        for event in ["create", "delete"] {
            let converted = single_event(webhook(event, body.as_bytes()));
            assert_eq!(
                (converted.value, converted.value_unit.as_deref()),
                (Some(1), Some(unit)),
                "{event} {ref_type}"
            );
        }
    }
}

#[test]
fn objects_carry_github_ids_avatars_numbers_and_states() {
    let body = fs::read(fixture_path("github-webhooks/pull_request.opened.0.json")).expect("readable");
    let event = single_event(webhook("pull_request", &body));
    let sender: Value = serde_json::from_slice::<Value>(&body).expect("JSON")["sender"].clone();
    assert_eq!(event.actor.metadata["github_id"], sender["id"]);
    assert_eq!(event.actor.metadata["avatar_url"], sender["avatar_url"]);
    assert_eq!(event.actor.image_url.as_deref(), sender["avatar_url"].as_str());
    assert_eq!(event.target.metadata["number"], 2);
    assert_eq!(event.target.metadata["state"], "open");
    assert!(event.target.metadata["github_id"].is_u64());
    assert_eq!(event.event_metadata["number"], 2);
    assert_eq!(event.event_metadata["repository_name"], "Codertocat/Hello-World");
    assert_eq!(
        (event.value, event.value_unit.as_deref()),
        (Some(1), Some("pull_request"))
    );

    let body = fs::read(fixture_path("github-webhooks/issues.opened.0.json")).expect("readable");
    let event = single_event(webhook("issues", &body));
    assert_eq!(event.target.metadata["number"], event.event_metadata["number"]);
    assert!(event.target.metadata.contains_key("state"));
    assert_eq!((event.value, event.value_unit.as_deref()), (Some(1), Some("issue")));

    let body = fs::read(fixture_path("github-webhooks/push.default.0.json")).expect("readable");
    let event = single_event(webhook("push", &body));
    assert_eq!(event.target.metadata["full_name"], "Codertocat/Hello-World");
    assert_eq!(event.target.metadata["github_id"], 186_853_002);
    for key in ["ref", "before", "head"] {
        assert!(event.event_metadata.contains_key(key), "push metadata `{key}`");
    }
}

#[test]
fn a_repository_description_is_its_content() {
    let body = br#"{"action":"started","repository":{"id":2,"full_name":"o/r","description":"A small tool"},
        "sender":{"id":1,"login":"a","avatar_url":"https://avatars.githubusercontent.com/u/1?v=4"}}"#;
    let event = single_event(webhook("watch", body));
    assert_eq!(event.target.content.as_deref(), Some("A small tool"));
    assert_eq!(event.target.metadata["full_name"], "o/r");
    assert_eq!(
        event.actor.metadata["avatar_url"],
        "https://avatars.githubusercontent.com/u/1?v=4"
    );

    let without =
        br#"{"action":"started","repository":{"id":2,"full_name":"o/r","description":null},"sender":{"id":1}}"#;
    assert_eq!(single_event(webhook("watch", without)).target.content, None);
}

// ---------------------------------------------------------------------------------------------------------------
// The `events` selection of the integration's configuration.

fn selecting(events: &[&str]) -> ConvertContext {
    let configuration = GithubPlugin::new()
        .configuration_schema()
        .validate(&json!({"repositories": ["o/r"], "events": events}))
        .expect("a valid configuration");
    context().with_configuration(&configuration)
}

#[test]
fn webhooks_and_items_of_unselected_types_are_skipped() {
    let context = selecting(&["PushEvent", "WatchEvent"]);
    let convert_webhook = |event: &str, body: &[u8]| {
        let payload = Payload::Webhook {
            event: Some(event),
            delivery_id: Some(DELIVERY_ID),
            body,
        };
        GithubConverter.convert(payload, &context)
    };
    let push = fs::read(fixture_path("github-webhooks/push.default.0.json")).expect("readable");
    assert!(matches!(convert_webhook("push", &push), Ok(Conversion::Converted(_))));
    let star = br#"{"action":"created","repository":{"id":2},"sender":{"id":1}}"#;
    assert!(
        matches!(convert_webhook("star", star), Ok(Conversion::Converted(_))),
        "`star` is selected as WatchEvent"
    );
    let issues = fs::read(fixture_path("github-webhooks/issues.opened.0.json")).expect("readable");
    let skipped = convert_webhook("issues", &issues);
    assert_eq!(
        skipped,
        Ok(Conversion::Skipped(SkipReason::NotSelected {
            kind: "issues".to_owned()
        }))
    );
    let Ok(Conversion::Skipped(reason)) = skipped else {
        unreachable!("checked above")
    };
    assert_eq!(reason.to_string(), "not selected in the integration's configuration");
    // Not selected is decided before the body is read: a broken body of an unselected type is skipped too.
    assert!(matches!(
        convert_webhook("issues", b"{}"),
        Ok(Conversion::Skipped(SkipReason::NotSelected { .. }))
    ));
    // Unconverted types and pings keep their own reasons.
    assert_eq!(
        convert_webhook("ping", b"{}"),
        Ok(Conversion::Skipped(SkipReason::Ping))
    );
    assert_eq!(
        convert_webhook("label", b"{}"),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType("label".to_owned())))
    );

    let item = fs::read(fixture_path("github-events/IssuesEvent.opened.json")).expect("readable");
    assert_eq!(
        GithubConverter.convert(Payload::Polled { body: &item }, &context),
        Ok(Conversion::Skipped(SkipReason::NotSelected {
            kind: "IssuesEvent".to_owned()
        }))
    );
    // Without a configuration in the context, everything converts, as before.
    assert!(matches!(webhook("issues", &issues), Ok(Conversion::Converted(_))));
    assert!(matches!(polled(&item), Ok(Conversion::Converted(_))));
}
