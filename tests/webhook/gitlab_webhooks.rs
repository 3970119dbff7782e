//! GitLab webhook verification, both schemes, with the attack cases; and a replayed body stored once.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, StatusCode};
use spark_integrations::convert::{ConvertContext, Payload};
use spark_integrations::plugin::{Plugin, intake_for};
use spark_integrations::providers::gitlab::{GitlabPlugin, GitlabVerifier};
use spark_integrations::store::{ActivityStore, EventQuery, MemoryStore, ingest_conversion};
use spark_integrations::webhook::{Delivery, HeaderRole, WebhookError, WebhookSecret, WebhookVerifier};

use crate::webhook_support::reference;

const TOKEN: &str = "a-secret-token-0123456789";
const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const TIMESTAMP: i64 = 1_735_747_200; // 2025-01-01T16:00:00Z
const IDEMPOTENCY_KEY: &str = "5b4a3f1e-2c7d-4e8a-9b1f-0a2b3c4d5e6f";
const BODY: &[u8] = include_bytes!("../../fixtures/gitlab/webhooks/push_hook.push.json");

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(TIMESTAMP, 0).unwrap()
}

/// The conversion context of a delivery received at 2025-01-01T16:00:00Z.
fn context() -> ConvertContext {
    ConvertContext::new(now())
}

fn signing_token() -> String {
    format!("whsec_{}", STANDARD.encode(KEY))
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, computed with the tests' own reference HMAC, not the
/// crate's.
fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag = reference::hmac_sha256(key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(tag))
}

fn base_headers(delivery: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-gitlab-event", "Push Hook".parse().unwrap());
    headers.insert("idempotency-key", delivery.parse().unwrap());
    headers.insert(
        "x-gitlab-event-uuid",
        "e1d2c3b4-a596-4788-9a0b-1c2d3e4f5a6b".parse().unwrap(),
    );
    headers.insert("x-gitlab-instance", "https://gitlab.com".parse().unwrap());
    headers
}

fn token_headers(token: &str, delivery: &str) -> HeaderMap {
    let mut headers = base_headers(delivery);
    headers.insert("x-gitlab-token", token.parse().unwrap());
    headers
}

fn signed_headers(key: &[u8], delivery: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    let mut headers = base_headers(delivery);
    headers.insert("webhook-id", delivery.parse().unwrap());
    headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
    headers.insert(
        "webhook-signature",
        signature(key, delivery, timestamp, body).parse().unwrap(),
    );
    headers
}

fn secrets(list: &[&str]) -> Vec<WebhookSecret> {
    list.iter().map(|secret| WebhookSecret::new(*secret)).collect()
}

fn verify(secrets: &[WebhookSecret], headers: &HeaderMap, body: &[u8]) -> Result<String, WebhookError> {
    GitlabVerifier::new()
        .verify(secrets, headers, body, now())
        .map(|delivery| delivery.delivery_id.expect("a delivery id").to_owned())
}

fn unauthenticated(result: Result<String, WebhookError>) -> WebhookError {
    let error = result.expect_err("refused");
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED, "{error:?}");
    error
}

#[test]
fn a_secret_token_delivery_passes_with_the_token_and_only_with_it() {
    let both = secrets(&[TOKEN, &signing_token()]);
    assert_eq!(
        verify(&both, &token_headers(TOKEN, IDEMPOTENCY_KEY), BODY),
        Ok(IDEMPOTENCY_KEY.into())
    );
    assert_eq!(
        verify(
            &secrets(&["old-token", TOKEN]),
            &token_headers(TOKEN, IDEMPOTENCY_KEY),
            BODY
        ),
        Ok(IDEMPOTENCY_KEY.into()),
        "any configured token, while rotating"
    );
    for wrong in [
        "a-secret-token-012345678",
        "a-secret-token-01234567890",
        "",
        "A-SECRET-TOKEN-0123456789",
    ] {
        let error = unauthenticated(verify(&both, &token_headers(wrong, IDEMPOTENCY_KEY), BODY));
        assert_eq!(
            error,
            WebhookError::TokenMismatch {
                header: "X-Gitlab-Token"
            },
            "{wrong:?}"
        );
    }
    // The signing token is no secret token: presenting it as one fails.
    let error = unauthenticated(verify(&both, &token_headers(&signing_token(), IDEMPOTENCY_KEY), BODY));
    assert_eq!(
        error,
        WebhookError::TokenMismatch {
            header: "X-Gitlab-Token"
        }
    );
}

#[test]
fn a_missing_credential_or_an_unconfigured_scheme_is_unauthenticated() {
    let error = unauthenticated(verify(&secrets(&[TOKEN]), &base_headers(IDEMPOTENCY_KEY), BODY));
    assert_eq!(
        error,
        WebhookError::MissingHeader {
            header: "X-Gitlab-Token",
            role: HeaderRole::Credential
        }
    );
    // A token while only a signing token is configured, a signature while only a secret token is.
    unauthenticated(verify(
        &secrets(&[&signing_token()]),
        &token_headers(TOKEN, IDEMPOTENCY_KEY),
        BODY,
    ));
    let signed = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    let error = unauthenticated(verify(&secrets(&[TOKEN]), &signed, BODY));
    assert_eq!(
        error,
        WebhookError::SignatureMismatch {
            header: "webhook-signature"
        }
    );
}

#[test]
fn a_signed_delivery_passes_with_the_signing_token() {
    let signed = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    assert_eq!(
        verify(&secrets(&[&signing_token()]), &signed, BODY),
        Ok(IDEMPOTENCY_KEY.into())
    );
    assert_eq!(
        verify(&secrets(&[TOKEN, &signing_token()]), &signed, BODY),
        Ok(IDEMPOTENCY_KEY.into())
    );
    // Within the five minutes either way.
    for skew in [-300, 300] {
        let headers = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP + skew, BODY);
        assert!(verify(&secrets(&[&signing_token()]), &headers, BODY).is_ok(), "{skew}");
    }
}

#[test]
fn a_tampered_body_fails_the_signature_even_with_a_matching_token() {
    let mut tampered = BODY.to_vec();
    let at = tampered
        .iter()
        .position(|byte| *byte == b'4')
        .expect("a digit to change");
    tampered[at] = b'5';
    let mut headers = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    let both = secrets(&[TOKEN, &signing_token()]);
    let error = unauthenticated(verify(&both, &headers, &tampered));
    assert_eq!(
        error,
        WebhookError::SignatureMismatch {
            header: "webhook-signature"
        }
    );
    // The signature is checked whenever a signing token is configured: the token does not rescue it.
    headers.insert("x-gitlab-token", TOKEN.parse().unwrap());
    unauthenticated(verify(&both, &headers, &tampered));
    // A signature under another key.
    let other = signed_headers(b"another key, another key, 32 by.", IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    unauthenticated(verify(&both, &other, BODY));
    // A signed id changed after signing.
    let mut renamed = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    renamed.insert("webhook-id", "another-id".parse().unwrap());
    unauthenticated(verify(&both, &renamed, BODY));
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    for skew in [-301, 301, -86_400, 86_400] {
        let headers = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP + skew, BODY);
        let error = unauthenticated(verify(&secrets(&[&signing_token()]), &headers, BODY));
        assert!(
            matches!(error, WebhookError::StaleTimestamp { .. }),
            "{skew}: {error:?}"
        );
    }
    let mut missing = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    missing.remove("webhook-timestamp");
    unauthenticated(verify(&secrets(&[&signing_token()]), &missing, BODY));
}

#[test]
fn the_event_name_and_a_delivery_id_are_required_once_authenticated() {
    let mut headers = token_headers(TOKEN, IDEMPOTENCY_KEY);
    headers.remove("x-gitlab-event");
    let error = verify(&secrets(&[TOKEN]), &headers, BODY).unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);

    let mut headers = token_headers(TOKEN, IDEMPOTENCY_KEY);
    headers.remove("idempotency-key");
    assert_eq!(
        verify(&secrets(&[TOKEN]), &headers, BODY),
        Ok("e1d2c3b4-a596-4788-9a0b-1c2d3e4f5a6b".into()),
        "falls back to X-Gitlab-Event-UUID"
    );
    headers.remove("x-gitlab-event-uuid");
    assert_eq!(
        verify(&secrets(&[TOKEN]), &headers, BODY).unwrap_err().status(),
        StatusCode::BAD_REQUEST
    );

    let mut signed = signed_headers(KEY, "msg-1", TIMESTAMP, BODY);
    signed.remove("idempotency-key");
    signed.remove("x-gitlab-event-uuid");
    assert_eq!(
        verify(&secrets(&[&signing_token()]), &signed, BODY),
        Ok("msg-1".into()),
        "the signed webhook-id"
    );
    // A signed delivery's id is the signed one, whatever an unsigned header says.
    let mut relabelled = signed_headers(KEY, "msg-1", TIMESTAMP, BODY);
    relabelled.insert("idempotency-key", "another-id".parse().unwrap());
    assert_eq!(
        verify(&secrets(&[&signing_token()]), &relabelled, BODY),
        Ok("msg-1".into())
    );
}

#[test]
fn unusable_secrets_are_the_receivers_error() {
    let headers = token_headers(TOKEN, IDEMPOTENCY_KEY);
    for list in [vec![], vec![WebhookSecret::new("")]] {
        let error = verify(&list, &headers, BODY).unwrap_err();
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let signed = signed_headers(KEY, IDEMPOTENCY_KEY, TIMESTAMP, BODY);
    let error = verify(&secrets(&["whsec_not base64!"]), &signed, BODY).unwrap_err();
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn oversized_bodies_are_refused_first() {
    let verifier = GitlabVerifier::new().with_max_body_len(16);
    let error = verifier
        .verify(&secrets(&[TOKEN]), &base_headers(IDEMPOTENCY_KEY), BODY, now())
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Intake through the plugin, conversion and storage: what the host does with one delivery.
fn deliver(store: &mut MemoryStore, secrets: &[WebhookSecret], headers: &HeaderMap, body: &[u8]) -> (String, usize) {
    let plugin = GitlabPlugin::new();
    let Delivery { payload, .. } = intake_for(&plugin, secrets, headers, body, now()).expect("authenticated");
    let Payload::Webhook {
        event: Some("Push Hook"),
        delivery_id: Some(delivery_id),
        ..
    } = payload
    else {
        panic!("a push delivery with its id: {payload:?}");
    };
    let conversion = plugin
        .converter()
        .expect("a converter")
        .convert(payload, &context())
        .expect("converted");
    let report = ingest_conversion(store, "int_1", &conversion).expect("stored");
    (delivery_id.to_owned(), report.inserted)
}

#[test]
fn a_body_replayed_under_a_new_delivery_id_is_stored_once() {
    let mut store = MemoryStore::new();
    let tokens = secrets(&[TOKEN]);
    let (first_key, inserted) = deliver(&mut store, &tokens, &token_headers(TOKEN, IDEMPOTENCY_KEY), BODY);
    assert_eq!(inserted, 1);
    // An attacker who captured the delivery (token included) resends it with a fresh Idempotency-Key: the intake
    // cannot tell (the token covers neither), the delivery id differs, but the content gives the same source id.
    let (replay_key, inserted) = deliver(&mut store, &tokens, &token_headers(TOKEN, "a-new-delivery-id"), BODY);
    assert_ne!(replay_key, first_key);
    assert_eq!(inserted, 0, "stored once");
    // The same body signed anew (GitLab's "Resend request" makes a new delivery) is the same event too.
    let signed = signed_headers(KEY, "resent-delivery", TIMESTAMP, BODY);
    let (_, inserted) = deliver(&mut store, &secrets(&[&signing_token()]), &signed, BODY);
    assert_eq!(inserted, 0);
    let events = store.recent_events(&EventQuery::latest(10)).expect("readable").events;
    assert_eq!(events.len(), 1);
    assert!(events[0].event.source_id.starts_with("sha256:"));
}
