//! GitLab's OAuth rules through the generic client: PKCE authorize URL, 2-hour tokens refreshed 15 minutes ahead,
//! the rotated refresh token persisted, `invalid_grant` meaning re-authorize, the account's numeric id.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use http::Method;
use spark_integrations::oauth::{Authorized, ClientConfig, ClientSecret, OAuthClient, StateKey, TokenError, TokenSet};
use spark_integrations::plugin::Plugin;
use spark_integrations::providers::gitlab::{GitlabPlugin, oauth};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 9, 26).unwrap()
}

fn client() -> OAuthClient {
    let plugin = GitlabPlugin::with_base_url("https://gitlab.example.com").unwrap();
    let config = ClientConfig::new(
        "a1b2c3d4e5f6",
        ClientSecret::new("gloas-client-secret-0123456789"),
        "https://app.example.com/integrations/gitlab/oauth",
    )
    .with_scopes(oauth::SCOPES.iter().copied());
    let state_key = StateKey::new("state-key-0123456789abcdef0123456789abcdef");
    OAuthClient::new(plugin.oauth_provider().unwrap().clone(), config, state_key).unwrap()
}

fn json(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// What GitLab answers a code or refresh exchange with: 2 hours, a refresh token, `created_at`.
fn issued(access: &str, refresh: &str) -> http::Response<Vec<u8>> {
    json(
        200,
        &format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":7200,"refresh_token":"{refresh}","scope":"read_api read_user","created_at":1741964966}}"#
        ),
    )
}

fn tokens() -> TokenSet {
    client()
        .token_response(&issued("gloat-1", "glort-1"), now())
        .unwrap()
        .persisted()
}

fn body_text(request: &http::Request<Vec<u8>>) -> String {
    String::from_utf8(request.body().clone()).unwrap()
}

#[test]
fn authorize_url_asks_for_the_scopes_with_pkce_s256() {
    let authorize = client().start("int_1", "user_1", now(), &[7; 32]);
    let url = url::Url::parse(&authorize.url).unwrap();
    assert_eq!(
        (url.host_str(), url.path()),
        (Some("gitlab.example.com"), "/oauth/authorize")
    );
    let query: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["scope"], "read_api read_user");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
}

#[test]
fn two_hour_tokens_are_refreshed_fifteen_minutes_ahead() {
    let tokens = tokens();
    let expires_at = tokens.expires_at.unwrap();
    assert_eq!(expires_at, now() + TimeDelta::hours(2));
    let client = client();
    assert!(!client.refresh_due(&tokens, expires_at - TimeDelta::minutes(16)));
    assert!(client.refresh_due(&tokens, expires_at - TimeDelta::minutes(15)));
    // Before a call, not only after a 401: the API request says "refresh first".
    let due = expires_at - TimeDelta::minutes(10);
    assert!(matches!(
        client.account_request(&tokens, due),
        Authorized::RefreshFirst(_)
    ));
    let request = client.refresh_request(&tokens, due).unwrap();
    assert_eq!(request.uri(), "https://gitlab.example.com/oauth/token");
    assert!(body_text(&request).starts_with("grant_type=refresh_token&refresh_token=glort-1&"));
}

#[test]
fn the_rotated_refresh_token_is_what_is_persisted() {
    let previous = tokens();
    let later = now() + TimeDelta::minutes(110);
    let persist = client()
        .refresh_response(&previous, &issued("gloat-2", "glort-2"), later)
        .unwrap();
    // The host stores this before using the new access token: GitLab has already revoked `glort-1`.
    let stored = persist.persisted();
    assert_eq!(stored.access_token.expose_secret(), "gloat-2");
    assert_eq!(stored.refresh_token.unwrap().expose_secret(), "glort-2");
    assert_eq!(stored.expires_at, Some(later + TimeDelta::hours(2)));
}

#[test]
fn a_refresh_answered_invalid_grant_means_reauthorize() {
    let response = json(
        400,
        r#"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}"#,
    );
    let error = client().refresh_response(&tokens(), &response, now()).unwrap_err();
    assert!(
        matches!(error, TokenError::Reauthorize { ref code, .. } if code == "invalid_grant"),
        "{error:?}"
    );
}

#[test]
fn the_account_is_the_numeric_id_with_the_username() {
    let client = client();
    let Authorized::Send(request) = client.account_request(&tokens(), now()) else {
        panic!("a fresh token is sent");
    };
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri(), "https://gitlab.example.com/api/v4/user");
    assert_eq!(request.headers()["authorization"], "Bearer gloat-1");
    let account = client
        .account_response(&json(200, r#"{"id":1234567,"username":"jdoe","name":"Jane Doe"}"#))
        .unwrap();
    assert_eq!(
        (account.id.as_str(), account.name.as_deref()),
        ("1234567", Some("jdoe"))
    );
}
