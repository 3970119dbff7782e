//! The callback: state checks, single use, provider errors, the token request it builds.

use crate::oauth_support;

use chrono::TimeDelta;
use oauth_support::*;
use spark_integrations::oauth::{Authorize, CallbackError, ClaimError, PendingAuth, StateLedger, UsedStates};

fn started() -> (Authorize, String) {
    let start = github_client().start("integration-1", "user-7", now(), &RANDOM);
    let state = query_param(&start.url, "state");
    (start, state)
}

fn callback(pending: PendingAuth, query: &str) -> Result<http::Request<Vec<u8>>, CallbackError> {
    github_client()
        .callback(pending, query, "user-7", now() + TimeDelta::minutes(1))
        .map(|verified| verified.claim(true).unwrap())
}

#[test]
fn a_good_callback_builds_the_token_request() {
    let (start, state) = started();
    let request = callback(start.pending, &format!("?code=c0de%2B1&state={state}")).unwrap();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.uri(), "https://github.com/login/oauth/access_token");
    let body = body_text(&request);
    assert!(
        body.starts_with("grant_type=authorization_code&code=c0de%2B1&"),
        "{body}"
    );
    assert!(
        body.contains("&redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fgithub%2Fcallback&"),
        "same redirect_uri as the authorize URL: {body}"
    );
    assert_eq!(
        query_param(&start.url, "redirect_uri"),
        "https://app.example.com/oauth/github/callback"
    );
}

#[test]
fn missing_state() {
    let (start, _) = started();
    assert_eq!(
        callback(start.pending, "code=abc").unwrap_err(),
        CallbackError::MissingState
    );
}

#[test]
fn wrong_state() {
    let (start, state) = started();
    let mut wrong = state.into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let query = format!("code=abc&state={}", String::from_utf8(wrong).unwrap());
    assert_eq!(
        callback(start.pending, &query).unwrap_err(),
        CallbackError::StateMismatch
    );
    let (start, state) = started();
    let query = format!("code=abc&state={}", &state[..state.len() - 1]);
    assert_eq!(
        callback(start.pending, &query).unwrap_err(),
        CallbackError::StateMismatch
    );
}

#[test]
fn state_from_another_attempt_is_refused() {
    let (start, _) = started();
    let mut random = RANDOM;
    random[0] = 99;
    let other = github_client().start("integration-1", "user-7", now(), &random);
    let query = format!("code=abc&state={}", query_param(&other.url, "state"));
    assert_eq!(
        callback(start.pending, &query).unwrap_err(),
        CallbackError::StateMismatch
    );
}

#[test]
fn tampered_pending_auth_no_longer_matches_its_state() {
    let (start, state) = started();
    let mut json = serde_json::to_value(&start.pending).unwrap();
    json["integration_id"] = "someone-elses-integration".into();
    let tampered: PendingAuth = serde_json::from_value(json).unwrap();
    let query = format!("code=abc&state={state}");
    assert_eq!(callback(tampered, &query).unwrap_err(), CallbackError::StateMismatch);
}

#[test]
fn reused_state() {
    let mut ledger = UsedStates::new();
    let (start, state) = started();
    let query = format!("code=abc&state={state}");
    let client = github_client();
    let first = client.callback(start.pending.clone(), &query, "user-7", now()).unwrap();
    assert!(first.claim_with(&mut ledger).is_ok());
    // The same cookie replayed: the state checks out, but the ledger has seen it.
    let replay = client.callback(start.pending, &query, "user-7", now()).unwrap();
    assert_eq!(replay.claim_with(&mut ledger).unwrap_err(), ClaimError::AlreadyUsed);
    assert_eq!(ledger.len(), 1);
}

#[test]
fn expired_state() {
    let (start, state) = started();
    let expires_at = start.pending.expires_at();
    let query = format!("code=abc&state={state}");
    let client = github_client();
    assert!(
        client
            .callback(start.pending.clone(), &query, "user-7", expires_at)
            .is_ok(),
        "valid up to expiry"
    );
    let error = client
        .callback(start.pending, &query, "user-7", expires_at + TimeDelta::seconds(1))
        .unwrap_err();
    assert_eq!(
        error,
        CallbackError::Expired {
            expired_at: now() + TimeDelta::minutes(10)
        }
    );
    insta::assert_snapshot!(error, @"state expired at 2025-03-14 15:19:26 UTC");
}

#[test]
fn other_provider_state() {
    let slack = slack_client().start("integration-1", "user-7", now(), &RANDOM);
    let query = format!("code=abc&state={}", query_param(&slack.url, "state"));
    let error = callback(slack.pending, &query).unwrap_err();
    assert_eq!(
        error,
        CallbackError::OtherProvider {
            expected: "github".into(),
            found: "slack".into()
        }
    );
}

#[test]
fn other_user_session() {
    let (start, state) = started();
    let error = github_client()
        .callback(start.pending, &format!("code=abc&state={state}"), "user-8", now())
        .unwrap_err();
    assert_eq!(error, CallbackError::OtherUser);
}

#[test]
fn access_denied() {
    let (start, state) = started();
    let query =
        format!("error=access_denied&error_description=The+user+has+denied+your+application+access.&state={state}");
    assert_eq!(
        callback(start.pending, &query).unwrap_err(),
        CallbackError::AccessDenied {
            description: Some("The user has denied your application access.".into())
        }
    );
}

#[test]
fn other_provider_error_in_callback() {
    let (start, state) = started();
    let query = format!("error=redirect_uri_mismatch&state={state}");
    assert_eq!(
        callback(start.pending, &query).unwrap_err(),
        CallbackError::Provider {
            code: "redirect_uri_mismatch".into(),
            description: None
        }
    );
}

#[test]
fn error_without_valid_state_is_a_state_error() {
    let (start, _) = started();
    assert_eq!(
        callback(start.pending, "error=access_denied").unwrap_err(),
        CallbackError::MissingState
    );
}

#[test]
fn missing_code_and_repeated_parameters() {
    let (start, state) = started();
    assert_eq!(
        callback(start.pending, &format!("state={state}")).unwrap_err(),
        CallbackError::MissingCode
    );
    let (start, state) = started();
    assert_eq!(
        callback(start.pending, &format!("code=a&code=b&state={state}")).unwrap_err(),
        CallbackError::RepeatedParameter { name: "code".into() }
    );
}

#[test]
fn claim_false_means_already_used() {
    let (start, state) = started();
    let verified = github_client()
        .callback(start.pending, &format!("code=abc&state={state}"), "user-7", now())
        .unwrap();
    assert_eq!(verified.claim(false).unwrap_err(), CallbackError::AlreadyUsed);
}

#[test]
fn used_states_prune_expired_entries() {
    let (start, _) = started();
    let mut ledger = UsedStates::new();
    assert!(
        ledger
            .mark_used(&start.pending.state_id(), start.pending.expires_at())
            .unwrap()
    );
    ledger.prune(start.pending.expires_at());
    assert_eq!(ledger.len(), 1, "kept until it expires");
    ledger.prune(start.pending.expires_at() + TimeDelta::seconds(1));
    assert!(ledger.is_empty());
}
