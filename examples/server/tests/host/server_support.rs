//! For the host's tests: the host started in-process with a fake of its providers on another loopback port
//! ([`Host`]), driven with a blocking client ([`Answer`]); a scripted fake GitHub and Slack (OAuth pages, token
//! endpoints that check PKCE, GitHub's rotating refresh tokens, the account lookups, and a paginated Events API with
//! `ETag`s); fixtures, and an independent signer (`ring`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
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
use spark_host::app;
use spark_host::config::Config;
use spark_host::services::Service;

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

/// A response, read whole.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }
}

/// The providers a [`Host`] talks to.
pub(crate) enum Providers {
    /// A fake to serve on a loopback port of the host's runtime.
    Start(Router),
    /// A fake already running at this base URL (another host's, to run beside it).
    Running(String),
}

/// How to start a [`Host`].
pub(crate) struct Setup<'a> {
    /// The providers.
    pub(crate) providers: Providers,
    /// The Postgres database to run on; a SQLite file in a temporary directory when `None`.
    pub(crate) postgres_url: Option<&'a str>,
    /// The `--admin-token`, which [`Host::send`] signs in with.
    pub(crate) admin_token: &'a str,
    /// Services offered beside the compiled-in ones, as a program embedding the host would add its own.
    pub(crate) services: Vec<Service>,
}

/// The name of the host's SQLite database in its temporary directory.
const SQLITE_FILE: &str = "spark.sqlite3";

/// The host and the fake providers, running on a runtime of their own; the test drives them with a blocking client.
/// Dropping it stops the host and removes its temporary directory.
pub(crate) struct Host {
    pub(crate) base: String,
    pub(crate) fake_base: String,
    pub(crate) state: Arc<app::AppState>,
    admin_token: String,
    agent: ureq::Agent,
    db_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Keeps the host and the fakes running until the harness is dropped.
    _runtime: tokio::runtime::Runtime,
}

impl Host {
    /// The SQLite database file of a host started without `Setup::postgres_url`, for tests that write to it directly.
    pub(crate) fn sqlite_path(&self) -> PathBuf {
        self.db_dir.join(SQLITE_FILE)
    }

    /// Starts the fake (unless it runs already), then the host with `--listen`, `--db`, `--admin-token` and
    /// `args(fake base URL)`.
    pub(crate) fn start(setup: Setup<'_>, args: impl FnOnce(&str) -> Vec<String>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let db_dir = std::env::temp_dir().join(format!(
            "spark-host-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&db_dir).unwrap();
        let fake_base = match setup.providers {
            Providers::Running(base) => base,
            Providers::Start(router) => {
                let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                runtime.spawn(async move { axum::serve(listener, router).await });
                base
            }
        };
        let host_listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let listen = host_listener.local_addr().unwrap().to_string();
        let db = setup
            .postgres_url
            .map_or_else(|| db_dir.join(SQLITE_FILE).to_str().unwrap().to_owned(), str::to_owned);
        let flags = ["--listen", &listen, "--db", &db, "--admin-token", setup.admin_token]
            .map(String::from)
            .into_iter()
            .chain(args(&fake_base));
        let mut config = Config::parse(flags, |_| None).unwrap();
        config.services.extend(setup.services);
        let state = app::AppState::new(config).unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let host_state = Arc::clone(&state);
        runtime.spawn(async move {
            app::serve(host_listener, host_state, async {
                let _ = stopped.await;
            })
            .await
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Self {
            base: format!("http://{listen}"),
            fake_base,
            state,
            admin_token: setup.admin_token.to_owned(),
            agent,
            db_dir,
            shutdown: Some(shutdown),
            _runtime: runtime,
        }
    }

    /// Sends `request`, signed in as the administrator when it goes to the host and carries no credentials.
    pub(crate) fn send(&self, mut request: http::Request<Vec<u8>>) -> Answer {
        let to_host = request.uri().to_string().starts_with(&self.base);
        if to_host && !request.headers().contains_key("authorization") {
            let bearer = format!("Bearer {}", self.admin_token);
            request.headers_mut().insert("authorization", bearer.parse().unwrap());
        }
        self.send_raw(request)
    }

    /// Sends `request` as it is: no credentials added.
    pub(crate) fn send_raw(&self, request: http::Request<Vec<u8>>) -> Answer {
        let response = self.agent.run(request).unwrap();
        let (parts, mut body) = response.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.read_to_string().unwrap(),
        }
    }

    /// `path` on the host, or `path` itself when it is a whole URL.
    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub(crate) fn get(&self, path: &str) -> Answer {
        self.send(http::Request::get(self.url(path)).body(Vec::new()).unwrap())
    }

    pub(crate) fn get_with_cookie(&self, path: &str, cookie: &str) -> Answer {
        let request = http::Request::get(self.url(path)).header("cookie", cookie);
        self.send(request.body(Vec::new()).unwrap())
    }

    pub(crate) fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        let mut request = http::Request::post(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request.body(body.to_vec()).unwrap())
    }

    pub(crate) fn put_json(&self, path: &str, body: &Value) -> Answer {
        let request = http::Request::put(self.url(path)).header("content-type", "application/json");
        self.send(request.body(body.to_string().into_bytes()).unwrap())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = std::fs::remove_dir_all(&self.db_dir);
    }
}
