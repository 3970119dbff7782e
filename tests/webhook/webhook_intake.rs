//! The intake entry point: payloads to convert with what the headers say, Slack challenges only after the
//! signature holds (the converter reads them), and one-line wiring through `&dyn WebhookVerifier`.

use crate::webhook_support;

use serde::Deserialize;
use spark_integrations::ConvertError;
use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::{SlackConverter, SlackVerifier};
use spark_integrations::webhook::{
    Delivery, HeaderRole, StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier, intake,
};
use webhook_support::*;

const RECORDED_URL_VERIFICATION: &str =
    include_str!("../../fixtures/slack/recorded/slack-ruby-client/url_verification.request.json");
const RECORDED_URL_VERIFICATION_BODY: &[u8] =
    include_bytes!("../../fixtures/slack/recorded/slack-ruby-client/url_verification.body.json");

#[derive(Deserialize)]
struct RecordedRequest {
    signing_secret: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

fn recorded_url_verification() -> (RecordedRequest, http::HeaderMap) {
    let request: RecordedRequest = serde_json::from_str(RECORDED_URL_VERIFICATION).expect("fixture is JSON");
    let pairs: Vec<_> = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let headers = headers(&pairs);
    (request, headers)
}

const SLACK_SECRET: &str = "ade6ca762ade4db0e7d31484cd616b9c";
const SLACK_TS: &str = "1547933148";
const SLACK_NOW: i64 = 1_547_933_148;

/// Runs the Slack intake and renders the outcome as text: `convert retry=<retry num>`.
fn slack_intake(headers: &http::HeaderMap, body: &[u8]) -> Result<String, WebhookError> {
    let secrets = [WebhookSecret::new(SLACK_SECRET)];
    intake(&SlackVerifier::new(), &secrets, headers, body, at(SLACK_NOW))
        .map(|delivery| format!("convert retry={:?}", delivery.retry_num))
}

/// Converts a verified Slack body: the converter is the one reader of the body.
fn slack_convert(body: &[u8]) -> Result<Conversion, ConvertError> {
    let payload = Payload::Webhook {
        event: None,
        delivery_id: None,
        body,
    };
    SlackConverter.convert(payload, &ConvertContext::new(at(SLACK_NOW)))
}

#[test]
fn a_github_delivery_becomes_a_webhook_payload_with_its_delivery_id() {
    let body = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let headers = github_headers("webhook secret", body);
    let secrets = [WebhookSecret::new("webhook secret")];
    let outcome = intake(&GithubVerifier::new(), &secrets, &headers, body, at(0)).expect("signed by the secret");
    let Delivery { payload, retry_num, .. } = outcome;
    assert_eq!(
        payload,
        Payload::Webhook {
            event: Some("push"),
            delivery_id: Some(DELIVERY_ID),
            body
        }
    );
    // Borrowed from the request, not copied.
    assert!(std::ptr::eq(payload.body(), body.as_slice()));
    assert_eq!(retry_num, None);
}

#[test]
fn the_recorded_url_verification_passes_and_converts_to_its_challenge() {
    let (request, headers) = recorded_url_verification();
    assert_eq!(request.body.as_bytes(), RECORDED_URL_VERIFICATION_BODY);
    let secrets = [WebhookSecret::new(request.signing_secret)];
    let outcome = intake(
        &SlackVerifier::new(),
        &secrets,
        &headers,
        RECORDED_URL_VERIFICATION_BODY,
        at(SLACK_NOW + 2),
    )
    .expect("the recorded request is signed");
    let delivery = outcome;
    assert_eq!(
        SlackConverter.convert(delivery.payload, &ConvertContext::new(at(SLACK_NOW))),
        Ok(Conversion::Challenge(
            "P7sFXA4o3HV2hTx4zb4zcQ9yrvuQs8pDh6EacOxmMRj0tJaXfQFF".to_owned()
        ))
    );
}

#[test]
fn a_url_verification_with_a_bad_signature_yields_no_challenge() {
    let (_, headers) = recorded_url_verification();
    // The right body with the wrong secret, and a tampered body with the right secret.
    let wrong_secret = [WebhookSecret::new("0000000000000000000000000000000a")];
    let result = intake(
        &SlackVerifier::new(),
        &wrong_secret,
        &headers,
        RECORDED_URL_VERIFICATION_BODY,
        at(SLACK_NOW),
    );
    assert_eq!(
        result,
        Err(WebhookError::SignatureMismatch {
            header: "X-Slack-Signature"
        })
    );
    let tampered = String::from_utf8(RECORDED_URL_VERIFICATION_BODY.to_vec())
        .unwrap()
        .replace("P7s", "EVL");
    let secrets = [WebhookSecret::new(SLACK_SECRET)];
    let result = intake(
        &SlackVerifier::new(),
        &secrets,
        &headers,
        tampered.as_bytes(),
        at(SLACK_NOW),
    );
    assert_eq!(
        result,
        Err(WebhookError::SignatureMismatch {
            header: "X-Slack-Signature"
        })
    );
    // A stale but otherwise valid one: no challenge either.
    let result = intake(
        &SlackVerifier::new(),
        &secrets,
        &headers,
        RECORDED_URL_VERIFICATION_BODY,
        at(SLACK_NOW + 301),
    );
    assert!(matches!(result, Err(WebhookError::StaleTimestamp { .. })), "{result:?}");
}

#[test]
fn a_slack_event_callback_reports_retries_and_converts_to_its_event_id() {
    let body = br#"{"token":"x","team_id":"T061EG9R6","type":"event_callback","event_id":"Ev0PV52K21","event_time":1547933148,"event":{"type":"reaction_added"}}"#;
    let mut headers = slack_headers(SLACK_SECRET, SLACK_TS, body);
    assert_eq!(slack_intake(&headers, body), Ok("convert retry=None".into()));
    // Slack's retries repeat the `event_id`: it is the events' source id, so a retry is a duplicate in the store.
    let Ok(Conversion::Converted(events)) = slack_convert(body) else {
        panic!("a reaction is activity")
    };
    assert_eq!(events[0].source_id, "Ev0PV52K21");
    headers.insert("X-Slack-Retry-Num", "2".parse().unwrap());
    headers.insert("X-Slack-Retry-Reason", "http_timeout".parse().unwrap());
    assert_eq!(slack_intake(&headers, body), Ok("convert retry=Some(2)".into()));

    let secrets = [WebhookSecret::new(SLACK_SECRET)];
    let Ok(delivery) = intake(&SlackVerifier::new(), &secrets, &headers, body, at(SLACK_NOW)) else {
        panic!("an event callback is converted")
    };
    // Slack puts the type in the body: no event name or delivery id from the headers.
    assert_eq!(
        delivery.payload,
        Payload::Webhook {
            event: None,
            delivery_id: None,
            body
        }
    );
}

#[test]
fn a_slack_event_callback_without_event_id_passes_and_fails_to_convert() {
    let body = br#"{"type":"event_callback","event":{"type":"message"}}"#;
    let headers = slack_headers(SLACK_SECRET, SLACK_TS, body);
    assert_eq!(slack_intake(&headers, body), Ok("convert retry=None".into()));
    assert_eq!(
        slack_convert(body),
        Err(ConvertError::MissingField {
            path: "event_id".into()
        })
    );
}

#[test]
fn a_url_verification_without_challenge_passes_and_fails_to_convert() {
    let body = br#"{"type":"url_verification"}"#;
    let headers = slack_headers(SLACK_SECRET, SLACK_TS, body);
    assert_eq!(slack_intake(&headers, body), Ok("convert retry=None".into()));
    assert_eq!(
        slack_convert(body),
        Err(ConvertError::MissingField {
            path: "challenge".into()
        })
    );
}

#[test]
fn a_signed_slack_body_that_is_not_an_events_api_object_is_left_to_the_converter() {
    // Signed, so accepted: the verifier does not read the body. The converter reports what is wrong with it.
    for body in [
        br#"{"type":"#.as_slice(),
        br#"{"type":"event_callback","event_id":17}"#,
        b"[1,2]",
        b"",
    ] {
        let headers = slack_headers(SLACK_SECRET, SLACK_TS, body);
        assert_eq!(
            slack_intake(&headers, body),
            Ok("convert retry=None".into()),
            "{body:?}"
        );
        assert!(slack_convert(body).is_err(), "{body:?}");
    }
}

#[test]
fn slack_bodies_without_events_pass() {
    let rate_limited = br#"{"token":"x","type":"app_rate_limited","team_id":"T123456","minute_rate_limited":1518467820,"api_app_id":"A123456"}"#;
    for body in [rate_limited.as_slice(), SLACK_DOCS_BODY.as_bytes()] {
        let headers = slack_headers(SLACK_SECRET, SLACK_TS, body);
        assert_eq!(slack_intake(&headers, body), Ok("convert retry=None".into()));
    }
}

#[test]
fn a_malformed_slack_retry_num_is_rejected() {
    let body = b"{}";
    for retry in ["", "-1", "one", "99999999999"] {
        let mut headers = slack_headers(SLACK_SECRET, SLACK_TS, body);
        headers.insert("X-Slack-Retry-Num", retry.parse().unwrap());
        assert!(
            matches!(
                slack_intake(&headers, body),
                Err(WebhookError::MalformedHeader {
                    header: "X-Slack-Retry-Num",
                    ..
                })
            ),
            "{retry:?}"
        );
    }
}

#[test]
fn a_standard_webhooks_delivery_carries_its_webhook_id() {
    let body = br#"{"type":"invoice.paid"}"#;
    let key = b"0123456789abcdef0123456789abcdef";
    let headers = headers(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1700000000"),
        (
            "webhook-signature",
            &standard_signature(key, "msg_1", "1700000000", body),
        ),
    ]);
    let secrets = [WebhookSecret::new(standard_secret(key))];
    let outcome = intake(
        &StandardWebhooksVerifier::new(),
        &secrets,
        &headers,
        body,
        at(1_700_000_000),
    )
    .unwrap();
    let delivery = outcome;
    assert_eq!(
        delivery.payload,
        Payload::Webhook {
            event: None,
            delivery_id: Some("msg_1"),
            body
        }
    );
}

/// What a plugin registry will hold: verifiers behind `dyn`, chosen at run time.
fn verifier_for(service: &str) -> Option<Box<dyn WebhookVerifier>> {
    match service {
        "github" => Some(Box::new(GithubVerifier::new())),
        "slack" => Some(Box::new(SlackVerifier::new())),
        "standard" => Some(Box::new(StandardWebhooksVerifier::new())),
        _ => None,
    }
}

#[test]
fn intake_takes_a_verifier_chosen_at_run_time() {
    let body = br#"{"action":"opened"}"#;
    let headers = github_headers("s3cr3t", body);
    let secrets = [WebhookSecret::new("s3cr3t")];
    let verifier = verifier_for("github").unwrap();
    // The one line a host writes.
    let outcome = intake(verifier.as_ref(), &secrets, &headers, body, at(0));
    assert!(outcome.is_ok(), "{outcome:?}");
    // The same request is refused by a verifier for another scheme.
    let slack = verifier_for("slack").unwrap();
    assert_eq!(
        intake(slack.as_ref(), &secrets, &headers, body, at(0)),
        Err(WebhookError::MissingHeader {
            header: "X-Slack-Request-Timestamp",
            role: HeaderRole::Credential,
        })
    );
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn WebhookVerifier>();
}
