//! Shared setup for the `oauth_*` tests: a fixed clock, fixed random bytes, configured clients, response builders.

use chrono::{DateTime, TimeZone, Utc};
use spark_integrations::oauth::{ClientConfig, ClientSecret, OAuthClient, StateKey};
use spark_integrations::providers::{github, slack};

pub(crate) const CLIENT_SECRET: &str = "client-secret-0123456789";
pub(crate) const STATE_KEY: &str = "state-key-0123456789abcdef0123456789abcdef";
pub(crate) const RANDOM: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
    31,
];

/// 2025-03-14 15:09:26 UTC: the injected clock.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 9, 26).unwrap()
}

pub(crate) fn github_client() -> OAuthClient {
    let config = ClientConfig::new(
        "Iv1.8a61f9b3a7aba766",
        ClientSecret::new(CLIENT_SECRET),
        "https://app.example.com/oauth/github/callback",
    )
    .with_scopes(["read:user", "repo"]);
    OAuthClient::new(github::oauth::provider(), config, StateKey::new(STATE_KEY)).unwrap()
}

pub(crate) fn slack_client() -> OAuthClient {
    let config = ClientConfig::new(
        "1234567890.0987654321",
        ClientSecret::new(CLIENT_SECRET),
        "https://app.example.com/oauth/slack/callback",
    )
    .with_scopes(["channels:history", "chat:write"])
    .with_user_scopes(["search:read"]);
    OAuthClient::new(slack::oauth::provider(), config, StateKey::new(STATE_KEY)).unwrap()
}

/// The value of query parameter `name` in `url`.
pub(crate) fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

pub(crate) fn response(status: u16, content_type: &str, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

pub(crate) fn json(status: u16, body: &str) -> http::Response<Vec<u8>> {
    response(status, "application/json; charset=utf-8", body)
}

pub(crate) fn form(status: u16, body: &str) -> http::Response<Vec<u8>> {
    response(status, "application/x-www-form-urlencoded; charset=utf-8", body)
}

/// The request's body as text.
pub(crate) fn body_text(request: &http::Request<Vec<u8>>) -> String {
    String::from_utf8(request.body().clone()).unwrap()
}
