//! The example host (`examples/server/`) end to end: started in-process on an ephemeral 127.0.0.1 port with a
//! temporary SQLite database (or a fresh Postgres schema), talking to a scripted fake GitHub and Slack on another
//! loopback port. One scenario walks every route, in the order a user meets them, on each database; another runs
//! two hosts on one Postgres database and checks that each delivery, poll and token refresh happens once.

use spark_host::poller;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use spark_integrations::store::{InboxQuery, InboxStore, IntegrationStore};
use spark_test_support::postgres as postgres_support;

use crate::outside_plugin;
use crate::server_support::{
    self, Answer, CLIENT_ID, CLIENT_SECRET, GITHUB_TOKEN, GITHUB_TOKEN_LIFETIME, Host, Providers, REFUSED_CODE,
    REPOSITORY, SLACK_TOKEN, Setup, Shared,
};

const GITHUB_WEBHOOK_SECRET: &str = "github webhook secret for the test";
const SLACK_SIGNING_SECRET: &str = "slack signing secret for the test";
/// The administrator's API token, given to every host of a test with `--admin-token`.
const ADMIN_TOKEN: &str = "spk_the-administrator-token-of-the-test";
/// Every host of a test signs OAuth states with this key, as instances behind one load balancer do.
const STATE_KEY: &str = "the state key all test hosts share, 32+ bytes";

/// The host with the fake GitHub and Slack of `server_support`, and what the fake saw.
struct Harness {
    host: Host,
    seen: Shared,
}

impl Deref for Harness {
    type Target = Host;

    fn deref(&self) -> &Host {
        &self.host
    }
}

impl Harness {
    /// A host on a SQLite database in a temporary directory, with fake providers of its own.
    fn start() -> Self {
        Self::start_on(None, None)
    }

    /// A host on SQLite with `extra` flags after the usual ones.
    fn start_with(extra: &[&str]) -> Self {
        Self::start_full(None, None, extra, Vec::new())
    }

    /// A host on the Postgres database at `postgres_url` (SQLite when `None`), with fake providers of its own or,
    /// to run beside another host, those of `beside`.
    fn start_on(postgres_url: Option<&str>, beside: Option<&Self>) -> Self {
        Self::start_full(postgres_url, beside, &[], Vec::new())
    }

    /// A host with `extra` flags after the usual ones and `services` offered beside the compiled-in ones, as a
    /// program embedding the host would add its own.
    fn start_full(
        postgres_url: Option<&str>,
        beside: Option<&Self>,
        extra: &[&str],
        services: Vec<spark_host::services::Service>,
    ) -> Self {
        let (providers, seen) = match beside {
            Some(other) => (Providers::Running(other.fake_base.clone()), Arc::clone(&other.seen)),
            None => {
                let seen = Shared::default();
                (Providers::Start(server_support::router(Arc::clone(&seen))), seen)
            }
        };
        let setup = Setup {
            providers,
            postgres_url,
            admin_token: ADMIN_TOKEN,
            services,
        };
        let host = Host::start(setup, |fake| {
            [
                "--github-client-id",
                CLIENT_ID,
                "--github-client-secret",
                CLIENT_SECRET,
                "--github-webhook-secret",
                GITHUB_WEBHOOK_SECRET,
                "--slack-client-id",
                CLIENT_ID,
                "--slack-client-secret",
                CLIENT_SECRET,
                "--slack-signing-secret",
                SLACK_SIGNING_SECRET,
                "--state-key",
                STATE_KEY,
                "--github-web-url",
                &format!("{fake}/github"),
                "--github-api-url",
                &format!("{fake}/github-api"),
                "--slack-web-url",
                &format!("{fake}/slack"),
                "--slack-api-url",
                &format!("{fake}/slack-api"),
                // The scheduler stays out of the way: this test polls through the fetch route.
                "--poll-every",
                "3600",
            ]
            .map(String::from)
            .into_iter()
            .chain(extra.iter().map(|arg| (*arg).to_owned()))
            .collect()
        });
        Self { host, seen }
    }

    fn token_requests(&self, service: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .token_requests
            .get(service)
            .copied()
            .unwrap_or(0)
    }

    fn integration(&self, service: &str) -> Value {
        let list = self.get("/api/integrations").json();
        list.as_array()
            .unwrap()
            .iter()
            .find(|item| item["service"] == service)
            .cloned()
            .unwrap()
    }

    fn events(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/api/events{query}"))
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Starts an OAuth flow and approves it at the fake provider: the callback URL the browser would be sent to,
    /// and the cookie the host set.
    fn authorize(&self, service: &str) -> (String, String) {
        let start = self.get(&format!("/integrations/{service}/oauth"));
        assert_eq!(start.status, 302, "{}", start.body);
        let cookie = start.header("set-cookie").to_owned();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/integrations"] {
            assert!(cookie.contains(attribute), "cookie lacks {attribute}: {cookie}");
        }
        let location = start.header("location").to_owned();
        assert!(
            location.starts_with(&format!("{}/{service}/", self.fake_base)),
            "{location}"
        );
        assert!(location.contains("code_challenge_method=S256"), "{location}");
        let approved = self.get(&location);
        assert_eq!(approved.status, 302, "{}", approved.body);
        let callback = approved.header("location").to_owned();
        assert!(
            callback.starts_with(&format!("{}/integrations/{service}/callback?", self.base)),
            "{callback}"
        );
        let cookie = cookie.split(';').next().unwrap().to_owned();
        (callback, cookie)
    }
}

/// The callback URL with one query parameter replaced.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(key, old)| {
            (
                key.to_string(),
                if key == name { value.to_owned() } else { old.to_string() },
            )
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

/// Sends a request with a `Content-Length` over the limit and no body: the host must refuse before reading.
fn declared_too_large(base: &str, path: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 30000000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn github_delivery(harness: &Harness, url: &str, delivery: &str, body: &[u8], signed: &[u8]) -> Answer {
    let headers = [
        ("x-github-event", "push".to_owned()),
        ("x-github-delivery", delivery.to_owned()),
        (
            "x-hub-signature-256",
            server_support::github_signature(GITHUB_WEBHOOK_SECRET, signed),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    harness.post(url, &headers, body)
}

fn slack_delivery(harness: &Harness, url: &str, timestamp: i64, body: &[u8], retry: bool) -> Answer {
    let mut headers = vec![
        ("x-slack-request-timestamp", timestamp.to_string()),
        (
            "x-slack-signature",
            server_support::slack_signature(SLACK_SIGNING_SECRET, timestamp, body),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    if retry {
        headers.push(("x-slack-retry-num", "1".to_owned()));
        headers.push(("x-slack-retry-reason", "http_timeout".to_owned()));
    }
    harness.post(url, &headers, body)
}

#[test]
fn the_host_walks_every_route() {
    walk_every_route(&Harness::start());
}

#[test]
fn the_host_walks_every_route_on_postgres() {
    let Some(url) = postgres_support::fresh_schema_url("the_host_walks_every_route_on_postgres") else {
        return;
    };
    walk_every_route(&Harness::start_on(Some(&url), None));
}

fn walk_every_route(harness: &Harness) {
    // Plugins.
    let plugins = harness.get("/api/plugins").json();
    let identifiers: Vec<&str> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers, ["github", "slack", "gitlab"]);
    assert_eq!(plugins[0]["connections"], json!(["oauth", "polling", "webhook"]));
    assert_eq!(plugins[1]["display_name"], "Slack");
    assert_eq!(plugins[0]["configuration_schema"]["fields"][0]["name"], "repositories");

    // Initializing is idempotent: one integration per service.
    let created = harness.post("/api/integrations/slack", &[], b"");
    assert_eq!(created.status, 201);
    let again = harness.post("/api/integrations/slack", &[], b"");
    assert_eq!(
        (again.status, again.json()["id"].clone()),
        (200, created.json()["id"].clone())
    );
    assert_eq!(harness.post("/api/integrations/jira", &[], b"").status, 404);

    // OAuth with GitHub: the route creates the integration; the fake checks PKCE at its token endpoint.
    let (callback, cookie) = harness.authorize("github");
    let connected = harness.get_with_cookie(&callback, &cookie);
    assert_eq!(
        (connected.status, connected.header("location")),
        (302, "/"),
        "{}",
        connected.body
    );
    assert_eq!(harness.token_requests("github"), 1);
    assert_eq!(harness.seen.lock().unwrap().pkce_failures, 0);
    let github = harness.integration("github");
    assert_eq!(
        (github["account_id"].as_str(), github["connected"].as_bool()),
        (Some("octocat"), Some(true))
    );
    let listed = harness.get("/api/integrations").body;
    assert!(!listed.contains(GITHUB_TOKEN), "tokens never leave the host: {listed}");

    // The same callback again: a reused state is refused before any token request.
    let replayed = harness.get_with_cookie(&callback, &cookie);
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert_eq!(harness.token_requests("github"), 1);

    // A tampered state: 400, and no token request.
    let (callback, cookie) = harness.authorize("github");
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let tampered_state = format!(
        "{}{}",
        &state[..state.len() - 1],
        if state.ends_with('A') { 'B' } else { 'A' }
    );
    let tampered = harness.get_with_cookie(&with_param(&callback, "state", &tampered_state), &cookie);
    assert_eq!(tampered.status, 400, "{}", tampered.body);
    assert!(tampered.body.contains("state"), "{}", tampered.body);
    assert_eq!(harness.token_requests("github"), 1);
    // Without the cookie there is no flow to finish.
    assert_eq!(harness.get(&callback).status, 400);

    // OAuth with Slack: a refused code (Slack's `ok:false`) stores nothing; then a good round trip.
    let (callback, cookie) = harness.authorize("slack");
    let refused = harness.get_with_cookie(&with_param(&callback, "code", REFUSED_CODE), &cookie);
    assert_eq!(refused.status, 302);
    assert!(
        refused.header("location").starts_with("/?error="),
        "{}",
        refused.header("location")
    );
    assert_eq!(harness.integration("slack")["connected"], false);
    let page = harness.get(refused.header("location"));
    assert!(page.body.contains("Authorization failed"), "the page shows the error");
    let (callback, cookie) = harness.authorize("slack");
    let connected = harness.get_with_cookie(&callback, &cookie);
    assert_eq!(
        (connected.status, connected.header("location")),
        (302, "/"),
        "{}",
        connected.body
    );
    let slack = harness.integration("slack");
    assert_eq!(
        (
            slack["account_id"].as_str(),
            slack["team_id"].as_str(),
            slack["connected"].as_bool()
        ),
        (Some("UBOT"), Some("T123"), Some(true))
    );
    assert_eq!(harness.seen.lock().unwrap().pkce_failures, 0);
    assert!(!harness.get("/api/integrations").body.contains(SLACK_TOKEN));

    // Configuration: every field error at once, then a valid one.
    let github_id = github["id"].as_str().unwrap().to_owned();
    let configure = format!("/api/integrations/{github_id}/configuration");
    let invalid = harness.put_json(&configure, &json!({"repositories": ["octocat"]}));
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let paths: Vec<Value> = invalid.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(paths, [json!("repositories[0]"), json!("events")]);
    let valid = json!({"repositories": [REPOSITORY], "events": ["PushEvent", "WatchEvent", "IssuesEvent"]});
    let stored = harness.put_json(&configure, &valid);
    assert_eq!((stored.status, stored.json()), (200, valid.clone()));
    assert_eq!(harness.integration("github")["configuration"], valid);
    assert_eq!(
        harness.put_json("/api/integrations/nope/configuration", &valid).status,
        404
    );

    // GitHub webhooks: a signed push delivered twice is stored once.
    let webhook = github["webhook_url"].as_str().unwrap().to_owned();
    let push = server_support::fixture("github-webhooks/push.default.4.json");
    let first = github_delivery(harness, &webhook, "delivery-1", push.as_bytes(), push.as_bytes());
    assert_eq!(
        (first.status, first.json()),
        (200, json!({"status": "ok", "inserted": 1, "duplicates": 0}))
    );
    let redelivered = github_delivery(harness, &webhook, "delivery-1", push.as_bytes(), push.as_bytes());
    assert_eq!(
        redelivered.json(),
        json!({"status": "ok", "inserted": 0, "duplicates": 1})
    );
    assert_eq!(harness.events(&format!("?integration={github_id}")).len(), 1);

    // Refused deliveries store nothing.
    let tampered_body = push.replacen("Codertocat", "CodertocaT", 1);
    let tampered = github_delivery(
        harness,
        &webhook,
        "delivery-2",
        tampered_body.as_bytes(),
        push.as_bytes(),
    );
    assert_eq!(tampered.status, 401, "{}", tampered.body);
    let unsigned = harness.post(
        &webhook,
        &[("x-github-event", "push".into()), ("x-github-delivery", "d-3".into())],
        push.as_bytes(),
    );
    assert_eq!(unsigned.status, 401);
    let unknown = github_delivery(
        harness,
        &format!("{}/webhook/github/not-a-routing-secret", harness.base),
        "d-4",
        push.as_bytes(),
        push.as_bytes(),
    );
    assert_eq!(unknown.status, 404);
    let unknown_service = github_delivery(
        harness,
        &webhook.replace("/github/", "/jira/"),
        "d-5",
        push.as_bytes(),
        push.as_bytes(),
    );
    assert_eq!(unknown_service.status, 404);
    let path = webhook.trim_start_matches(&harness.base);
    let too_large = declared_too_large(&harness.base, path);
    assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
    assert_eq!(harness.events(&format!("?integration={github_id}")).len(), 1);

    // Slack: `url_verification` is answered with its challenge; a stale timestamp is refused; retries dedupe.
    let slack_webhook = slack["webhook_url"].as_str().unwrap().to_owned();
    let now = harness.state.clock.now().timestamp();
    let verification = server_support::fixture("slack/url_verification.json");
    let challenge = slack_delivery(harness, &slack_webhook, now, verification.as_bytes(), false);
    assert_eq!(
        (challenge.status, challenge.body.as_str()),
        (200, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    );
    let message = server_support::fixture("slack/message.json");
    let stale = slack_delivery(harness, &slack_webhook, now - 600, message.as_bytes(), false);
    assert_eq!(stale.status, 401, "{}", stale.body);
    assert!(stale.body.contains("timestamp"), "{}", stale.body);
    let slack_id = slack["id"].as_str().unwrap();
    assert!(harness.events(&format!("?integration={slack_id}")).is_empty());
    let stored = slack_delivery(harness, &slack_webhook, now, message.as_bytes(), false);
    assert_eq!(stored.json(), json!({"status": "ok", "inserted": 1, "duplicates": 0}));
    let retried = slack_delivery(harness, &slack_webhook, now + 5, message.as_bytes(), true);
    assert_eq!(retried.json(), json!({"status": "ok", "inserted": 0, "duplicates": 1}));

    // Polling: two pages, then the provider's poll interval holds the next fetch back, then a 304.
    let fetch = format!("/api/integrations/{github_id}/fetch");
    let polled = harness.post(&fetch, &[], b"");
    assert_eq!(polled.status, 200, "{}", polled.body);
    assert_eq!(
        (polled.json()["inserted"].clone(), polled.json()["duplicates"].clone()),
        (json!(3), json!(0))
    );
    {
        let seen = harness.seen.lock().unwrap();
        let queries: Vec<&str> = seen.event_requests.iter().map(|(query, _)| query.as_str()).collect();
        assert_eq!(queries, ["per_page=100", "per_page=100&page=2"]);
    }
    let held = harness.post(&fetch, &[], b"");
    assert_eq!(held.status, 429, "{}", held.body);
    assert!(held.header("retry-after").parse::<u32>().unwrap() > 0);
    harness.state.clock.advance(61);
    let unchanged = harness.post(&fetch, &[], b"");
    assert_eq!(unchanged.status, 200, "{}", unchanged.body);
    assert_eq!(unchanged.json()["inserted"], 0);
    {
        let seen = harness.seen.lock().unwrap();
        assert_eq!(seen.not_modified, 1);
        assert_eq!(
            seen.event_requests.last().unwrap().1.as_deref(),
            Some("W/\"events-v1\"")
        );
    }
    // The provider's interval governs, shorter than a minute too: the host's cadence is no floor.
    harness.seen.lock().unwrap().poll_interval = Some(1);
    harness.state.clock.advance(61);
    let quick = harness.post(&fetch, &[], b"");
    assert_eq!(quick.status, 200, "{}", quick.body);
    harness.state.clock.advance(2);
    let again = harness.post(&fetch, &[], b"");
    assert_eq!(
        again.status, 200,
        "polled again 2 s after `X-Poll-Interval: 1`: {}",
        again.body
    );
    assert_eq!(harness.seen.lock().unwrap().not_modified, 3);
    assert_eq!(
        harness
            .post(&format!("/api/integrations/{slack_id}/fetch"), &[], b"")
            .status,
        422
    );

    // Events: newest first, per integration or all, with a bounded limit.
    let all = harness.events("?limit=500");
    assert_eq!(all.len(), 5);
    assert_eq!(harness.events(&format!("?integration={github_id}")).len(), 4);
    assert_eq!(harness.events("?limit=1").len(), 1);
    assert_eq!(harness.get("/api/events?limit=100000").status, 400);
    let times: Vec<&str> = all.iter().map(|event| event["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    // The page shows the integrations and the stored events, escaped, without scripts.
    let page = harness.get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(!page.body.contains("<script"));
    for expected in [
        "octocat",
        "UBOT in T123",
        "Codertocat",
        "chibuikemokoli",
        "weltenwandler",
        "LoneWolf4713",
        "/webhook/github/",
    ] {
        assert!(page.body.contains(expected), "the page lacks {expected}");
    }
    assert_eq!(
        page.body.matches("<li class=\"event\"").count(),
        5,
        "one entry per event"
    );
}

/// Instances started together on a fresh database all start: the host's own tables are created once, in turn.
#[test]
fn hosts_starting_together_on_a_fresh_postgres_database_all_start() {
    let Some(url) = postgres_support::fresh_schema_url("hosts_starting_together") else {
        return;
    };
    let started: Vec<u16> = std::thread::scope(|scope| {
        let hosts: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| Harness::start_on(Some(&url), None).get("/api/integrations").status))
            .collect();
        hosts.into_iter().map(|host| host.join().expect("started")).collect()
    });
    assert_eq!(started, [200; 4]);
}

/// Two hosts behind one load balancer, on one Postgres database: the provider's retries and redeliveries reach
/// both, both schedulers run, and the GitHub token expires while both want it.
#[test]
fn two_hosts_on_one_postgres_database_act_once() {
    let Some(url) = postgres_support::fresh_schema_url("two_hosts_on_one_postgres_database_act_once") else {
        return;
    };
    let a = Harness::start_on(Some(&url), None);
    let b = Harness::start_on(Some(&url), Some(&a));

    // One integration per service, even when both hosts are asked to create it at the same moment.
    let creators = 16;
    let start = std::sync::Barrier::new(creators);
    let created: Vec<Answer> = std::thread::scope(|scope| {
        let creators: Vec<_> = (0..creators)
            .map(|n| {
                let (host, start) = (if n % 2 == 0 { &a } else { &b }, &start);
                scope.spawn(move || {
                    start.wait();
                    host.post("/api/integrations/slack", &[], b"")
                })
            })
            .collect();
        creators.into_iter().map(|creator| creator.join().unwrap()).collect()
    });
    let bodies: Vec<&str> = created.iter().map(|answer| answer.body.as_str()).collect();
    assert_eq!(
        created.iter().filter(|answer| answer.status == 201).count(),
        1,
        "{bodies:?}"
    );
    assert!(
        created
            .iter()
            .all(|answer| answer.status == 200 || answer.status == 201),
        "{bodies:?}"
    );
    let listed = a.get("/api/integrations").json();
    let slack = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|integration| integration["service"] == "slack");
    assert_eq!(slack.count(), 1, "one Slack integration stored");

    // One database and one state key: a flow started on one host finishes on the other, once.
    let (callback, cookie) = a.authorize("github");
    let finished = b.get_with_cookie(&callback.replace(&a.base, &b.base), &cookie);
    assert_eq!(
        (finished.status, finished.header("location")),
        (302, "/"),
        "{}",
        finished.body
    );
    let replayed = a.get_with_cookie(&callback, &cookie);
    assert_eq!(
        replayed.status, 400,
        "the other host refuses the used state: {}",
        replayed.body
    );
    assert_eq!(a.token_requests("github"), 1);
    // Connected through one host, configured through the other, seen by both.
    let github = b.integration("github");
    assert_eq!(github["account_id"], "octocat");
    let id = github["id"].as_str().unwrap().to_owned();
    let valid = json!({"repositories": [REPOSITORY], "events": ["PushEvent", "WatchEvent", "IssuesEvent"]});
    let configured = b.put_json(&format!("/api/integrations/{id}/configuration"), &valid);
    assert_eq!(configured.status, 200, "{}", configured.body);
    assert_eq!(a.integration("github")["configuration"], valid);

    // Every delivery reaches both hosts at the same moment: each is stored once, with its commit.
    let webhook = github["webhook_url"].as_str().unwrap();
    let path = webhook.trim_start_matches(&a.base);
    let push = server_support::fixture("github-webhooks/push.default.4.json");
    let deliveries = 20;
    // Twenty pushes: each a body of its own (events are keyed by the signed body's hash).
    let pushes: Vec<String> = (0..deliveries)
        .map(|n| push.replacen('{', &format!("{{\"test_delivery\":{n},"), 1))
        .collect();
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let senders: Vec<_> = [&a, &b]
            .map(|host| {
                let pushes = &pushes;
                scope.spawn(move || {
                    (0..deliveries)
                        .map(|n| {
                            let body = pushes[n].as_bytes();
                            let answer = github_delivery(host, path, &format!("delivery-{n}"), body, body);
                            assert_eq!(answer.status, 200, "{}", answer.body);
                            answer.json()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .into_iter()
            .collect();
        senders.into_iter().flat_map(|sender| sender.join().unwrap()).collect()
    });
    let count = |key: &str| answers.iter().map(|answer| answer[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!((count("inserted"), count("duplicates")), (20, 20));
    let stored = a.events(&format!("?integration={id}&limit=500"));
    assert_eq!(stored.len(), 20);
    assert!(
        stored
            .iter()
            .all(|event| event["blocks"].as_array().unwrap().len() == 1)
    );

    // Both schedulers run at once: the due integration is polled by one of them.
    std::thread::scope(|scope| {
        for host in [&a, &b] {
            scope.spawn(move || poller::poll_due(&host.state));
        }
    });
    let first_pages = |seen: &Shared| {
        let seen = seen.lock().unwrap();
        seen.event_requests
            .iter()
            .filter(|(query, _)| query == "per_page=100")
            .count()
    };
    assert_eq!(first_pages(&a.seen), 1);
    assert_eq!(a.events(&format!("?integration={id}&limit=500")).len(), 23);
    let poll = b.state.db.read().poll_state(&id).unwrap();
    assert_eq!(poll.last_error, None);

    // The token expires; two pollers on each host want it at once. GitHub's refresh tokens are single use, so a
    // second refresh would fail and revoke the first: exactly one is sent, and everyone gets its new token.
    for host in [&a, &b] {
        host.state.clock.advance(GITHUB_TOKEN_LIFETIME);
    }
    let integration = a.state.db.read().find_integration(&id).unwrap().unwrap();
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let askers: Vec<_> = [&a, &a, &b, &b]
            .map(|host| {
                let integration = &integration;
                scope.spawn(move || {
                    let now = host.state.clock.now();
                    let token = poller::fresh_token(&host.state, integration, now).unwrap().unwrap();
                    token.expose_secret().to_owned()
                })
            })
            .into_iter()
            .collect();
        askers.into_iter().map(|asker| asker.join().unwrap()).collect()
    });
    let (refreshes, refused, current) = {
        let seen = a.seen.lock().unwrap();
        (seen.refreshes, seen.refused_refreshes, seen.github_tokens().0)
    };
    assert_eq!((refreshes, refused), (1, 0));
    assert_eq!(tokens, vec![current.clone(); 4]);
    assert_ne!(current, GITHUB_TOKEN);

    // "Poll now" while another instance polls the integration: 409, nothing polled twice; once that lease
    // expires (its instance died), the poll goes ahead, with the stored new token.
    let now = a.state.clock.now();
    let elsewhere = a
        .state
        .db
        .write()
        .acquire_poll_lease(&id, "a-third-instance", now, chrono::TimeDelta::seconds(30));
    assert!(elsewhere.unwrap().is_some());
    let requests_before = a.seen.lock().unwrap().event_requests.len();
    let busy = b.post(&format!("/api/integrations/{id}/fetch"), &[], b"");
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert_eq!(a.seen.lock().unwrap().event_requests.len(), requests_before);
    for host in [&a, &b] {
        host.state.clock.advance(31);
    }
    let polled = b.post(&format!("/api/integrations/{id}/fetch"), &[], b"");
    assert_eq!(polled.status, 200, "{}", polled.body);
    assert_eq!(polled.json()["errors"], json!([]));
    assert_eq!(a.seen.lock().unwrap().refreshes, 1);
}

/// The PostgreSQL server closes the host's connections (a restart, a failover): the request that meets a dead
/// connection fails (or two: see `PostgresStore::is_closed`), the host reconnects, and the ones after work again,
/// with the data still there.
#[test]
fn the_host_reconnects_when_postgres_closes_its_connections() {
    let Some(url) = postgres_support::fresh_schema_url("the_host_reconnects_when_postgres_closes_its_connections")
    else {
        return;
    };
    // Named, so that only this host's connections are closed, not those of the tests running beside it.
    let name = format!("spark_reconnect_{}", std::process::id());
    let host = Harness::start_on(Some(&format!("{url}&application_name={name}")), None);
    assert_eq!(host.post("/api/integrations/github", &[], b"").status, 201);

    assert!(
        postgres_support::terminate_connections(&name) > 0,
        "the host's connections were found"
    );

    let mut failed = 0;
    let listed = loop {
        let answer = host.get("/api/integrations");
        if answer.status == 200 {
            break answer;
        }
        assert_eq!(answer.status, 500, "{}", answer.body);
        failed += 1;
        // The client learns that its connection is gone from the request that meets it, or the one after.
        assert!(
            failed <= 2,
            "the host reconnects once its connection is known to be closed"
        );
    };
    assert_eq!(listed.json()[0]["service"], "github", "the data is still there");
    for _ in 0..10 {
        assert_eq!(host.get("/api/integrations").status, 200);
    }
}

/// A request as a browser or another user sends it: exactly these headers, no credentials added.
fn raw(harness: &Harness, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut request = http::Request::builder().method(method).uri(harness.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    harness.send_raw(request.body(body.to_vec()).unwrap())
}

/// The value of `name` in a `Set-Cookie` list, with its attributes.
fn set_cookie<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", answer.headers))
}

/// The `value` of the hidden `csrf` field of a page.
fn csrf_field(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

#[test]
fn every_route_needs_a_signed_in_user_and_users_see_only_their_own() {
    let harness = Harness::start();
    let bearer = |token: &str| format!("Bearer {token}");

    // Nobody signed in, or a wrong token: 401 with a JSON error on the API, a 303 to the sign-in page for pages.
    let protected = [
        ("GET", "/"),
        ("GET", "/integrations/github/oauth"),
        ("POST", "/logout"),
        ("GET", "/api/plugins"),
        ("GET", "/api/integrations"),
        ("POST", "/api/integrations/github"),
        ("PUT", "/api/integrations/github-admin/configuration"),
        ("POST", "/api/integrations/github-admin/fetch"),
        ("GET", "/api/events"),
        ("GET", "/api/users"),
        ("POST", "/api/users"),
    ];
    for credentials in [None, Some(bearer("spk_not-a-token")), Some(bearer(""))] {
        for (method, path) in protected {
            let headers: Vec<(&str, &str)> = credentials
                .iter()
                .map(|value| ("authorization", value.as_str()))
                .collect();
            let answer = raw(&harness, method, path, &headers, b"{}");
            if path.starts_with("/api/") {
                assert_eq!(answer.status, 401, "{method} {path} with {credentials:?}");
                assert!(answer.json()["error"].is_string(), "{method} {path}");
            } else {
                assert_eq!(
                    (answer.status, answer.header("location")),
                    (303, "/login"),
                    "{method} {path}"
                );
            }
        }
    }
    let health = raw(&harness, "GET", "/healthz", &[], b"");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    // The administrator creates a user; the token is shown once and works at once.
    let created = harness.post("/api/users", &[], br#"{"name":"alice"}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    let alice_token = created.json()["token"].as_str().unwrap().to_owned();
    let alice = bearer(&alice_token);
    let as_alice = [("authorization", alice.as_str())];
    assert_eq!(harness.post("/api/users", &[], br#"{"name":"alice"}"#).status, 409);
    assert_eq!(harness.post("/api/users", &[], br#"{"name":"no spaces"}"#).status, 422);
    let users = harness.get("/api/users");
    assert_eq!(users.status, 200);
    assert!(!users.body.contains(&alice_token), "tokens are never listed");
    // Users do not manage users.
    assert_eq!(raw(&harness, "GET", "/api/users", &as_alice, b"").status, 403);
    assert_eq!(
        raw(&harness, "POST", "/api/users", &as_alice, br#"{"name":"mallory"}"#).status,
        403
    );

    // The administrator's integration, with a stored event: invisible to Alice, on every route.
    let github = harness.post("/api/integrations/github", &[], b"").json();
    let admin_id = github["id"].as_str().unwrap().to_owned();
    let webhook = github["webhook_url"].as_str().unwrap().to_owned();
    let push = server_support::fixture("github-webhooks/push.default.4.json");
    let delivered = github_delivery(&harness, &webhook, "delivery-1", push.as_bytes(), push.as_bytes());
    assert_eq!(delivered.status, 200, "webhooks need no sign-in: {}", delivered.body);
    assert_eq!(harness.events("").len(), 1);
    let listed = raw(&harness, "GET", "/api/integrations", &as_alice, b"");
    assert_eq!(listed.json(), json!([]), "Alice has no integrations");
    assert_eq!(raw(&harness, "GET", "/api/events", &as_alice, b"").json(), json!([]));
    let secret = webhook.rsplit('/').next().unwrap();
    for (method, path, body) in [
        ("GET", format!("/api/events?integration={admin_id}"), &b""[..]),
        (
            "PUT",
            format!("/api/integrations/{admin_id}/configuration"),
            &br#"{"repositories":["a/b"],"events":["PushEvent"]}"#[..],
        ),
        ("POST", format!("/api/integrations/{admin_id}/fetch"), &b""[..]),
    ] {
        let answer = raw(&harness, method, &path, &as_alice, body);
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.body);
    }
    let page = raw(&harness, "GET", "/", &as_alice, b"");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(secret), "another user's webhook URL never shows");
    assert!(page.body.contains("No events yet"), "nor their events");
    // Alice's own integration of the same service is hers, under another id.
    let hers = raw(&harness, "POST", "/api/integrations/github", &as_alice, b"");
    assert_eq!(hers.status, 201);
    assert_ne!(hers.json()["id"], json!(admin_id));

    // An authorization the administrator started cannot be finished by Alice, nor by nobody.
    let (callback, cookie) = harness.authorize("github");
    let stolen = raw(
        &harness,
        "GET",
        &callback,
        &[("cookie", &cookie), ("authorization", &alice)],
        b"",
    );
    assert_ne!(stolen.status, 302, "{}", stolen.body);
    let anonymous = raw(&harness, "GET", &callback, &[("cookie", &cookie)], b"");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(harness.token_requests("github"), 0, "no token was requested for either");

    // Headers: HTML runs no script and is framed by nobody; JSON is never cached.
    let page = harness.get("/");
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(harness.get("/api/integrations").header("cache-control"), "no-store");

    // A page of another site reaching the host by DNS rebinding names another host: refused.
    let rebound = raw(&harness, "GET", "/healthz", &[("host", "attacker.example")], b"");
    assert_eq!(rebound.status, 421);

    // A configuration over the schema's cap is refused before anything is stored.
    let configure = format!("/api/integrations/{admin_id}/configuration");
    let repositories: Vec<String> = (0..101).map(|n| format!("octo/repo-{n}")).collect();
    let over = harness.put_json(
        &configure,
        &json!({"repositories": repositories, "events": ["PushEvent"]}),
    );
    assert_eq!(over.status, 422, "{}", over.body);
    assert!(over.body.contains("more than the 100 allowed"), "{}", over.body);
}

#[test]
fn signing_in_sets_a_session_cookie_and_forms_need_their_csrf_token() {
    let harness = Harness::start();
    let form = raw(&harness, "GET", "/login", &[], b"");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"token\""), "{}", form.body);
    let login_cookie = set_cookie(&form, "spark_login").split(';').next().unwrap().to_owned();
    let csrf = csrf_field(&form.body);
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    let post_login = |body: String| {
        raw(
            &harness,
            "POST",
            "/login",
            &[form_type, ("cookie", &login_cookie)],
            body.as_bytes(),
        )
    };

    // Without the form's own token (a cross-site post), or with a wrong API token: no session.
    let forged = post_login(format!("csrf=forged&token={ADMIN_TOKEN}"));
    assert_eq!(forged.status, 403);
    let wrong = post_login(format!("csrf={csrf}&token=spk_wrong"));
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .headers
            .get_all("set-cookie")
            .iter()
            .all(|value| !value.to_str().unwrap().starts_with("spark_session="))
    );

    let signed_in = post_login(format!("csrf={csrf}&token={ADMIN_TOKEN}"));
    assert_eq!((signed_in.status, signed_in.header("location")), (303, "/"));
    let session = set_cookie(&signed_in, "spark_session");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http: a Secure cookie would never come back"
    );
    let session = session.split(';').next().unwrap().to_owned();

    let page = raw(&harness, "GET", "/", &[("cookie", &session)], b"");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Signed in as admin"), "{}", page.body);
    let csrf = csrf_field(&page.body);

    // A cookie-authenticated change needs the session's CSRF token, as a header or a form field.
    let cookie = ("cookie", session.as_str());
    assert_eq!(
        raw(&harness, "POST", "/api/integrations/slack", &[cookie], b"").status,
        403
    );
    let with_header = raw(
        &harness,
        "POST",
        "/api/integrations/slack",
        &[cookie, ("x-csrf-token", &csrf)],
        b"",
    );
    assert_eq!(with_header.status, 201, "{}", with_header.body);
    assert_eq!(
        raw(&harness, "POST", "/logout", &[cookie, form_type], b"csrf=wrong").status,
        403
    );
    let out = raw(
        &harness,
        "POST",
        "/logout",
        &[cookie, form_type],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!((out.status, out.header("location")), (303, "/login"));
    let after = raw(&harness, "GET", "/", &[cookie], b"");
    assert_eq!(
        (after.status, after.header("location")),
        (303, "/login"),
        "the session ended"
    );
}

#[test]
fn https_hosts_mark_the_session_cookie_secure() {
    let harness = Harness::start_with(&["--base-url", "https://127.0.0.1:1"]);
    // The base URL names another port: requests say it in `Host`, as a proxy in front would pass it on.
    let host = ("host", "127.0.0.1:1");
    let form = raw(&harness, "GET", "/login", &[host], b"");
    let login_cookie = set_cookie(&form, "spark_login").split(';').next().unwrap().to_owned();
    let body = format!("csrf={}&token={ADMIN_TOKEN}", csrf_field(&form.body));
    let headers = [
        host,
        ("content-type", "application/x-www-form-urlencoded"),
        ("cookie", &login_cookie),
    ];
    let signed_in = raw(&harness, "POST", "/login", &headers, body.as_bytes());
    assert!(set_cookie(&signed_in, "spark_session").contains("; Secure"));
}

/// Opens a connection to the host and writes `head` (and nothing after it).
fn stall(harness: &Harness, head: &str) -> TcpStream {
    let address = harness.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(head.replace("{host}", address).as_bytes()).unwrap();
    stream
}

/// Reads what the host sends until it closes the connection, failing after `limit`.
fn until_closed(stream: &mut TcpStream, limit: std::time::Duration) -> (String, std::time::Duration) {
    let started = std::time::Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut answer = Vec::new();
    let result = stream.read_to_end(&mut answer);
    assert!(result.is_ok(), "still open after {limit:?}: {result:?}");
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[test]
fn stalled_requests_are_closed_and_unknown_webhooks_are_refused_unread() {
    let harness = Harness::start_with(&["--read-timeout", "1"]);
    let limit = std::time::Duration::from_secs(5);

    // Headers that never end, and a body that never comes: closed after the read timeout.
    let mut headers = stall(&harness, "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ");
    let (_, took) = until_closed(&mut headers, limit);
    assert!(took < limit, "{took:?}");
    let github = harness.post("/api/integrations/github", &[], b"").json();
    let webhook = github["webhook_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&harness.base)
        .to_owned();
    for path in [webhook.as_str(), "/login"] {
        let head = format!("POST {path} HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: 1000\r\n\r\n{{\"partial\":");
        let mut body = stall(&harness, &head);
        let (answer, took) = until_closed(&mut body, limit);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(took < limit, "{took:?}");
    }

    // An idle keep-alive connection does not hold its place for ever either.
    let mut idle = stall(&harness, "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (answer, _) = until_closed(&mut idle, limit);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // 20 MB announced to an unknown routing secret: refused at once, before a byte of the body is sent.
    let unknown = format!("/webhook/github/{}", "A".repeat(43));
    let head = format!("POST {unknown} HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: 20000000\r\n\r\n");
    let mut refused = stall(&harness, &head);
    let (answer, took) = until_closed(&mut refused, limit);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        took < std::time::Duration::from_millis(900),
        "answered without waiting for the body: {took:?}"
    );
    // Chunked, with no length to refuse by: the same.
    let head = format!("POST {unknown} HTTP/1.1\r\nHost: {{host}}\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n");
    let mut chunked = stall(&harness, &head);
    let (answer, _) = until_closed(&mut chunked, limit);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[test]
fn a_remembered_webhook_url_is_refused_once_its_integration_is_gone() {
    let harness = Harness::start();
    let github = harness.post("/api/integrations/github", &[], b"").json();
    let id = github["id"].as_str().unwrap().to_owned();
    let url = github["webhook_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&harness.base)
        .to_owned();
    let push = server_support::fixture("github-webhooks/push.default.4.json");
    let stored = github_delivery(&harness, &url, "delivery-1", push.as_bytes(), push.as_bytes());
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json()["inserted"], 1, "{}", stored.body);

    // Removed behind this host's back (as by another instance): the URL, remembered since the delivery above, leads
    // nowhere from the next delivery on, and nothing of that delivery is kept.
    match &*harness.state.db.write() {
        spark_host::store::Store::Sqlite(store) => {
            store
                .connection()
                .execute("DELETE FROM integrations WHERE id = ?1", [id.as_str()])
                .unwrap();
        }
        spark_host::store::Store::Postgres(_) => unreachable!("the harness runs on SQLite"),
    }
    let again = push.replacen('{', "{\"test_delivery\":2,", 1);
    let refused = github_delivery(&harness, &url, "delivery-2", again.as_bytes(), again.as_bytes());
    assert_eq!(refused.status, 404, "{}", refused.body);
    let kept = harness.state.db.read().list_inbox(&InboxQuery::new(10)).unwrap();
    assert_eq!(kept.len(), 1, "only the first delivery is kept: {kept:?}");
}

#[test]
fn connections_over_the_limit_wait_for_a_place_and_stalled_ones_give_theirs_up() {
    let harness = Harness::start_with(&["--read-timeout", "1", "--max-connections", "2"]);
    let started = std::time::Instant::now();
    let _hogs: Vec<TcpStream> = (0..2)
        .map(|_| stall(&harness, "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: "))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Both places are taken: the third connection is served once the stalled ones are closed, not before.
    let answer = raw(&harness, "GET", "/healthz", &[], b"");
    let waited = started.elapsed();
    assert_eq!(answer.status, 200);
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "served beside two held connections: {waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
}

/// Tally's fake, served over HTTP on a loopback port of its own: `TallyFake::answer` behind an axum fallback.
fn serve_tally(runtime: &tokio::runtime::Runtime) -> (String, Arc<outside_plugin::TallyFake>) {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}/tally", listener.local_addr().unwrap());
    let fake = Arc::new(outside_plugin::TallyFake::new(&base));
    let answering = Arc::clone(&fake);
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let fake = Arc::clone(&answering);
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
            let (parts, body) = fake.answer(http::Request::from_parts(parts, body)).into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::from(body))
        }
    });
    runtime.spawn(async move { axum::serve(listener, router).await });
    (base, fake)
}

#[test]
fn a_fourth_service_from_another_crate_runs_through_the_same_generic_host() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tally_base, fake) = serve_tally(&runtime);
    // An activity Tally's converter cannot read (no actor): the poll keeps it in the inbox, as failed.
    fake.publish(json!({"id": "act_99", "type": "task.created", "task": {"id": "T-199", "project": "apollo"}}));
    // The one entry a host adds for it: the plugin, its OAuth app, its webhook secret.
    let tally = spark_host::services::Service {
        plugin: Arc::new(outside_plugin::TallyPlugin::new(&tally_base)),
        oauth: Some(spark_host::services::OAuthApp {
            client_id: outside_plugin::CLIENT_ID.to_owned(),
            client_secret: spark_integrations::oauth::ClientSecret::new(outside_plugin::CLIENT_SECRET),
            scopes: vec!["tasks:read".to_owned()],
            user_scopes: Vec::new(),
        }),
        signing_secrets: vec![spark_integrations::webhook::WebhookSecret::new(
            outside_plugin::WEBHOOK_SECRET,
        )],
    };
    let harness = Harness::start_full(None, None, &[], vec![tally]);

    let plugins = harness.get("/api/plugins").json();
    let tally = plugins.as_array().unwrap().last().unwrap();
    assert_eq!(tally["identifier"], "tally", "offered after the compiled-in services");
    assert_eq!(tally["connections"], json!(["oauth", "polling", "webhook"]));

    // OAuth: the host's generic routes, the fake checking PKCE.
    let start = harness.get("/integrations/tally/oauth");
    assert_eq!(start.status, 302, "{}", start.body);
    let cookie = start.header("set-cookie").split(';').next().unwrap().to_owned();
    let authorize = start.header("location").to_owned();
    assert!(
        authorize.starts_with(&tally_base) && authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    let approved = harness.get(&authorize);
    assert_eq!(approved.status, 302, "{}", approved.body);
    let connected = harness.get_with_cookie(approved.header("location"), &cookie);
    assert_eq!(
        (connected.status, connected.header("location")),
        (302, "/"),
        "{}",
        connected.body
    );
    let integration = harness.integration("tally");
    assert_eq!(integration["connected"], true);
    let id = integration["id"].as_str().unwrap().to_owned();

    // A poll: the plugin's own poller, paging through the fake's `Link` headers.
    let configured = harness.put_json(
        &format!("/api/integrations/{id}/configuration"),
        &json!({"projects": ["apollo"]}),
    );
    assert_eq!(configured.status, 200, "{}", configured.body);
    // Tally asks for two hours between polls: its interval, not the host's default, sets the next poll.
    fake.set_poll_interval(Some(7200));
    let polled = harness.post(&format!("/api/integrations/{id}/fetch"), &[], b"");
    assert_eq!(polled.status, 200, "{}", polled.body);
    assert_eq!(polled.json()["inserted"], 3, "{}", polled.body);
    let polled_state = harness.integration("tally");
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(polled_state[field].as_str().unwrap_or_else(|| panic!("{polled_state}")))
            .unwrap()
    };
    let wait = time("next_poll_at") - time("last_polled_at");
    assert!(
        (7190..=7200).contains(&wait.num_seconds()),
        "the next poll follows Tally's interval: {polled_state}"
    );
    assert_eq!(
        polled.json()["errors"].as_array().map(Vec::len),
        Some(1),
        "{}",
        polled.body
    );
    let failed = harness.get("/api/inbox?status=failed&bodies=true").json();
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed}");
    assert_eq!(
        (failed[0]["origin"].as_str(), failed[0]["delivery_id"].as_str()),
        (Some("polled"), Some("act_99"))
    );
    assert!(
        failed[0]["body"].as_str().unwrap().contains("T-199"),
        "kept with its JSON: {failed}"
    );

    // Its own webhook scheme, verified by its verifier with the secret its entry gave: stored once when sent twice.
    let (headers, body) = outside_plugin::signed_delivery(
        outside_plugin::WEBHOOK_SECRET,
        "delivery-9",
        &outside_plugin::activity(9, "task.created"),
    );
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap().to_owned()))
        .collect();
    let webhook = integration["webhook_url"].as_str().unwrap();
    let first = harness.post(webhook, &headers, &body);
    assert_eq!(
        (first.status, first.json()["inserted"].clone()),
        (200, json!(1)),
        "{}",
        first.body
    );
    let again = harness.post(webhook, &headers, &body);
    assert_eq!(
        (again.status, again.json()["duplicates"].clone()),
        (200, json!(1)),
        "{}",
        again.body
    );
    let unsigned = harness.post(webhook, &[("x-tally-event", "task.created".to_owned())], &body);
    assert_eq!(
        unsigned.status, 401,
        "its missing credential is unauthenticated: {}",
        unsigned.body
    );

    // Its events on the page, with the rest.
    assert_eq!(harness.events(&format!("?integration={id}")).len(), 4);
    let page = harness.get("/").body;
    assert!(page.contains("Task 109") && page.contains("created task"), "{page}");
}

/// Tally with a converter that fails while `broken` is set: the converter a test "fixes" by clearing it.
struct Fixable {
    inner: outside_plugin::TallyPlugin,
    broken: Arc<std::sync::atomic::AtomicBool>,
}

impl spark_integrations::Plugin for Fixable {
    fn identifier(&self) -> &str {
        self.inner.identifier()
    }
    fn display_name(&self) -> &str {
        self.inner.display_name()
    }
    fn description(&self) -> &str {
        self.inner.description()
    }
    fn configuration_schema(&self) -> &spark_integrations::plugin::Schema {
        self.inner.configuration_schema()
    }
    fn converter(&self) -> Option<&dyn spark_integrations::Converter> {
        Some(self)
    }
    fn webhook_verifier(&self) -> Option<&dyn spark_integrations::webhook::WebhookVerifier> {
        self.inner.webhook_verifier()
    }
}

impl spark_integrations::Converter for Fixable {
    fn convert(
        &self,
        payload: spark_integrations::Payload<'_>,
        context: &spark_integrations::ConvertContext,
    ) -> Result<spark_integrations::Conversion, spark_integrations::ConvertError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(spark_integrations::ConvertError::MissingInput {
                what: "a converter without its bug",
            });
        }
        use spark_integrations::Plugin as _;
        self.inner
            .converter()
            .expect("Tally converts")
            .convert(payload, context)
    }
}

#[test]
fn the_inbox_keeps_failures_retries_them_once_fixed_and_replays_in_place() {
    use spark_integrations::Plugin as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tally_base, _fake) = serve_tally(&runtime);
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let plugin = Fixable {
        inner: outside_plugin::TallyPlugin::new(&tally_base),
        broken: Arc::clone(&broken),
    };
    assert_eq!(plugin.identifier(), "tally");
    let service = spark_host::services::Service {
        plugin: Arc::new(plugin),
        oauth: None,
        signing_secrets: vec![spark_integrations::webhook::WebhookSecret::new(
            outside_plugin::WEBHOOK_SECRET,
        )],
    };
    let harness = Harness::start_full(None, None, &[], vec![service]);
    let integration = harness.post("/api/integrations/tally", &[], b"").json();
    let (id, webhook) = (
        integration["id"].as_str().unwrap().to_owned(),
        integration["webhook_url"].as_str().unwrap().to_owned(),
    );
    let deliver = |n: u32| {
        let (headers, body) = outside_plugin::signed_delivery(
            outside_plugin::WEBHOOK_SECRET,
            &format!("delivery-{n}"),
            &outside_plugin::activity(n, "task.created"),
        );
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap().to_owned()))
            .collect();
        harness.post(&webhook, &headers, &body)
    };
    let events = || harness.events(&format!("?integration={id}")).len();

    // The converter fails: 202 (a redelivery would fail the same way), kept as failed, nothing stored.
    let failed = deliver(9);
    assert_eq!(
        (failed.status, failed.json()["status"].as_str()),
        (202, Some("failed")),
        "{}",
        failed.body
    );
    let inbox_id = failed.json()["inbox_id"].as_i64().unwrap();
    assert_eq!(events(), 0);
    let listed = harness.get("/api/inbox?status=failed").json();
    assert_eq!(listed[0]["id"], inbox_id, "{listed}");
    assert!(
        listed[0]["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("without its bug"),
        "{listed}"
    );
    assert!(listed[0].get("body").is_none(), "no bodies unless asked");

    // Fixed: the retry stores it, once.
    broken.store(false, Ordering::SeqCst);
    let retried = harness.post(&format!("/api/inbox/{inbox_id}/retry"), &[], b"");
    assert_eq!(
        (retried.status, retried.json()["status"].as_str()),
        (200, Some("done")),
        "{}",
        retried.body
    );
    assert_eq!(retried.json()["attempts"], 2);
    assert_eq!(events(), 1);
    let stored = deliver(10);
    assert_eq!(
        (stored.status, stored.json()["inserted"].clone()),
        (200, json!(1)),
        "{}",
        stored.body
    );
    assert_eq!(events(), 2);

    // Replaying derives every kept delivery again: the events are replaced in place, never duplicated.
    let replayed = harness.post("/api/inbox/replay?since=2000-01-01T00:00:00Z", &[], b"");
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert_eq!(
        (
            replayed.json()["replayed"].clone(),
            replayed.json()["inserted"].clone(),
            replayed.json()["updated"].clone()
        ),
        (json!(2), json!(0), json!(2))
    );
    assert_eq!(events(), 2);
    assert_eq!(
        harness.post("/api/inbox/replay", &[], b"").status,
        400,
        "`since` is required"
    );

    // The database refuses writes: 503 with `Retry-After`, and nothing of the delivery is kept or stored.
    let writable = |on: bool| {
        let store = harness.state.db.write();
        let spark_host::store::Store::Sqlite(sqlite) = &*store else {
            panic!("the test host runs on SQLite");
        };
        sqlite.connection().pragma_update(None, "query_only", !on).unwrap();
    };
    let kept_before = harness.get("/api/inbox?limit=500").json().as_array().unwrap().len();
    writable(false);
    let refused = deliver(11);
    writable(true);
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, "5"),
        "{}",
        refused.body
    );
    assert_eq!(
        harness.get("/api/inbox?limit=500").json().as_array().unwrap().len(),
        kept_before
    );
    assert_eq!(events(), 2);
    assert_eq!(deliver(11).status, 200, "sent again, it is stored");
    assert_eq!(events(), 3);

    // Another user sees none of it.
    let created = harness.post("/api/users", &[], br#"{"name":"bob"}"#).json();
    let bob = format!("Bearer {}", created["token"].as_str().unwrap());
    let theirs = raw(&harness, "GET", "/api/inbox", &[("authorization", &bob)], b"");
    assert_eq!(theirs.json(), json!([]));
    let retry = raw(
        &harness,
        "POST",
        &format!("/api/inbox/{inbox_id}/retry"),
        &[("authorization", &bob)],
        b"",
    );
    assert_eq!(retry.status, 404);
}

#[test]
fn a_push_from_year_10000_is_kept_as_failed_and_every_listing_still_reads() {
    let harness = Harness::start();
    let github = harness.post("/api/integrations/github", &[], b"").json();
    let webhook = github["webhook_url"].as_str().unwrap().to_owned();
    let mut push: Value =
        serde_json::from_str(&server_support::fixture("github-webhooks/push.default.4.json")).unwrap();
    for (n, pushed_at) in [253_402_300_800_i64, -62_135_596_801].into_iter().enumerate() {
        push["repository"]["pushed_at"] = pushed_at.into();
        let body = push.to_string();
        let answer = github_delivery(
            &harness,
            &webhook,
            &format!("far-{n}"),
            body.as_bytes(),
            body.as_bytes(),
        );
        assert_eq!(
            (answer.status, answer.json()["status"].as_str()),
            (202, Some("failed")),
            "{}",
            answer.body
        );
        assert!(
            answer.json()["error"]
                .as_str()
                .unwrap()
                .contains("repository.pushed_at"),
            "{}",
            answer.body
        );
    }
    assert_eq!(harness.get("/api/events").status, 200);
    assert_eq!(harness.get("/").status, 200);
    assert_eq!(
        harness.get("/api/inbox?status=failed").json().as_array().map(Vec::len),
        Some(2)
    );

    // A row that cannot be read back (written by an older version, or by hand) is left out of every listing and
    // reported; the other events still show.
    for (n, marker) in ["kept", "damaged"].into_iter().enumerate() {
        push["repository"]["pushed_at"] = 1_700_000_000_i64.into();
        push["marker"] = marker.into();
        let body = push.to_string();
        let answer = github_delivery(
            &harness,
            &webhook,
            &format!("near-{n}"),
            body.as_bytes(),
            body.as_bytes(),
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let events = harness.get("/api/events");
    assert_eq!(events.json().as_array().map(Vec::len), Some(2));
    assert_eq!(events.header("spark-skipped-rows"), "", "nothing skipped yet");
    let damaged = events.json()[1]["source_id"].as_str().unwrap().to_owned();
    let connection = spark_integrations::store::rusqlite::Connection::open(harness.sqlite_path()).unwrap();
    connection
        .execute(
            "UPDATE events SET time = '+10000-01-01T00:00:00.000000000Z' WHERE source_id = ?1",
            [&damaged],
        )
        .unwrap();
    let events = harness.get("/api/events");
    assert_eq!(events.status, 200);
    assert_eq!(events.json().as_array().map(Vec::len), Some(1), "{}", events.body);
    assert_ne!(events.json()[0]["source_id"], damaged.as_str());
    assert_eq!(events.header("spark-skipped-rows"), "1");
    let page = harness.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("1 stored event(s) could not be read"),
        "the page says so"
    );
    assert_eq!(page.body.matches("<li class=\"event\"").count(), 1);
}
