//! For `tests/server.rs`: a scripted fake GitHub and Slack on a loopback port (OAuth pages, token endpoints that
//! check PKCE, GitHub's rotating refresh tokens, the account lookups, and a paginated Events API with `ETag`s), and
//! an independent signer (`ring`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub(crate) const GITHUB_TOKEN: &str = "gho_fake_access_token";
/// How long the fake's GitHub access tokens live, as GitHub App user tokens do.
pub(crate) const GITHUB_TOKEN_LIFETIME: i64 = 8 * 3600;
pub(crate) const SLACK_TOKEN: &str = "xoxb-fake-bot-token";
pub(crate) const CLIENT_ID: &str = "fake-client-id";
pub(crate) const CLIENT_SECRET: &str = "fake-client-secret";
/// The code the fake token endpoints refuse as GitHub and Slack do: an error body with HTTP 200.
pub(crate) const REFUSED_CODE: &str = "refused-code";
/// The repository the fake Events API serves.
pub(crate) const REPOSITORY: &str = "octocat/Hello-World";
const EVENTS_ETAG: &str = "W/\"events-v1\"";

/// What the fake saw, for the test to assert on.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Issued codes and the PKCE challenge each was issued for.
    challenges: HashMap<String, String>,
    /// Token requests, per service.
    pub(crate) token_requests: HashMap<&'static str, usize>,
    /// Token requests whose `code_verifier` did not match the challenge.
    pub(crate) pkce_failures: usize,
    /// Events API requests: (query, `If-None-Match`), in order.
    pub(crate) event_requests: Vec<(String, Option<String>)>,
    /// Answers "304 Not Modified".
    pub(crate) not_modified: usize,
    /// Refresh requests with a valid refresh token (each rotates the tokens), and with a revoked one.
    pub(crate) refreshes: usize,
    pub(crate) refused_refreshes: usize,
    /// The GitHub tokens now valid: `None` means the first authorization's (`GITHUB_TOKEN`, `ghr_fake_0`).
    github_tokens: Option<(String, String)>,
    /// The `X-Poll-Interval` the Events API answers with, in seconds; `None` means GitHub's usual 60.
    pub(crate) poll_interval: Option<u32>,
}

impl Seen {
    /// The GitHub access and refresh tokens that are valid now; a refresh revokes both and issues new ones.
    pub(crate) fn github_tokens(&self) -> (String, String) {
        self.github_tokens
            .clone()
            .unwrap_or_else(|| (GITHUB_TOKEN.to_owned(), "ghr_fake_0".to_owned()))
    }
}

pub(crate) type Shared = Arc<Mutex<Seen>>;

/// The fake's routes. GitHub's web under `/github`, its API under `/github-api`; Slack's under `/slack` and
/// `/slack-api`, as the host's `--*-url` flags point them.
pub(crate) fn router(seen: Shared) -> Router {
    Router::new()
        .route("/github/login/oauth/authorize", get(authorize))
        .route("/github/login/oauth/access_token", post(github_token))
        .route("/github-api/user", get(github_user))
        .route("/github-api/repos/octocat/Hello-World/events", get(github_events))
        .route("/slack/oauth/v2/authorize", get(authorize))
        .route("/slack-api/oauth.v2.access", post(slack_token))
        .route("/slack-api/auth.test", post(slack_auth_test))
        .with_state(seen)
}

/// The authorize page, approved at once: records the challenge and redirects back with a code and the state.
async fn authorize(State(seen): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    if query.get("code_challenge_method").map(String::as_str) != Some("S256")
        || query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
    {
        return (StatusCode::BAD_REQUEST, "S256 challenge and client id required").into_response();
    }
    let (Some(challenge), Some(redirect_uri), Some(state)) = (
        query.get("code_challenge"),
        query.get("redirect_uri"),
        query.get("state"),
    ) else {
        return (StatusCode::BAD_REQUEST, "missing parameters").into_response();
    };
    let mut seen = seen.lock().unwrap();
    let code = format!("code-{}", seen.challenges.len());
    seen.challenges.insert(code.clone(), challenge.clone());
    let location =
        url::Url::parse_with_params(redirect_uri, [("code", code.as_str()), ("state", state.as_str())]).unwrap();
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

/// Checks a token request's form: client credentials, and that `code_verifier` hashes to the code's challenge.
/// `Err` holds the error code to answer with.
fn check_token_request(seen: &Shared, service: &'static str, body: &[u8]) -> Result<(), &'static str> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut seen = seen.lock().unwrap();
    *seen.token_requests.entry(service).or_default() += 1;
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return Err("incorrect_client_credentials");
    }
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    if code == REFUSED_CODE {
        return Err("bad_verification_code");
    }
    let verifier = form.get("code_verifier").map(String::as_str).unwrap_or_default();
    let computed = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    if seen.challenges.get(code) != Some(&computed) {
        seen.pkce_failures += 1;
        return Err("invalid_grant");
    }
    Ok(())
}

/// Answers a `grant_type=refresh_token` request as GitHub Apps do: the refresh token is single use, and the new
/// tokens revoke the old ones.
fn github_refresh(seen: &Shared, form: &HashMap<String, String>) -> Value {
    let mut seen = seen.lock().unwrap();
    let (_, valid_refresh) = seen.github_tokens();
    if form.get("refresh_token") != Some(&valid_refresh) {
        seen.refused_refreshes += 1;
        return json!({"error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired."});
    }
    seen.refreshes += 1;
    let tokens = (
        format!("gho_fake_refreshed_{}", seen.refreshes),
        format!("ghr_fake_{}", seen.refreshes),
    );
    seen.github_tokens = Some(tokens.clone());
    json!({
        "access_token": tokens.0, "refresh_token": tokens.1, "token_type": "bearer", "scope": "",
        "expires_in": GITHUB_TOKEN_LIFETIME, "refresh_token_expires_in": 15_897_600
    })
}

async fn github_token(State(seen): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return axum::Json(github_refresh(&seen, &form)).into_response();
    }
    let answer = match check_token_request(&seen, "github", &body) {
        Ok(()) => {
            // A new authorization revokes the tokens issued before it.
            seen.lock().unwrap().github_tokens = None;
            json!({
            "access_token": GITHUB_TOKEN, "refresh_token": "ghr_fake_0", "token_type": "bearer",
            "scope": "read:user,repo", "expires_in": GITHUB_TOKEN_LIFETIME, "refresh_token_expires_in": 15_897_600
            })
        }
        // GitHub reports token errors with HTTP 200.
        Err(code) => json!({"error": code, "error_description": "refused by the fake"}),
    };
    axum::Json(answer).into_response()
}

async fn slack_token(State(seen): State<Shared>, body: Bytes) -> Response {
    let answer = match check_token_request(&seen, "slack", &body) {
        Ok(()) => json!({
            "ok": true, "access_token": SLACK_TOKEN, "token_type": "bot", "scope": "channels:history",
            "bot_user_id": "UBOT", "app_id": "A1", "team": {"id": "T123", "name": "Fake team"},
            "authed_user": {"id": "U123"}
        }),
        Err(code) => json!({"ok": false, "error": if code == "bad_verification_code" { "invalid_code" } else { code }}),
    };
    axum::Json(answer).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn github_user(State(seen): State<Shared>, headers: HeaderMap) -> Response {
    if bearer(&headers) != Some(seen.lock().unwrap().github_tokens().0.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    axum::Json(json!({"login": "octocat", "id": 583231, "name": "The Octocat"})).into_response()
}

async fn slack_auth_test(headers: HeaderMap) -> Response {
    if bearer(&headers) != Some(SLACK_TOKEN) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    axum::Json(json!({"ok": true, "user_id": "UBOT", "user": "spark", "team_id": "T123"})).into_response()
}

/// Two pages of recorded events (newest first), linked with `rel="next"`, then 304 for the `ETag` of page one.
async fn github_events(State(seen): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut seen = seen.lock().unwrap();
    seen.event_requests.push((query.clone(), if_none_match.clone()));
    let interval = seen.poll_interval.unwrap_or(60).to_string();
    if bearer(&headers) != Some(seen.github_tokens().0.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    if if_none_match.as_deref() == Some(EVENTS_ETAG) {
        seen.not_modified += 1;
        return (StatusCode::NOT_MODIFIED, [("x-poll-interval", interval.as_str())]).into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let event =
        |name: &str| -> Value { serde_json::from_str(&fixture(&format!("github-events/{name}.json"))).unwrap() };
    if query.contains("page=2") {
        let body = Value::Array(vec![event("IssuesEvent.opened")]);
        return ([("x-poll-interval", interval.as_str())], axum::Json(body)).into_response();
    }
    let next = format!("<http://{host}/github-api/repos/{REPOSITORY}/events?per_page=100&page=2>; rel=\"next\"");
    let body = Value::Array(vec![event("PushEvent.with-commits"), event("WatchEvent")]);
    (
        [
            ("x-poll-interval", interval.as_str()),
            ("etag", EVENTS_ETAG),
            ("link", next.as_str()),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// A fixture file's text.
pub(crate) fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `sha256=<hex>` of HMAC-SHA256(secret, message), as GitHub signs.
pub(crate) fn github_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body)))
}

/// `v0=<hex>` of HMAC-SHA256(secret, `v0:{timestamp}:{body}`), as Slack signs.
pub(crate) fn slack_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut message = format!("v0:{timestamp}:").into_bytes();
    message.extend_from_slice(body);
    format!("v0={}", hex::encode(ring::hmac::sign(&key, &message)))
}
