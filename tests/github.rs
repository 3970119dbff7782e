//! GitHub converters: one snapshot per recorded fixture, the GH Archive corpus, matching webhook / Events API
//! pairs, and the error and fallback cases.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use spark_integrations::convert::{ConvertContext, ConvertError, Conversion, Converter, Payload, SkipReason};
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
                assert!(!EVENTS_API_TYPES.contains(&kind.as_str()), "{kind} was skipped: {reason}");
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
