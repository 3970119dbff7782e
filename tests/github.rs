//! GitHub converters: one snapshot per recorded fixture, the GH Archive corpus, and both push shapes.

mod github_common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use github_common::*;
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertError};
use spark_integrations::providers::github::{EVENTS_API_TYPES, WEBHOOK_EVENTS};

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
