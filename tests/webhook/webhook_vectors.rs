//! Published signature vectors: every one in `fixtures/signatures/vectors.json`, GitHub's and Slack's documented
//! examples, and the Standard Webhooks example.

use crate::webhook_support;

use std::fmt::Write as _;

use serde::Deserialize;
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier};
use webhook_support::*;

const VECTORS: &str = include_str!("../../fixtures/signatures/vectors.json");

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
    assert_eq!(delivery.event, None);
    // Same 300 s window as Slack.
    for (offset, accepted) in [(-300, true), (300, true), (-301, false), (301, false)] {
        let result = StandardWebhooksVerifier::new().verify(&secrets, &headers, body, at(1_649_367_553 + offset));
        assert_eq!(result.is_ok(), accepted, "now = ts {offset:+}: {result:?}");
    }
}

/// The test signer (`webhook_support::reference`) against the published vectors: FIPS 180 examples for the hashes
/// (empty, one block, the two-block padding case), RFC 4231 test cases 1-4, 6 and 7 for HMAC-SHA256 and RFC 2202
/// test cases 1-3, 6 and 7 for HMAC-SHA1 (keys shorter than, and longer than, a block).
#[test]
fn the_reference_signer_matches_the_published_vectors() {
    let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let hashes: [(&[u8], &str, &str); 3] = [
        (
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (
            two_blocks,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
        ),
    ];
    for (message, sha256, sha1) in hashes {
        assert_eq!(
            hex::encode(reference::sha256(message)),
            sha256,
            "SHA-256 of {message:?}"
        );
        assert_eq!(hex::encode(reference::sha1(message)), sha1, "SHA-1 of {message:?}");
    }

    let key_25: Vec<u8> = (1..=25).collect();
    let rfc_4231: [(u8, &[u8], &[u8], &str); 6] = [
        (
            1,
            &[0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            2,
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            3,
            &[0xaa; 20],
            &[0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            4,
            &key_25,
            &[0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        (
            6,
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            7,
            &[0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to \
              be hashed before being used by the HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (case, key, data, tag) in rfc_4231 {
        assert_eq!(
            hex::encode(reference::hmac_sha256(key, &[data])),
            tag,
            "RFC 4231 case {case}"
        );
    }
    // Split anywhere, the parts sign as their concatenation.
    let (head, tail) = two_blocks.split_at(7);
    assert_eq!(
        reference::hmac_sha256(b"Jefe", &[head, b"", tail]),
        reference::hmac_sha256(b"Jefe", &[two_blocks])
    );

    let rfc_2202: [(u8, &[u8], &[u8], &str); 5] = [
        (1, &[0x0b; 20], b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
        (
            2,
            b"Jefe",
            b"what do ya want for nothing?",
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        ),
        (3, &[0xaa; 20], &[0xdd; 50], "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
        (
            6,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        ),
        (
            7,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
            "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
        ),
    ];
    for (case, key, data, tag) in rfc_2202 {
        assert_eq!(
            hex::encode(reference::hmac_sha1(key, data)),
            tag,
            "RFC 2202 case {case}"
        );
    }
}
