//! The timeline page in a real browser: the host runs in-process on SQLite with stored GitHub and Slack events,
//! the Slack objects are named by the background enricher against a fake Slack Web API, and `GET /` is checked as
//! HTML and then rendered by headless Chromium (`--dump-dom` for the DOM, `--screenshot` at 1280 and 400 px wide;
//! the screenshots are kept under `target/browser/`).
//!
//! Chromium cannot send a header from its command line, and the host signs in only with a bearer token or its
//! session cookie. So the test puts a small reverse proxy of its own between the browser and the host that adds
//! the administrator's bearer token to each request: the browser still loads the real page from the real host,
//! with the host's own response headers (its Content-Security-Policy included). Nothing is added to the host.
//!
//! Without `/usr/bin/chromium` the browser half prints that it was skipped and passes, except under `CI=true`,
//! where it fails.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use spark_host::enrich::{Enrichment, enrich_all};
use spark_integrations::convert::{Conversion, ConvertContext, Payload};
use spark_integrations::model::{Block, Event, Object};
use spark_integrations::oauth::TokenSet;
use spark_integrations::store::{IntegrationStore, ingest, ingest_conversion};
use spark_integrations::{AccessToken, Integration};

use crate::server_support::{self, Providers, Setup};

const ADMIN_TOKEN: &str = "spk_the-administrator-token-of-the-browser-test";
const SLACK_TOKEN: &str = "xoxb-browser-test";
const CHROMIUM: &str = "/usr/bin/chromium";

/// An inline avatar, so that the screenshot shows a picture without any network.
const ADA_AVATAR: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 40 40'%3E\
%3Crect width='40' height='40' fill='%23e15759'/%3E%3Ccircle cx='20' cy='15' r='8' fill='%23fff'/%3E\
%3Crect x='8' y='26' width='24' height='14' rx='7' fill='%23fff'/%3E%3C/svg%3E";

/// What the fake Slack was asked: (method, id).
type Asked = Arc<Mutex<Vec<(String, String)>>>;

async fn users_info(State(asked): State<Asked>, Query(query): Query<HashMap<String, String>>) -> axum::Json<Value> {
    let id = query.get("user").cloned().unwrap_or_default();
    asked.lock().unwrap().push(("users.info".into(), id.clone()));
    axum::Json(match id.as_str() {
        "U1" => json!({"ok": true, "user": {"id": "U1", "name": "ada",
            "profile": {"display_name": "Ada", "real_name": "Ada Lovelace", "image_72": ADA_AVATAR}}}),
        "U2" => json!({"ok": true, "user": {"id": "U2", "name": "grace",
            "profile": {"display_name": "", "real_name": "Grace <Hopper>",
                        "image_72": "https://avatars.invalid/grace.png"}}}),
        _ => json!({"ok": false, "error": "user_not_found"}),
    })
}

async fn conversations_info(
    State(asked): State<Asked>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let id = query.get("channel").cloned().unwrap_or_default();
    asked.lock().unwrap().push(("conversations.info".into(), id.clone()));
    axum::Json(match id.as_str() {
        "C1" => json!({"ok": true, "channel": {"id": "C1", "name": "general", "is_private": false}}),
        _ => json!({"ok": false, "error": "channel_not_found"}),
    })
}

/// The host with stored events, and the fake Slack it names them with.
struct Host {
    host: server_support::Host,
    asked: Asked,
}

impl Deref for Host {
    type Target = server_support::Host;

    fn deref(&self) -> &server_support::Host {
        &self.host
    }
}

impl Host {
    fn start() -> Self {
        let asked = Asked::default();
        let fake_router = Router::new()
            .route("/slack-api/users.info", get(users_info))
            .route("/slack-api/conversations.info", get(conversations_info))
            .with_state(Arc::clone(&asked));
        let setup = Setup {
            providers: Providers::Start(fake_router),
            postgres_url: None,
            admin_token: ADMIN_TOKEN,
            services: Vec::new(),
        };
        let host = server_support::Host::start(setup, |fake| {
            [
                "--slack-api-url",
                &format!("{fake}/slack-api"),
                // The background tasks stay out of the way: the test runs a naming pass itself.
                "--poll-every",
                "3600",
            ]
            .map(String::from)
            .to_vec()
        });
        Self { host, asked }
    }

    /// An active integration of `service` for the administrator, with a token.
    fn integration(&self, service: &str, configuration: Value) -> Integration {
        let mut integration = self.state.new_integration(service, "admin").unwrap().unwrap();
        integration.tokens = Some(TokenSet::new(AccessToken::new(SLACK_TOKEN)));
        integration.account_id = Some(format!("{service}-account"));
        let plugin = self.state.registry.get(service).unwrap();
        integration.configuration = Some(plugin.configuration_schema().validate(&configuration).unwrap());
        self.state.db.write().create_integration(&integration).unwrap();
        integration
    }

    /// `GET path` with the administrator's bearer token: status and body.
    fn get(&self, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }
}

/// A Slack Events API body around `event`.
fn slack_body(event_id: &str, event: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "event_callback", "team_id": "T1", "event_id": event_id,
        "event_time": 1_700_000_000, "event": event}))
    .unwrap()
}

fn ts(time: DateTime<Utc>) -> String {
    format!("{}.{:06}", time.timestamp(), time.timestamp_subsec_micros())
}

/// Stores a few days of activity: Slack events converted from Events API bodies (ids only), GitHub pushes and a
/// pull request as the converter makes them (with names and URLs).
fn store_activity(host: &Host, now: DateTime<Utc>) {
    let slack = host.integration("slack", json!({"events": ["message", "reaction_added", "file_shared"]}));
    let github = host.integration(
        "github",
        json!({"repositories": ["octo/hello"], "events": ["PushEvent", "PullRequestEvent"]}),
    );
    let converter = host.state.registry.get("slack").unwrap().converter().unwrap();
    let context = ConvertContext::new(now).with_integration(&slack.id);
    let deliveries = [
        (
            "Ev1",
            json!({"type": "message", "subtype": "channel_join", "user": "U2", "channel": "C1",
                   "ts": ts(now - Duration::days(3))}),
        ),
        (
            "Ev2",
            json!({"type": "message", "user": "U1", "channel": "C1", "text": "Shipping <today> & tomorrow",
                   "ts": ts(now - Duration::days(1))}),
        ),
        (
            "Ev3",
            json!({"type": "reaction_added", "user": "U1", "reaction": "thumbsup",
                   "item": {"type": "message", "channel": "C1", "ts": ts(now - Duration::days(2))},
                   "event_ts": ts(now - Duration::hours(2))}),
        ),
        (
            "Ev4",
            json!({"type": "reaction_added", "user": "U2", "reaction": "tada",
                   "item": {"type": "message", "channel": "C1", "ts": ts(now - Duration::days(2))},
                   "event_ts": ts(now - Duration::hours(1))}),
        ),
    ];
    for (event_id, event) in deliveries {
        let body = slack_body(event_id, &event);
        let conversion = converter.convert(Payload::Polled { body: &body }, &context).unwrap();
        assert!(matches!(conversion, Conversion::Converted(_)), "{conversion:?}");
        ingest_conversion(&mut *host.state.db.write(), &slack.id, &conversion).unwrap();
    }

    let mut octocat = Object::new("github:user:583231", "user", "github_user");
    octocat.title = Some("octocat".into());
    let mut repository = Object::new("github:repository:1296269", "repository", "github_repository");
    repository.title = Some("octo/hello".into());
    repository.url = Some("https://github.com/octo/hello".into());
    let mut events = Vec::new();
    for (index, (days, commits)) in [(0_i64, 3_i64), (2, 1), (5, 7), (12, 2), (28, 4)]
        .into_iter()
        .enumerate()
    {
        let mut push = Event::builder()
            .source_id(format!("push-{index}"))
            .time(now - Duration::days(days) - Duration::minutes(30))
            .service("github")
            .domain("repository")
            .action("push")
            .actor(octocat.clone())
            .target(repository.clone())
            .build()
            .expect("a complete event");
        push.value = Some(commits);
        push.value_unit = Some("commits".into());
        push.blocks = vec![Block::default(); usize::try_from(commits).unwrap()];
        events.push(push);
    }
    let mut pull = Object::new("github:pull_request:1", "pull_request", "github_pull_request");
    pull.title = Some("Add the timeline".into());
    pull.url = Some("https://github.com/octo/hello/pull/1".into());
    let mut opened = Event::builder()
        .source_id("pr-1")
        .time(now - Duration::days(2) - Duration::hours(3))
        .service("github")
        .domain("pull_request")
        .action("opened")
        .actor(octocat)
        .target(pull)
        .build()
        .expect("a complete event");
    opened.value = Some(1);
    opened.value_unit = Some("pull_request".into());
    opened
        .event_metadata
        .insert("repository_name".into(), json!("octo/hello"));
    events.push(opened);
    ingest(&mut *host.state.db.write(), &github.id, &events).unwrap();
}

/// Yesterday at noon (UTC): every time the test stores is an offset of it, so that each falls on a known day
/// whatever the time the test runs.
fn anchor(host: &Host) -> DateTime<Utc> {
    let today = host.state.clock.now().date_naive();
    (today - Duration::days(1)).and_hms_opt(12, 0, 0).unwrap().and_utc()
}

/// The host with activity stored and the Slack objects named.
fn host_with_named_activity() -> (Host, DateTime<Utc>) {
    let host = Host::start();
    let now = anchor(&host);
    store_activity(&host, now);
    let (status, before) = host.get("/");
    assert_eq!(status, 200);
    assert!(
        before.contains(">slack:T1:user:U1<"),
        "before naming, the page shows ids"
    );

    let mut memory = Enrichment::default();
    let report = enrich_all(&host.state, &mut memory);
    assert_eq!(
        (report.named, report.failed, report.rate_limited),
        (3, 0, 0),
        "{report:?}"
    );
    let mut asked = host.asked.lock().unwrap().clone();
    asked.sort();
    assert_eq!(
        asked,
        [
            ("conversations.info".to_owned(), "C1".to_owned()),
            ("users.info".to_owned(), "U1".to_owned()),
            ("users.info".to_owned(), "U2".to_owned()),
        ],
        "one request per object, not per event"
    );
    let again = enrich_all(&host.state, &mut memory);
    assert_eq!(again.looked_up, 0, "named once: nothing left to look up");
    (host, now)
}

/// Checks on the page's HTML or rendered DOM.
fn check_page(page: &str) {
    for expected in [
        "Signed in as admin",
        // Names and sentences, every value escaped.
        ">Ada</a> reacted :thumbsup: to a message in #general",
        ">Grace &lt;Hopper&gt;</a> reacted :tada: to a message in #general",
        ">Grace &lt;Hopper&gt;</a> joined <span class=\"target\">#general</span>",
        ">Ada</a> sent a message in #general",
        "<blockquote>Shipping &lt;today&gt; &amp; tomorrow</blockquote>",
        ">octocat</a> pushed 3 commits to <a class=\"target\" href=\"https://github.com/octo/hello\">octo/hello</a>",
        ">octocat</a> pushed 1 commit to",
        ">octocat</a> opened pull request <a class=\"target\" href=\"https://github.com/octo/hello/pull/1\">Add the timeline</a> in octo/hello",
        // The chart and its legend, the filters, the tables.
        "Activity, last 30 days",
        "<h2>Plugins</h2>",
        "<h2>Integrations</h2>",
        "name=\"csrf\"",
        "<select name=\"actor\">",
    ] {
        assert!(page.contains(expected), "the page lacks {expected:?}:\n{page}");
    }
    assert!(!page.contains(">slack:T1:"), "no ids shown where names are known");
    assert!(!page.contains("<script"), "no script");
    // Slack on three days, GitHub on five (yesterday, and 2, 5, 12 and 28 days before).
    let bars: Vec<&str> = page.split("<rect class=\"bar\"").skip(1).collect();
    assert_eq!(bars.len(), 8, "one bar per day and service with events: {page}");
    let counted: usize = bars
        .iter()
        .map(|bar| {
            let count = &bar[bar.find("data-count=\"").unwrap() + 12..];
            count[..count.find('"').unwrap()].parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(counted, 10, "every event counted once");
    assert!(
        page.contains("data-service=\"slack\" data-count=\"2\""),
        "two Slack events an hour or two ago"
    );
    // The HTML escapes the quotes in the inline picture; a browser's DOM shows them as they are.
    let escaped = ADA_AVATAR.replace('\'', "&#39;");
    assert!(
        page.contains(&format!("src=\"{escaped}\"")) || page.contains(&format!("src=\"{ADA_AVATAR}\"")),
        "Ada's avatar"
    );
}

#[test]
fn the_timeline_shows_names_sentences_and_the_chart() {
    let (host, _) = host_with_named_activity();
    let (status, page) = host.get("/");
    assert_eq!(status, 200);
    check_page(&page);
    // Newest first, grouped by day.
    let first_day = page.find("class=\"day\"").unwrap();
    assert!(page[first_day..].find("reacted :tada:") < page[first_day..].find("reacted :thumbsup:"));

    // Filters: by service, by actor, by integration.
    let (_, slack_only) = host.get("/?service=slack");
    assert!(slack_only.contains("reacted :tada:") && !slack_only.contains("pushed 3 commits"));
    let (_, ada_only) = host.get("/?actor=slack%3AT1%3Auser%3AU1");
    assert!(ada_only.contains("reacted :thumbsup:") && !ada_only.contains("reacted :tada:"));
    assert!(ada_only.contains("<option value=\"slack:T1:user:U1\" selected>Ada</option>"));
    let (_, github_only) = host.get("/?integration=github-admin");
    assert!(github_only.contains("pushed 7 commits") && !github_only.contains("#general"));
    let (_, nobody) = host.get("/?integration=someone-elses");
    assert!(nobody.contains("No events yet"));
}

#[test]
fn older_events_come_page_by_page_each_once() {
    let host = Host::start();
    let now = anchor(&host);
    let github = host.integration(
        "github",
        json!({"repositories": ["octo/hello"], "events": ["PushEvent"]}),
    );
    let mut actor = Object::new("github:user:1", "user", "github_user");
    actor.title = Some("octocat".into());
    let mut repository = Object::new("github:repository:1", "repository", "github_repository");
    repository.title = Some("octo/hello".into());
    // 120 pushes, ten of them at each instant: page boundaries fall inside groups of equal times.
    let events: Vec<Event> = (0..120)
        .map(|index| {
            let mut push = Event::builder()
                .source_id(format!("push-{index:03}"))
                .time(now - Duration::minutes(index / 10))
                .service("github")
                .domain("repository")
                .action("push")
                .actor(actor.clone())
                .target(repository.clone())
                .build()
                .expect("a complete event");
            push.value = Some(index);
            push.value_unit = Some("commits".into());
            push
        })
        .collect();
    ingest(&mut *host.state.db.write(), &github.id, &events).unwrap();

    let mut seen = Vec::new();
    let mut path = "/".to_owned();
    for _ in 0..5 {
        let (status, page) = host.get(&path);
        assert_eq!(status, 200);
        for (start, _) in page.match_indices("pushed ") {
            let count: String = page[start + 7..].chars().take_while(char::is_ascii_digit).collect();
            seen.push(count.parse::<i64>().unwrap());
        }
        match page.find("<a rel=\"next\" href=\"") {
            Some(start) => {
                let href = &page[start + 20..];
                path = href[..href.find('"').unwrap()].replace("&amp;", "&");
            }
            None => break,
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..120).collect::<Vec<_>>(), "every event once over the pages");
}

/// A reverse proxy for the browser: each connection's request goes to the host with the administrator's bearer
/// token and the host's `Host`, and `Connection: close`, so that every request comes on a connection of its own.
fn start_signing_proxy(host: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let host = host.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let host = host.clone();
            std::thread::spawn(move || {
                let _ = relay(client, &host);
            });
        }
    });
    format!("http://{address}")
}

fn relay(client: TcpStream, host: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    reader.read_line(&mut head)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let name = line.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(name.as_str(), "host" | "authorization" | "connection" | "cookie") {
            head.push_str(&line);
        }
    }
    head.push_str(&format!(
        "host: {host}\r\nauthorization: Bearer {ADMIN_TOKEN}\r\nconnection: close\r\n\r\n"
    ));
    let mut upstream = TcpStream::connect(host)?;
    upstream.write_all(head.as_bytes())?;
    // Whatever the browser sent after the head (a body) follows.
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    let mut client = client;
    client.write_all(&response)?;
    client.shutdown(std::net::Shutdown::Both)
}

/// Runs headless Chromium with `args` and a fresh profile; its standard output.
fn chromium(args: &[String]) -> String {
    let profile = std::env::temp_dir().join(format!("spark-chromium-{}-{}", std::process::id(), args.len()));
    let _ = std::fs::remove_dir_all(&profile);
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        let _ = stdout.read_to_string(&mut output);
        output
    });
    let deadline = Instant::now() + StdDuration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&profile);
    reader.join().unwrap()
}

/// Where the screenshots go: `target/browser/` of the workspace.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_timeline_renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{CHROMIUM} is missing: .ci/run installs the `chromium` package");
        }
        #[allow(clippy::print_stderr, reason = "says why the test did nothing")]
        {
            eprintln!("skipped: {CHROMIUM} is missing (install the `chromium` package)");
        }
        return;
    }
    let (host, _) = host_with_named_activity();
    let proxy = start_signing_proxy(&host.base);

    let dom = chromium(&["--dump-dom".to_owned(), format!("{proxy}/")]);
    assert!(dom.contains("</html>"), "chromium rendered nothing: {dom}");
    check_page(&dom);

    let dir = artifacts();
    for width in [1280, 400] {
        let path = dir.join(format!("timeline-{width}.png"));
        let _ = std::fs::remove_file(&path);
        chromium(&[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},2000"),
            format!("{proxy}/"),
        ]);
        let size = std::fs::metadata(&path).map(|metadata| metadata.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "a screenshot at {width} px: {} ({size} bytes)",
            path.display()
        );
    }
}
