//! Every way a delivery must be refused, the status each maps to, and that no refusal shows a secret or the
//! expected signature.

use crate::webhook_support;

use http::{HeaderMap, StatusCode};
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{
    HeaderRole, RefusalKind, StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier,
};
use webhook_support::*;

const MISMATCH_256: WebhookError = WebhookError::SignatureMismatch {
    header: "X-Hub-Signature-256",
};

fn malformed(header: &'static str) -> impl Fn(&Result<(), WebhookError>) -> bool {
    move |result| matches!(result, Err(WebhookError::MalformedHeader { header: h, .. }) if *h == header)
}

#[test]
fn the_unaltered_deliveries_pass() {
    // The baseline every rejection below alters in one way.
    assert_eq!(github(&github_headers(SECRET, BODY), BODY), Ok(()));
    assert_eq!(slack(&slack_headers(SLACK_SECRET, SLACK_TS, BODY), BODY), Ok(()));
    let signature = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    assert_eq!(standard(&standard_headers(&signature), BODY), Ok(()));
}

#[test]
fn one_flipped_body_byte_is_rejected() {
    let headers = github_headers(SECRET, BODY);
    for index in 0..BODY.len() {
        let mut body = BODY.to_vec();
        body[index] ^= 0x01;
        assert_eq!(github(&headers, &body), Err(MISMATCH_256), "byte {index}");
    }
}

#[test]
fn a_reserialized_json_body_is_rejected() {
    let headers = github_headers(SECRET, BODY);
    let value: serde_json::Value = serde_json::from_slice(BODY).unwrap();
    for reserialized in [
        serde_json::to_vec(&value).unwrap(),
        serde_json::to_vec_pretty(&value).unwrap(),
    ] {
        assert_ne!(reserialized, BODY);
        assert_eq!(github(&headers, &reserialized), Err(MISMATCH_256));
    }
}

#[test]
fn sha256_with_0_63_or_65_hex_digits_is_malformed() {
    let good = github_signature(SECRET, BODY);
    let hex = good.strip_prefix("sha256=").unwrap();
    for signature in [
        "sha256=".to_owned(),
        format!("sha256={}", &hex[..63]),
        format!("sha256={hex}0"),
    ] {
        let result = github(&github_with_signature(&signature), BODY);
        assert!(malformed("X-Hub-Signature-256")(&result), "{signature}: {result:?}");
        assert_eq!(
            result.unwrap_err().status(),
            StatusCode::UNAUTHORIZED,
            "a bad signature header authenticates nothing"
        );
    }
}

#[test]
fn non_hex_characters_are_malformed() {
    let good = github_signature(SECRET, BODY);
    let hex = good.strip_prefix("sha256=").unwrap();
    // Each keeps 64 characters, one or more of them not hex digits.
    for bad in [
        format!("xxx{}", &hex[3..]),
        format!("{}g", &hex[..63]),
        format!("{} {}", &hex[..31], &hex[32..]),
    ] {
        assert_eq!(bad.len(), 64);
        let result = github(&github_with_signature(&format!("sha256={bad}")), BODY);
        assert!(malformed("X-Hub-Signature-256")(&result), "{bad}: {result:?}");
    }
}

#[test]
fn a_sha512_prefix_is_malformed() {
    let hex = github_signature(SECRET, BODY).replace("sha256=", "");
    for signature in [
        format!("sha512={hex}"),
        hex.clone(),
        format!("SHA256={hex}"),
        format!(" sha256={hex}"),
    ] {
        let result = github(&github_with_signature(&signature), BODY);
        assert!(malformed("X-Hub-Signature-256")(&result), "{signature}: {result:?}");
    }
}

#[test]
fn a_correct_sha1_beside_a_wrong_sha256_is_rejected() {
    let wrong = github_signature("not the secret", BODY);
    let headers = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", DELIVERY_ID),
        ("X-Hub-Signature", &github_sha1_signature(SECRET, BODY)),
        ("X-Hub-Signature-256", &wrong),
    ]);
    assert_eq!(github(&headers, BODY), Err(MISMATCH_256));
    // Opting in to SHA-1 changes nothing while the SHA-256 header is present.
    assert_eq!(github_legacy(&headers, BODY), Err(MISMATCH_256));
}

#[test]
fn legacy_sha1_is_accepted_only_by_opt_in() {
    let sha1 = github_sha1_signature(SECRET, BODY);
    let only_sha1 = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", DELIVERY_ID),
        ("X-Hub-Signature", &sha1),
    ]);
    assert_eq!(
        github(&only_sha1, BODY),
        Err(WebhookError::MissingHeader {
            header: "X-Hub-Signature-256",
            role: HeaderRole::Credential,
        })
    );
    assert_eq!(github_legacy(&only_sha1, BODY), Ok(()));
    assert_eq!(
        github_legacy(&only_sha1, b"another body"),
        Err(WebhookError::SignatureMismatch {
            header: "X-Hub-Signature"
        })
    );
    let truncated = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", DELIVERY_ID),
        ("X-Hub-Signature", &sha1[..sha1.len() - 2]),
    ]);
    assert!(malformed("X-Hub-Signature")(&github_legacy(&truncated, BODY)));
}

type Verify = fn(&HeaderMap, &[u8]) -> Result<(), WebhookError>;

/// A header a scheme requires, with the role the scheme gives it.
type Required = (&'static str, HeaderRole);

/// Each scheme with a complete request and its required headers, each with the role its scheme gives it: what
/// authenticates the delivery (the signature and everything it signs) is a credential, the rest metadata.
fn complete_requests() -> Vec<(Verify, HeaderMap, &'static [Required])> {
    use HeaderRole::{Credential, Metadata};
    let signature = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    vec![
        (
            github,
            github_headers(SECRET, BODY),
            &[
                ("X-Hub-Signature-256", Credential),
                ("X-GitHub-Event", Metadata),
                ("X-GitHub-Delivery", Metadata),
            ],
        ),
        (
            slack,
            slack_headers(SLACK_SECRET, SLACK_TS, BODY),
            &[
                ("X-Slack-Request-Timestamp", Credential),
                ("X-Slack-Signature", Credential),
            ],
        ),
        (
            standard,
            standard_headers(&signature),
            &[
                ("webhook-id", Credential),
                ("webhook-timestamp", Credential),
                ("webhook-signature", Credential),
            ],
        ),
    ]
}

#[test]
fn missing_headers_are_rejected_by_name() {
    for (verify, headers, required) in complete_requests() {
        for &(header, role) in required {
            let result = verify(&without(&headers, header), BODY);
            assert_eq!(result, Err(WebhookError::MissingHeader { header, role }));
            // Without a credential a delivery is unauthenticated (401); without other headers it is malformed (400).
            let expected = match role {
                HeaderRole::Credential => (RefusalKind::Unauthenticated, StatusCode::UNAUTHORIZED),
                _ => (RefusalKind::Malformed, StatusCode::BAD_REQUEST),
            };
            let error = result.unwrap_err();
            assert_eq!((error.kind(), error.status()), expected, "{header}");
        }
    }
}

#[test]
fn duplicated_headers_are_rejected_by_name() {
    for (verify, headers, required) in complete_requests() {
        for &(header, role) in required {
            // Both copies are the correct value: still refused, since which one counts would be ambiguous.
            let result = verify(&doubled(&headers, header), BODY);
            assert_eq!(result, Err(WebhookError::DuplicateHeader { header, role }));
        }
    }
    let with_retry = headers(&[
        ("X-Slack-Request-Timestamp", SLACK_TS),
        (
            "X-Slack-Signature",
            &slack_signature(SLACK_SECRET.as_bytes(), SLACK_TS, BODY),
        ),
        ("X-Slack-Retry-Num", "1"),
        ("X-Slack-Retry-Num", "2"),
    ]);
    assert_eq!(
        slack(&with_retry, BODY),
        Err(WebhookError::DuplicateHeader {
            header: "X-Slack-Retry-Num",
            role: HeaderRole::Metadata,
        })
    );
}

#[test]
fn slack_timestamps_must_be_strict_decimals() {
    let twenty_digits = "15314206181531420618";
    for timestamp in [
        "+1531420618",
        " 1531420618",
        "1e9",
        twenty_digits,
        "",
        "1531420618.5",
        "-1531420618",
    ] {
        // Signed over the very text sent, so only the strictness can refuse it.
        let headers = slack_headers(SLACK_SECRET, timestamp, BODY);
        assert_eq!(
            headers.get("X-Slack-Request-Timestamp").unwrap().as_bytes(),
            timestamp.as_bytes()
        );
        let result =
            SlackVerifier::new().verify(&[WebhookSecret::new(SLACK_SECRET)], &headers, BODY, at(1_531_420_618));
        assert!(
            matches!(
                result,
                Err(WebhookError::MalformedHeader {
                    header: "X-Slack-Request-Timestamp",
                    ..
                })
            ),
            "{timestamp:?}: {result:?}"
        );
    }
}

#[test]
fn a_slack_signature_made_with_the_hex_decoded_secret_is_rejected() {
    let decoded = hex::decode(SLACK_SECRET).unwrap();
    let headers = headers(&[
        ("X-Slack-Request-Timestamp", SLACK_TS),
        ("X-Slack-Signature", &slack_signature(&decoded, SLACK_TS, BODY)),
    ]);
    assert_eq!(
        slack(&headers, BODY),
        Err(WebhookError::SignatureMismatch {
            header: "X-Slack-Signature"
        })
    );
}

#[test]
fn slack_signatures_must_be_v0_and_64_hex_digits() {
    let good = slack_signature(SLACK_SECRET.as_bytes(), SLACK_TS, BODY);
    for signature in [
        good.replace("v0=", "v1="),
        good[..good.len() - 1].to_owned(),
        format!("{good}0"),
        "v0=".into(),
    ] {
        let headers = headers(&[
            ("X-Slack-Request-Timestamp", SLACK_TS),
            ("X-Slack-Signature", &signature),
        ]);
        assert!(malformed("X-Slack-Signature")(&slack(&headers, BODY)), "{signature}");
    }
}

#[test]
fn standard_webhooks_empty_and_truncated_signatures_are_rejected() {
    let good = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    let tag = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &good[3..]).unwrap();
    let truncated = format!(
        "v1,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &tag[..31])
    );
    let mismatch = Err(WebhookError::SignatureMismatch {
        header: "webhook-signature",
    });
    for signature in ["v1,", &truncated, &good[..good.len() - 4], "v1,bad"] {
        assert_eq!(standard(&standard_headers(signature), BODY), mismatch, "{signature}");
    }
    // No `v1,` entry at all: not the scheme's shape.
    for signature in ["", "v1a,abc", good.trim_start_matches("v1,")] {
        assert!(
            malformed("webhook-signature")(&standard(&standard_headers(signature), BODY)),
            "{signature:?}"
        );
    }
}

#[test]
fn standard_webhooks_bad_then_good_signature_is_accepted() {
    let good = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    let wrong = standard_signature(b"another key", STANDARD_ID, STANDARD_TS, BODY);
    for signature in [
        format!("v1,bad {good}"),
        format!("{wrong} {good}"),
        format!("v1a,xyz {good} v1,"),
    ] {
        assert_eq!(standard(&standard_headers(&signature), BODY), Ok(()), "{signature}");
    }
}

#[test]
fn standard_webhooks_stale_timestamps_are_rejected() {
    let signature = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    let secrets = [WebhookSecret::new(standard_secret(STANDARD_KEY))];
    let headers = standard_headers(&signature);
    let result = StandardWebhooksVerifier::new().verify(&secrets, &headers, BODY, at(STANDARD_NOW + 301));
    assert_eq!(
        result,
        Err(WebhookError::StaleTimestamp {
            header: "webhook-timestamp",
            age_secs: 301,
            tolerance_secs: 300
        })
    );
    assert_eq!(result.unwrap_err().status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn a_body_of_25_mb_and_1_byte_is_rejected_without_hashing() {
    let body = vec![b'x'; 25_000_001];
    let error = WebhookError::BodyTooLarge {
        len: 25_000_001,
        limit: 25_000_000,
    };
    let too_large = Err(error.clone());
    // The size is the first check: with no signature header at all the answer is still "too large", so the
    // verifier returned before looking for a signature, let alone hashing the body.
    assert_eq!(github(&HeaderMap::new(), &body), too_large);
    assert_eq!(github(&github_headers(SECRET, &body), &body), too_large);
    assert_eq!(slack(&HeaderMap::new(), &body), too_large);
    assert_eq!(standard(&HeaderMap::new(), &body), too_large);
    assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The limit is configurable, and a body at the limit is not refused for its size.
    let small = GithubVerifier::new().with_max_body_len(BODY.len());
    let secrets = [WebhookSecret::new(SECRET)];
    assert!(
        small
            .verify(&secrets, &github_headers(SECRET, BODY), BODY, at(0))
            .is_ok()
    );
    let longer = [BODY, b" "].concat();
    assert_eq!(
        small.verify(&secrets, &github_headers(SECRET, &longer), &longer, at(0)),
        Err(WebhookError::BodyTooLarge {
            len: BODY.len() + 1,
            limit: BODY.len()
        })
    );
}

#[test]
fn any_of_several_secrets_may_have_signed() {
    let headers = github_headers("new secret", BODY);
    let verify = |secrets: &[WebhookSecret]| GithubVerifier::new().verify(secrets, &headers, BODY, at(0)).map(|_| ());
    assert_eq!(
        verify(&[WebhookSecret::new("old secret"), WebhookSecret::new("new secret")]),
        Ok(())
    );
    assert_eq!(verify(&[WebhookSecret::new("old secret")]), Err(MISMATCH_256));
}

#[test]
fn unusable_secrets_are_the_receivers_fault() {
    let headers = github_headers(SECRET, BODY);
    let github = |secrets: &[WebhookSecret]| GithubVerifier::new().verify(secrets, &headers, BODY, at(0)).map(|_| ());
    assert_eq!(github(&[]), Err(WebhookError::NoSecret));
    assert_eq!(
        github(&[WebhookSecret::new("")]),
        Err(WebhookError::InvalidSecret { reason: "empty" })
    );
    let signature = standard_signature(STANDARD_KEY, STANDARD_ID, STANDARD_TS, BODY);
    let headers = standard_headers(&signature);
    let result = StandardWebhooksVerifier::new().verify(
        &[WebhookSecret::new("whsec_not base64!")],
        &headers,
        BODY,
        at(STANDARD_NOW),
    );
    assert!(matches!(result, Err(WebhookError::InvalidSecret { .. })), "{result:?}");
    assert_eq!(WebhookError::NoSecret.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
