//! Published signature vectors: every one in `fixtures/signatures/vectors.json`, GitHub's and Slack's documented
//! examples, and the Standard Webhooks example.

mod webhook_support;

use std::fmt::Write as _;

use serde::Deserialize;
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier};
use webhook_support::*;

const VECTORS: &str = include_str!("../fixtures/signatures/vectors.json");

#[derive(Deserialize)]
struct Vectors {
    github: Vec<GithubVector>,
    slack: Vec<SlackVector>,
}

#[derive(Deserialize)]
struct GithubVector {
    id: String,
    secret: String,
    payload: String,
    headers: std::collections::BTreeMap<String, String>,
    expected_valid: bool,
}

#[derive(Deserialize)]
struct SlackVector {
    id: String,
    signing_secret: String,
    timestamp: String,
    body: String,
    headers: std::collections::BTreeMap<String, String>,
    expected_valid: bool,
}

fn outcome(result: Result<impl Sized, WebhookError>) -> String {
    match result {
        Ok(_) => "accepted".to_owned(),
        Err(error) => format!("rejected ({}): {error}", error.status().as_u16()),
    }
}

#[test]
fn every_vector_in_vectors_json() {
    let vectors: Vectors = serde_json::from_str(VECTORS).expect("fixture is valid JSON");
    assert_eq!(
        (vectors.github.len(), vectors.slack.len()),
        (7, 2),
        "the fixture changed: review this test"
    );
    let mut report = String::new();
    for vector in &vectors.github {
        let mut pairs = vec![("X-GitHub-Event", "push"), ("X-GitHub-Delivery", DELIVERY_ID)];
        pairs.extend(
            vector
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        let headers = headers(&pairs);
        let result = GithubVerifier::new().verify(
            &[WebhookSecret::new(vector.secret.as_str())],
            &headers,
            vector.payload.as_bytes(),
            at(0),
        );
        assert_eq!(result.is_ok(), vector.expected_valid, "{}: {result:?}", vector.id);
        writeln!(report, "github {}: {}", vector.id, outcome(result)).unwrap();
    }
    for vector in &vectors.slack {
        let pairs: Vec<_> = vector
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let now = at(vector.timestamp.parse().expect("vector timestamps are decimal"));
        let headers = headers(&pairs);
        let result = SlackVerifier::new().verify(
            &[WebhookSecret::new(vector.signing_secret.as_str())],
            &headers,
            vector.body.as_bytes(),
            now,
        );
        assert_eq!(result.is_ok(), vector.expected_valid, "{}: {result:?}", vector.id);
        writeln!(report, "slack {}: {}", vector.id, outcome(result)).unwrap();
    }
    insta::assert_snapshot!("vectors", report);
}

#[test]
fn github_docs_vector() {
    let headers = headers(&[
        ("X-GitHub-Event", "ping"),
        ("X-GitHub-Delivery", DELIVERY_ID),
        ("X-Hub-Signature-256", GITHUB_DOCS_SIGNATURE),
    ]);
    let secrets = [WebhookSecret::new(GITHUB_DOCS_SECRET)];
    let delivery = GithubVerifier::new()
        .verify(&secrets, &headers, GITHUB_DOCS_BODY.as_bytes(), at(0))
        .expect("GitHub's documented vector verifies");
    assert_eq!(delivery.body, GITHUB_DOCS_BODY.as_bytes());
    assert_eq!(delivery.event, Some("ping"));
    assert_eq!(delivery.delivery_id, Some(DELIVERY_ID));
    assert_eq!(delivery.dedupe_key.as_deref(), Some(DELIVERY_ID));
    // The independent signer agrees with the documented value.
    assert_eq!(
        github_signature(GITHUB_DOCS_SECRET, GITHUB_DOCS_BODY.as_bytes()),
        GITHUB_DOCS_SIGNATURE
    );
}

fn verify_slack_docs_vector_at(now: i64) -> Result<(), WebhookError> {
    let headers = headers(&[
        ("X-Slack-Request-Timestamp", &SLACK_DOCS_TIMESTAMP.to_string()),
        ("X-Slack-Signature", SLACK_DOCS_SIGNATURE),
    ]);
    SlackVerifier::new()
        .verify(
            &[WebhookSecret::new(SLACK_DOCS_SECRET)],
            &headers,
            SLACK_DOCS_BODY.as_bytes(),
            at(now),
        )
        .map(|_| ())
}

#[test]
fn slack_docs_vector_passes_within_300_seconds() {
    for offset in [-300, -299, -1, 0, 1, 299, 300] {
        assert_eq!(
            verify_slack_docs_vector_at(SLACK_DOCS_TIMESTAMP + offset),
            Ok(()),
            "now = ts {offset:+}"
        );
    }
}

#[test]
fn slack_docs_vector_fails_at_301_seconds() {
    for offset in [-301_i64, 301] {
        assert_eq!(
            verify_slack_docs_vector_at(SLACK_DOCS_TIMESTAMP + offset),
            Err(WebhookError::StaleTimestamp {
                header: "X-Slack-Request-Timestamp",
                age_secs: offset,
                tolerance_secs: 300
            }),
            "now = ts {offset:+}"
        );
    }
}

#[test]
fn slack_tolerance_is_configurable() {
    let headers = headers(&[
        ("X-Slack-Request-Timestamp", &SLACK_DOCS_TIMESTAMP.to_string()),
        ("X-Slack-Signature", SLACK_DOCS_SIGNATURE),
    ]);
    let secrets = [WebhookSecret::new(SLACK_DOCS_SECRET)];
    let verifier = SlackVerifier::new().with_tolerance(std::time::Duration::from_secs(60));
    let body = SLACK_DOCS_BODY.as_bytes();
    assert!(
        verifier
            .verify(&secrets, &headers, body, at(SLACK_DOCS_TIMESTAMP + 60))
            .is_ok()
    );
    assert!(matches!(
        verifier.verify(&secrets, &headers, body, at(SLACK_DOCS_TIMESTAMP + 61)),
        Err(WebhookError::StaleTimestamp { tolerance_secs: 60, .. })
    ));
}

#[test]
fn standard_webhooks_vector() {
    let headers = headers(&[
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="),
    ]);
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let secrets = [WebhookSecret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")];
    let delivery = StandardWebhooksVerifier::new()
        .verify(&secrets, &headers, body, at(1_649_367_553))
        .expect("the Standard Webhooks example verifies");
    assert_eq!(delivery.delivery_id, Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
    assert_eq!(delivery.dedupe_key.as_deref(), Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
    assert_eq!(delivery.event, None);
    // Same 300 s window as Slack.
    for (offset, accepted) in [(-300, true), (300, true), (-301, false), (301, false)] {
        let result = StandardWebhooksVerifier::new().verify(&secrets, &headers, body, at(1_649_367_553 + offset));
        assert_eq!(result.is_ok(), accepted, "now = ts {offset:+}: {result:?}");
    }
}
