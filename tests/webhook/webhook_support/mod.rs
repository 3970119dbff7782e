//! Shared by the `webhook_*` tests: request building and an independent signer (`reference`), so that the crate's
//! verifiers are checked against another implementation of HMAC-SHA256, not against themselves.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier};

pub(crate) mod reference;

/// Slack's documented example: the time it was signed, its secret, body and signature.
pub(crate) const SLACK_DOCS_TIMESTAMP: i64 = 1_531_420_618;
pub(crate) const SLACK_DOCS_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub(crate) const SLACK_DOCS_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
pub(crate) const SLACK_DOCS_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

/// GitHub's documented example.
pub(crate) const GITHUB_DOCS_SECRET: &str = "It's a Secret to Everybody";
pub(crate) const GITHUB_DOCS_BODY: &str = "Hello, World!";
pub(crate) const GITHUB_DOCS_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
pub(crate) const DELIVERY_ID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

/// A header map with the given headers, in order; a name given twice appears twice.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header names are valid"),
            HeaderValue::from_str(value).expect("test header values are valid"),
        );
    }
    map
}

/// The instant `secs` seconds after the Unix epoch.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().expect("test times are in range")
}

/// `sha256=<hex>` as GitHub sends it.
pub(crate) fn github_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(reference::hmac_sha256(secret.as_bytes(), &[body]))
    )
}

/// `sha1=<hex>` as GitHub's legacy header carries it.
pub(crate) fn github_sha1_signature(secret: &str, body: &[u8]) -> String {
    format!("sha1={}", hex::encode(reference::hmac_sha1(secret.as_bytes(), body)))
}

/// The headers of a GitHub delivery of `body` signed with `secret`.
pub(crate) fn github_headers(secret: &str, body: &[u8]) -> HeaderMap {
    headers(&[
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", DELIVERY_ID),
        ("X-Hub-Signature-256", &github_signature(secret, body)),
    ])
}

/// `v0=<hex>` as Slack sends it.
pub(crate) fn slack_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(reference::hmac_sha256(
            secret,
            &[b"v0:", timestamp.as_bytes(), b":", body]
        ))
    )
}

/// The headers of a Slack request of `body` at `timestamp` signed with `secret`.
pub(crate) fn slack_headers(secret: &str, timestamp: &str, body: &[u8]) -> HeaderMap {
    headers(&[
        ("X-Slack-Request-Timestamp", timestamp),
        (
            "X-Slack-Signature",
            &slack_signature(secret.as_bytes(), timestamp, body),
        ),
    ])
}

/// `v1,<base64>` as Standard Webhooks senders put it.
pub(crate) fn standard_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = reference::hmac_sha256(key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(tag))
}

/// `whsec_<base64 key>`.
pub(crate) fn standard_secret(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

// The fixed requests of the rejection and redaction tests: one secret, body and time per scheme.

pub(crate) const SECRET: &str = "mysecret";
pub(crate) const BODY: &[u8] = b"{\n  \"foo\": \"bar\"\n}\n";
pub(crate) const SLACK_SECRET: &str = "ade6ca762ade4db0e7d31484cd616b9c";
pub(crate) const SLACK_TS: &str = "1547933148";
pub(crate) const SLACK_NOW: i64 = 1_547_933_148;
pub(crate) const STANDARD_KEY: &[u8] = b"a Standard Webhooks key of 24";
pub(crate) const STANDARD_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
pub(crate) const STANDARD_TS: &str = "1649367553";
pub(crate) const STANDARD_NOW: i64 = 1_649_367_553;

pub(crate) fn github(headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    GithubVerifier::new()
        .verify(&[WebhookSecret::new(SECRET)], headers, body, at(0))
        .map(|_| ())
}

pub(crate) fn github_legacy(headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let verifier = GithubVerifier::new().allow_legacy_sha1();
    verifier
        .verify(&[WebhookSecret::new(SECRET)], headers, body, at(0))
        .map(|_| ())
}

pub(crate) fn slack(headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let secrets = [WebhookSecret::new(SLACK_SECRET)];
    SlackVerifier::new()
        .verify(&secrets, headers, body, at(SLACK_NOW))
        .map(|_| ())
}

pub(crate) fn standard(headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let secrets = [WebhookSecret::new(standard_secret(STANDARD_KEY))];
    StandardWebhooksVerifier::new()
        .verify(&secrets, headers, body, at(STANDARD_NOW))
        .map(|_| ())
}

pub(crate) fn standard_headers(signature: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", STANDARD_ID),
        ("webhook-timestamp", STANDARD_TS),
        ("webhook-signature", signature),
    ])
}

pub(crate) fn github_with_signature(signature: &str) -> HeaderMap {
    headers(&[
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", DELIVERY_ID),
        ("X-Hub-Signature-256", signature),
    ])
}

/// Removes `name` from a copy of `headers`.
pub(crate) fn without(headers: &HeaderMap, name: &str) -> HeaderMap {
    let mut headers = headers.clone();
    headers.remove(name);
    headers
}

/// Adds a second copy of `name`'s value to a copy of `headers`.
pub(crate) fn doubled(headers: &HeaderMap, name: &str) -> HeaderMap {
    let mut headers = headers.clone();
    let value = headers.get(name).unwrap().clone();
    headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
    headers
}
