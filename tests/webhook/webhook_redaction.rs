//! No rejection shows a secret or the expected signature, and every rejection message is pinned.

use crate::webhook_support;

use std::fmt::Write as _;

use http::HeaderMap;
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier};
use webhook_support::*;

/// Every kind of rejection, with each verifier's secret and the signature it expected.
fn all_rejections() -> Vec<WebhookError> {
    let mut errors = Vec::new();
    let wrong_body = b"a body nobody signed";
    errors.push(github(&github_headers(SECRET, BODY), wrong_body));
    errors.push(github(&github_with_signature("sha256=abc"), BODY));
    errors.push(github(&without(&github_headers(SECRET, BODY), "X-GitHub-Event"), BODY));
    errors.push(github(
        &doubled(&github_headers(SECRET, BODY), "X-Hub-Signature-256"),
        BODY,
    ));
    errors.push(github(&HeaderMap::new(), &vec![0; 25_000_001]));
    errors.push(slack(&slack_headers(SLACK_SECRET, SLACK_TS, BODY), wrong_body));
    errors.push(slack(&slack_headers(SLACK_SECRET, "+1", BODY), BODY));
    errors.push(slack(&slack_headers(SLACK_SECRET, "1", BODY), BODY));
    let signature = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    errors.push(standard(&standard_headers(&signature), wrong_body));
    errors.push(standard(&standard_headers("v2,abc"), BODY));
    errors.push(
        StandardWebhooksVerifier::new()
            .verify(&[], &HeaderMap::new(), BODY, at(0))
            .map(|_| ()),
    );
    errors.push(
        StandardWebhooksVerifier::new()
            .verify(&[WebhookSecret::new("whsec_!")], &HeaderMap::new(), BODY, at(0))
            .map(|_| ()),
    );
    errors
        .into_iter()
        .map(|result| result.expect_err("each of these is a rejection"))
        .collect()
}

#[test]
fn rejection_messages_and_statuses() {
    let mut rendered = String::new();
    for error in all_rejections() {
        writeln!(rendered, "{} {error}", error.status().as_u16()).unwrap();
    }
    insta::assert_snapshot!("rejection_messages", rendered);
}

#[test]
fn errors_and_debug_never_show_a_secret_or_the_expected_signature() {
    let wrong_body: &[u8] = b"a body nobody signed";
    let standard_key_b64 = standard_secret(STANDARD_KEY).replace("whsec_", "");
    let forbidden = [
        SECRET.to_owned(),
        SLACK_SECRET.to_owned(),
        standard_key_b64,
        // What the verifiers computed and compared against for the wrong body.
        github_signature(SECRET, wrong_body).replace("sha256=", ""),
        slack_signature(SLACK_SECRET.as_bytes(), SLACK_TS, wrong_body).replace("v0=", ""),
        standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, wrong_body).replace("v1,", ""),
        // What the requests carried.
        github_signature(SECRET, BODY).replace("sha256=", ""),
    ];
    let mut shown: Vec<String> = all_rejections()
        .iter()
        .flat_map(|e| [format!("{e:?}"), e.to_string()])
        .collect();
    for secret in [WebhookSecret::new(SECRET), WebhookSecret::new(SLACK_SECRET)] {
        shown.push(format!("{secret:?} {secret} {secret:#?}"));
    }
    shown.push(format!("{:?}", GithubVerifier::new()));
    shown.push(format!("{:?}", SlackVerifier::new()));
    for text in &shown {
        for secret in &forbidden {
            assert!(!text.contains(secret.as_str()), "{text:?} shows {secret:?}");
        }
    }
    assert_eq!(format!("{:?}", WebhookSecret::new(SECRET)), "WebhookSecret([redacted])");
}
