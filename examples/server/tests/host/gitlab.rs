//! GitLab through the example host, end to end: the host runs in-process on an ephemeral 127.0.0.1 port with a
//! temporary SQLite database, configured only with its `--gitlab-*` flags, against a scripted fake GitLab on another
//! loopback port. The fake checks PKCE, issues two-hour tokens and rotates (and revokes) the refresh token on every
//! refresh, serves `/api/v4/user` and a project's Events API in pages linked by `Link` and then `X-Next-Page`, and
//! keeps its own clock, which the test moves together with the host's.
//!
//! Covered: the OAuth round trip (a wrong PKCE verifier refused by the fake, then a good one), a paginated poll, a
//! refresh before the call once the expiry falls within the margin (the rotated refresh token stored, and used by
//! the next refresh), and a signed (Standard Webhooks) and a token (`X-Gitlab-Token`) webhook, each stored once when
//! delivered twice.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use spark_integrations::store::IntegrationStore;

use crate::server_support::{Answer, Host, Providers, Setup, fixture};

const CLIENT_ID: &str = "gitlab-application-id";
const CLIENT_SECRET: &str = "gloas-gitlab-application-secret";
/// The secret token GitLab sends back as `X-Gitlab-Token`.
const WEBHOOK_TOKEN: &str = "the project's secret token";
/// The key of the signing token (`whsec_` and its base64).
const SIGNING_KEY: &[u8; 32] = b"32 bytes of GitLab signing key!!";
const ADMIN_TOKEN: &str = "spk_the-administrator-token-of-the-gitlab-test";
const STATE_KEY: &str = "the state key of the GitLab test, 32+ bytes long";
/// The project the integration follows, and how it appears in the Events API's URL.
const PROJECT: &str = "group/subgroup/project";
const PROJECT_ENCODED: &str = "group%2Fsubgroup%2Fproject";
/// GitLab's access token lifetime, and the margin the GitLab plugin refreshes within.
const TOKEN_LIFETIME: i64 = 7200;
const REFRESH_MARGIN: i64 = 15 * 60;
/// Events per page of the fake's Events API (GitLab's is `per_page`; three make pages out of a few fixtures).
const PAGE_SIZE: usize = 3;
/// The account the fake's `/api/v4/user` answers with.
const USER_ID: i64 = 4242;
const USERNAME: &str = "jsmith";

fn signing_token() -> String {
    format!("whsec_{}", STANDARD.encode(SIGNING_KEY))
}

// ---------------------------------------------------------------------------------------------------------------
// The fake GitLab.

/// What the fake knows and saw.
#[derive(Debug, Default)]
struct Fake {
    /// Seconds its clock runs ahead of the wall clock: the test moves it with the host's.
    offset: i64,
    /// Issued authorization codes: the PKCE challenge and the redirect URI of each authorize request.
    codes: HashMap<String, (String, String)>,
    /// Token requests of any grant.
    token_requests: usize,
    /// Authorization code requests whose `code_verifier` did not hash to the code's challenge.
    pkce_failures: usize,
    /// How many token pairs were issued so far (numbers the tokens).
    issued: usize,
    /// The access token valid now and when it was issued (Unix seconds, on the fake's clock).
    access: Option<(String, i64)>,
    /// The refresh token valid now: each refresh revokes it and issues another.
    refresh: Option<String>,
    /// The refresh tokens of the refreshes granted, in order.
    refreshed_with: Vec<String>,
    /// Refreshes with a revoked or unknown refresh token.
    refused_refreshes: usize,
    /// API requests answered 401 (an expired or revoked access token).
    unauthorized: usize,
    /// Every request, in order: `token:code`, `token:refresh`, `user`, `events:{query}`.
    log: Vec<String>,
    /// Events API requests: the path and query as sent, and the bearer token.
    event_requests: Vec<(String, String)>,
    /// The project's events, newest first.
    feed: Vec<Value>,
}

impl Fake {
    fn now(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        i64::try_from(wall).unwrap() + self.offset
    }

    /// Issues a new pair, revoking the previous one.
    fn issue(&mut self) -> Value {
        self.issued += 1;
        let (access, refresh) = (
            format!("glpat-access-{}", self.issued),
            format!("glrt-refresh-{}", self.issued),
        );
        let now = self.now();
        self.access = Some((access.clone(), now));
        self.refresh = Some(refresh.clone());
        json!({
            "access_token": access, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
            "refresh_token": refresh, "scope": "read_api read_user", "created_at": now
        })
    }

    /// Whether `headers` carry the access token valid now, not yet expired; counts the refusals.
    fn authorized(&mut self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let now = self.now();
        let valid = matches!((&self.access, bearer), (Some((token, issued)), Some(sent))
            if token == sent && now < issued + TOKEN_LIFETIME);
        if !valid {
            self.unauthorized += 1;
        }
        valid
    }
}

type Shared = Arc<Mutex<Fake>>;

fn fake_router(fake: Shared) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/api/v4/user", get(user))
        .route("/api/v4/projects/{project}/events", get(events))
        .with_state(fake)
}

fn oauth_error(code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": code, "error_description": "refused by the fake GitLab"})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"message": "401 Unauthorized"})),
    )
        .into_response()
}

/// The authorize page, approved at once: records the S256 challenge and redirects back with a code and the state.
async fn authorize(State(fake): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str);
    if param("response_type") != Some("code")
        || param("client_id") != Some(CLIENT_ID)
        || param("code_challenge_method") != Some("S256")
        || param("scope") != Some("read_api read_user")
    {
        return (
            StatusCode::BAD_REQUEST,
            format!("unexpected authorize request: {query:?}"),
        )
            .into_response();
    }
    let (Some(challenge), Some(redirect_uri), Some(state)) =
        (param("code_challenge"), param("redirect_uri"), param("state"))
    else {
        return (StatusCode::BAD_REQUEST, "missing parameters").into_response();
    };
    let mut fake = fake.lock().unwrap();
    let code = format!("gitlab-code-{}", fake.codes.len());
    fake.codes
        .insert(code.clone(), (challenge.to_owned(), redirect_uri.to_owned()));
    let location = url::Url::parse_with_params(redirect_uri, [("code", code.as_str()), ("state", state)]).unwrap();
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

/// `POST /oauth/token`: the authorization code grant (PKCE S256 checked, single-use codes) and the refresh grant
/// (the refresh token single use: each refresh revokes the pair it replaces).
async fn token(State(fake): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let mut fake = fake.lock().unwrap();
    fake.token_requests += 1;
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error("invalid_client");
    }
    match field("grant_type") {
        "authorization_code" => {
            fake.log.push("token:code".to_owned());
            let Some((challenge, redirect_uri)) = fake.codes.remove(field("code")) else {
                return oauth_error("invalid_grant");
            };
            let computed = URL_SAFE_NO_PAD.encode(ring::digest::digest(
                &ring::digest::SHA256,
                field("code_verifier").as_bytes(),
            ));
            if computed != challenge {
                fake.pkce_failures += 1;
                return oauth_error("invalid_grant");
            }
            if field("redirect_uri") != redirect_uri {
                return oauth_error("invalid_grant");
            }
            axum::Json(fake.issue()).into_response()
        }
        "refresh_token" => {
            fake.log.push("token:refresh".to_owned());
            let presented = field("refresh_token").to_owned();
            if fake.refresh.as_deref() != Some(presented.as_str()) {
                fake.refused_refreshes += 1;
                return oauth_error("invalid_grant");
            }
            fake.refreshed_with.push(presented);
            axum::Json(fake.issue()).into_response()
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn user(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.log.push("user".to_owned());
    if !fake.authorized(&headers) {
        return unauthorized();
    }
    axum::Json(json!({"id": USER_ID, "username": USERNAME, "name": "John Smith", "state": "active"})).into_response()
}

/// `GET /api/v4/projects/:id/events`: the feed in pages of [`PAGE_SIZE`]. Page 1 links page 2 with `Link`
/// (as gitlab.com does); later pages carry only `X-Next-Page` (as some proxies leave it), empty on the last.
async fn events(
    State(fake): State<Shared>,
    Path(project): Path<String>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let sent = uri.path_and_query().map(ToString::to_string).unwrap_or_default();
    fake.log.push(format!("events:{}", uri.query().unwrap_or_default()));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    fake.event_requests.push((sent, bearer));
    if !fake.authorized(&headers) {
        return unauthorized();
    }
    if project != PROJECT {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "404 Project Not Found"})),
        )
            .into_response();
    }
    let page: usize = query.get("page").and_then(|page| page.parse().ok()).unwrap_or(1);
    let items: Vec<Value> = fake
        .feed
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .cloned()
        .collect();
    let more = fake.feed.len() > page * PAGE_SIZE;
    let next = if more { (page + 1).to_string() } else { String::new() };
    let mut response = axum::Json(Value::Array(items)).into_response();
    let answer = response.headers_mut();
    answer.insert("x-page", page.into());
    answer.insert("x-next-page", next.parse().unwrap());
    answer.insert("ratelimit-remaining", 1999.into());
    if more && page == 1 {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let link = format!(
            "<http://{host}/api/v4/projects/{PROJECT_ENCODED}/events?page=2&per_page=100>; rel=\"next\", \
             <http://{host}/api/v4/projects/{PROJECT_ENCODED}/events?page=1&per_page=100>; rel=\"first\""
        );
        answer.insert(header::LINK, link.parse().unwrap());
    }
    response
}

/// An Events API fixture item, with its `id` replaced when `id` is given.
fn item(name: &str, id: Option<i64>) -> Value {
    let mut item: Value = serde_json::from_str(&fixture(&format!("gitlab/events/{name}.handwritten.json"))).unwrap();
    if let Some(id) = id {
        item["id"] = id.into();
    }
    item
}

// ---------------------------------------------------------------------------------------------------------------
// The host.

/// `domain action` of each listed event, sorted.
fn domains_and_actions(events: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = events
        .iter()
        .map(|event| {
            format!(
                "{} {}",
                event["domain"].as_str().unwrap(),
                event["action"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    kinds
}

/// The host, configured for GitLab at the fake, and the fake; both on a runtime of their own. The test drives them
/// with a blocking client.
struct Harness {
    host: Host,
    fake: Shared,
}

impl Deref for Harness {
    type Target = Host;

    fn deref(&self) -> &Host {
        &self.host
    }
}

impl Harness {
    fn start() -> Self {
        let fake = Shared::default();
        let setup = Setup {
            providers: Providers::Start(fake_router(Arc::clone(&fake))),
            postgres_url: None,
            admin_token: ADMIN_TOKEN,
            services: Vec::new(),
        };
        let host = Host::start(setup, |fake_base| {
            [
                "--state-key",
                STATE_KEY,
                // The scheduler stays out of the way: the test polls through the fetch route.
                "--poll-every",
                "3600",
                "--gitlab-url",
                fake_base,
                "--gitlab-client-id",
                CLIENT_ID,
                "--gitlab-client-secret",
                CLIENT_SECRET,
                "--gitlab-webhook-token",
                WEBHOOK_TOKEN,
                "--gitlab-signing-token",
                &signing_token(),
            ]
            .map(String::from)
            .to_vec()
        });
        Self { host, fake }
    }

    /// Moves the host's clock and the fake's together.
    fn advance(&self, seconds: i64) {
        self.state.clock.advance(seconds);
        self.fake.lock().unwrap().offset += seconds;
    }

    fn gitlab_integration(&self) -> Value {
        let list = self.get("/api/integrations").json();
        list.as_array()
            .unwrap()
            .iter()
            .find(|item| item["service"] == "gitlab")
            .cloned()
            .unwrap_or_else(|| panic!("no GitLab integration: {list}"))
    }

    fn events(&self, integration: &str) -> Vec<Value> {
        self.get(&format!("/api/events?integration={integration}&limit=500"))
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Starts the GitLab OAuth flow and approves it at the fake: the callback URL the browser would be sent to,
    /// and the cookie the host set.
    fn authorize(&self) -> (String, String) {
        let start = self.get("/integrations/gitlab/oauth");
        assert_eq!(start.status, 302, "{}", start.body);
        let location = start.header("location").to_owned();
        assert!(
            location.starts_with(&format!("{}/oauth/authorize?", self.fake_base)),
            "{location}"
        );
        let cookie = start.header("set-cookie").split(';').next().unwrap().to_owned();
        let approved = self.get(&location);
        assert_eq!(approved.status, 302, "the fake approves: {}", approved.body);
        let callback = approved.header("location").to_owned();
        assert!(
            callback.starts_with(&format!("{}/integrations/gitlab/callback?", self.base)),
            "{callback}"
        );
        (callback, cookie)
    }

    /// Connects GitLab through the OAuth round trip: the integration's id.
    fn connect(&self) -> String {
        let (callback, cookie) = self.authorize();
        let connected = self.get_with_cookie(&callback, &cookie);
        assert_eq!(
            (connected.status, connected.header("location")),
            (302, "/"),
            "{}",
            connected.body
        );
        let integration = self.gitlab_integration();
        assert_eq!(integration["connected"], true, "{integration}");
        integration["id"].as_str().unwrap().to_owned()
    }

    /// The refresh token the host has stored for `id`.
    fn stored_refresh_token(&self, id: &str) -> String {
        let integration = self.state.db.read().find_integration(id).unwrap().unwrap();
        integration
            .tokens
            .unwrap()
            .refresh_token
            .unwrap()
            .expose_secret()
            .to_owned()
    }
}

/// The cookie with the PKCE verifier of its pending authorization replaced (the cookie is signed over the state's
/// fields, not the verifier: only the provider's PKCE check can tell).
fn with_other_verifier(cookie: &str) -> String {
    let (name, value) = cookie.split_once('=').unwrap();
    let mut pending: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value).unwrap()).unwrap();
    let verifier = pending["verifier"]
        .as_str()
        .expect("the pending authorization holds its verifier");
    let other = if verifier.starts_with('A') { "B" } else { "A" }.repeat(verifier.len());
    pending["verifier"] = other.into();
    format!("{name}={}", URL_SAFE_NO_PAD.encode(pending.to_string()))
}

// ---------------------------------------------------------------------------------------------------------------
// The tests.

#[test]
fn gitlab_is_offered_and_its_oauth_round_trip_is_checked_by_pkce() {
    let harness = Harness::start();
    let plugins = harness.get("/api/plugins").json();
    let gitlab = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["identifier"] == "gitlab")
        .unwrap_or_else(|| panic!("GitLab is offered: {plugins}"));
    assert_eq!(gitlab["display_name"], "GitLab");
    assert_eq!(gitlab["connections"], json!(["oauth", "polling", "webhook"]));
    assert_eq!(gitlab["configuration_schema"]["fields"][0]["name"], "projects");

    // A verifier that does not hash to the challenge: the fake refuses the code, the host stores no token.
    let (callback, cookie) = harness.authorize();
    let refused = harness.get_with_cookie(&callback, &with_other_verifier(&cookie));
    assert_eq!(refused.status, 302, "{}", refused.body);
    assert!(
        refused.header("location").starts_with("/?error="),
        "{}",
        refused.header("location")
    );
    assert_eq!(harness.fake.lock().unwrap().pkce_failures, 1);
    assert_eq!(harness.gitlab_integration()["connected"], false);

    // The round trip: PKCE checked by the fake, the account from `/api/v4/user`, no token leaves the host.
    let id = harness.connect();
    {
        let fake = harness.fake.lock().unwrap();
        assert_eq!((fake.pkce_failures, fake.token_requests), (1, 2));
        assert_eq!(fake.log, ["token:code", "token:code", "user"]);
        assert_eq!(fake.unauthorized, 0);
    }
    let integration = harness.gitlab_integration();
    assert_eq!(
        integration["account_id"],
        USER_ID.to_string(),
        "the numeric id of `/api/v4/user`: {integration}"
    );
    assert_eq!(harness.stored_refresh_token(&id), "glrt-refresh-1");
    let listed = harness.get("/api/integrations").body;
    assert!(
        !listed.contains("glpat-access") && !listed.contains("glrt-refresh"),
        "tokens never leave the host: {listed}"
    );
    let webhook_url = integration["webhook_url"].as_str().unwrap();
    assert!(
        webhook_url.starts_with(&format!("{}/webhook/gitlab/", harness.base)),
        "{webhook_url}"
    );
}

#[test]
fn gitlab_polls_pages_and_refreshes_expiring_tokens_before_the_call() {
    let harness = Harness::start();
    // The project's feed, newest first (ids 10 down to 1): three pages of three, three and two events.
    harness.fake.lock().unwrap().feed = [
        "left.Project",
        "deleted.branch",
        "pushed_new.tag",
        "pushed_new.branch",
        "pushed_to.branch",
        "closed.Issue",
        "joined.Project",
        "created.Project",
    ]
    .map(|name| item(name, None))
    .to_vec();
    let id = harness.connect();

    // Configured, then polled: page 1, then page 2 by `Link`, then page 3 by `X-Next-Page`.
    let configure = format!("/api/integrations/{id}/configuration");
    let invalid = harness.put_json(&configure, &json!({"projects": ["project-without-group"]}));
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let configured = harness.put_json(&configure, &json!({"projects": [PROJECT]}));
    assert_eq!(configured.status, 200, "{}", configured.body);
    let fetch = format!("/api/integrations/{id}/fetch");
    let polled = harness.post(&fetch, &[], b"");
    assert_eq!(polled.status, 200, "{}", polled.body);
    assert_eq!(
        (polled.json()["inserted"].clone(), polled.json()["errors"].clone()),
        (json!(8), json!([])),
        "{}",
        polled.body
    );
    {
        let fake = harness.fake.lock().unwrap();
        let sent: Vec<&str> = fake.event_requests.iter().map(|(sent, _)| sent.as_str()).collect();
        let path = format!("/api/v4/projects/{PROJECT_ENCODED}/events");
        assert_eq!(
            sent[0],
            format!("{path}?per_page=100"),
            "the path URL-encoded as one segment"
        );
        assert!(
            sent[1].starts_with(&format!("{path}?")) && sent[1].contains("page=2"),
            "{sent:?}"
        );
        assert!(
            sent[2].starts_with(&format!("{path}?")) && sent[2].contains("page=3"),
            "{sent:?}"
        );
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(
            fake.event_requests
                .iter()
                .all(|(_, bearer)| bearer == "Bearer glpat-access-1")
        );
    }
    let events = harness.events(&id);
    assert_eq!(events.len(), 8);
    let kinds = domains_and_actions(&events);
    assert_eq!(
        kinds,
        [
            "issue closed",
            "member joined",
            "member left",
            "project created",
            "repository created",
            "repository deleted",
            "repository push",
            "repository push"
        ]
    );
    assert!(events.iter().all(|event| event["service"] == "gitlab"));
    // Polled again at once: GitLab's usual minute between rounds holds the fetch back.
    let held = harness.post(&fetch, &[], b"");
    assert_eq!(held.status, 429, "{}", held.body);

    // The token's expiry falls within the 15-minute margin (not yet expired at GitLab): the host refreshes before
    // the call, stores the rotated refresh token, and polls with the new access token.
    harness
        .fake
        .lock()
        .unwrap()
        .feed
        .insert(0, item("joined.Project", Some(11)));
    harness.advance(TOKEN_LIFETIME - REFRESH_MARGIN + 60);
    let polled = harness.post(&fetch, &[], b"");
    assert_eq!(polled.status, 200, "{}", polled.body);
    assert_eq!(
        (polled.json()["inserted"].clone(), polled.json()["errors"].clone()),
        (json!(1), json!([])),
        "only the new event, up to the last seen one: {}",
        polled.body
    );
    {
        let fake = harness.fake.lock().unwrap();
        assert_eq!(fake.refreshed_with, ["glrt-refresh-1"]);
        assert_eq!((fake.refused_refreshes, fake.unauthorized), (0, 0));
        let last = &fake.log[fake.log.len() - 2..];
        assert_eq!(
            last,
            ["token:refresh", "events:per_page=100"],
            "refreshed before the call"
        );
        assert_eq!(fake.event_requests.last().unwrap().1, "Bearer glpat-access-2");
    }
    assert_eq!(
        harness.stored_refresh_token(&id),
        "glrt-refresh-2",
        "the rotated refresh token is stored"
    );
    assert_eq!(harness.events(&id).len(), 9);

    // Past the new token's whole lifetime (expired at GitLab too): the next refresh presents the rotated token,
    // which the fake still honours, since the first refresh revoked the old one.
    harness.advance(TOKEN_LIFETIME + 60);
    let polled = harness.post(&fetch, &[], b"");
    assert_eq!(polled.status, 200, "{}", polled.body);
    assert_eq!(polled.json()["inserted"], 0, "{}", polled.body);
    {
        let fake = harness.fake.lock().unwrap();
        assert_eq!(fake.refreshed_with, ["glrt-refresh-1", "glrt-refresh-2"]);
        assert_eq!((fake.refused_refreshes, fake.unauthorized), (0, 0));
        assert_eq!(fake.event_requests.last().unwrap().1, "Bearer glpat-access-3");
    }
    assert_eq!(harness.stored_refresh_token(&id), "glrt-refresh-3");
    let integration = harness.gitlab_integration();
    assert_eq!(
        (&integration["connected"], &integration["last_poll_error"]),
        (&json!(true), &Value::Null),
        "{integration}"
    );
}

/// A delivery as GitLab sends it with a secret token.
fn token_delivery(harness: &Harness, url: &str, event: &str, key: &str, token: &str, body: &[u8]) -> Answer {
    let headers = [
        ("x-gitlab-event", event.to_owned()),
        ("x-gitlab-token", token.to_owned()),
        ("idempotency-key", key.to_owned()),
        ("x-gitlab-event-uuid", format!("uuid-{key}")),
        ("x-gitlab-instance", harness.fake_base.clone()),
        ("content-type", "application/json".to_owned()),
    ];
    harness.post(url, &headers, body)
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the signing token's key.
fn standard_signature(id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SIGNING_KEY);
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(ring::hmac::sign(&key, &message)))
}

/// A delivery as GitLab sends it with a signing token: Standard Webhooks headers, `Idempotency-Key` = `webhook-id`.
fn signed_delivery(harness: &Harness, url: &str, event: &str, id: &str, timestamp: i64, body: &[u8]) -> Answer {
    let headers = [
        ("x-gitlab-event", event.to_owned()),
        ("idempotency-key", id.to_owned()),
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", standard_signature(id, timestamp, body)),
        ("content-type", "application/json".to_owned()),
    ];
    harness.post(url, &headers, body)
}

#[test]
fn gitlab_signed_and_token_webhooks_are_each_stored_once() {
    let harness = Harness::start();
    // Webhooks need no OAuth: the integration and its webhook URL exist once created.
    let created = harness.post("/api/integrations/gitlab", &[], b"");
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let url = created.json()["webhook_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/webhook/gitlab/", harness.base)), "{url}");
    let stored =
        |inserted: u64, duplicates: u64| json!({"status": "ok", "inserted": inserted, "duplicates": duplicates});

    // The secret token: a push delivered twice (GitLab's retry keeps its `Idempotency-Key`) is stored once.
    let push = fixture("gitlab/webhooks/push_hook.push.json");
    let first = token_delivery(&harness, &url, "Push Hook", "key-1", WEBHOOK_TOKEN, push.as_bytes());
    assert_eq!((first.status, first.json()), (200, stored(1, 0)), "{}", first.body);
    let again = token_delivery(&harness, &url, "Push Hook", "key-1", WEBHOOK_TOKEN, push.as_bytes());
    assert_eq!((again.status, again.json()), (200, stored(0, 1)), "{}", again.body);
    // The token covers neither body nor id: the same body replayed under a new key is still stored once.
    let replayed = token_delivery(&harness, &url, "Push Hook", "key-2", WEBHOOK_TOKEN, push.as_bytes());
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert_eq!(replayed.json()["inserted"], 0, "{}", replayed.body);
    // A wrong token, or no credential at all: unauthenticated, nothing stored.
    let wrong = token_delivery(&harness, &url, "Push Hook", "key-3", "a guess", push.as_bytes());
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let bare = harness.post(
        &url,
        &[
            ("x-gitlab-event", "Push Hook".to_owned()),
            ("idempotency-key", "key-4".to_owned()),
        ],
        push.as_bytes(),
    );
    assert_eq!(bare.status, 401, "{}", bare.body);
    assert_eq!(harness.events(&id).len(), 1);

    // The signing token: a merge request delivered twice is stored once.
    let merge_request = fixture("gitlab/webhooks/merge_request_hook.merge_request.json");
    let body = merge_request.as_bytes();
    let now = harness.state.clock.now().timestamp();
    let event = "Merge Request Hook";
    let first = signed_delivery(&harness, &url, event, "msg_2dQ1fnpYCTR1ZUVXhN9d", now, body);
    assert_eq!((first.status, first.json()), (200, stored(1, 0)), "{}", first.body);
    let again = signed_delivery(&harness, &url, event, "msg_2dQ1fnpYCTR1ZUVXhN9d", now + 30, body);
    assert_eq!((again.status, again.json()), (200, stored(0, 1)), "{}", again.body);
    // Tampered with, or signed too long ago: refused.
    let tampered = merge_request.replacen("\"MS-Viewport\"", "\"MS-Viewport (edited)\"", 1);
    assert_ne!(tampered, merge_request);
    let mut headers = vec![
        ("x-gitlab-event", event.to_owned()),
        ("webhook-id", "msg_tampered".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", standard_signature("msg_tampered", now, body)),
    ];
    let refused = harness.post(&url, &headers, tampered.as_bytes());
    assert_eq!(refused.status, 401, "{}", refused.body);
    let stale = signed_delivery(&harness, &url, event, "msg_stale", now - 600, body);
    assert_eq!(stale.status, 401, "{}", stale.body);
    // A valid signature is not undone by a wrong token beside it, and a signature is never skipped for a token.
    headers[3].1 = standard_signature("msg_tampered", now, tampered.as_bytes());
    headers.push(("x-gitlab-token", "a guess".to_owned()));
    let signed_with_wrong_token = harness.post(&url, &headers, tampered.as_bytes());
    assert_eq!(signed_with_wrong_token.status, 200, "{}", signed_with_wrong_token.body);
    headers[3].1 = standard_signature("msg_other", now, tampered.as_bytes());
    headers[4].1 = WEBHOOK_TOKEN.to_owned();
    let bad_signature_good_token = harness.post(&url, &headers, tampered.as_bytes());
    assert_eq!(
        bad_signature_good_token.status, 401,
        "{}",
        bad_signature_good_token.body
    );

    let events = harness.events(&id);
    let kinds = domains_and_actions(&events);
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(kinds[2], "repository push", "{kinds:?}");
    assert!(
        kinds[..2].iter().all(|kind| kind.starts_with("merge_request ")),
        "{kinds:?}"
    );
    let push = events.iter().find(|event| event["domain"] == "repository").unwrap();
    assert_eq!(push["service"], "gitlab");
    assert!(
        push["blocks"].as_array().is_some_and(|blocks| !blocks.is_empty()),
        "{push}"
    );
    // Every verified delivery was kept in the inbox; none failed.
    let failed = harness.get("/api/inbox?status=failed").json();
    assert_eq!(failed, json!([]), "{failed}");
}
