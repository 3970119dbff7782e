//! Slack names: the enricher against a scripted fake of the Web API (`users.info`, `conversations.info`, a `429`
//! with `Retry-After`), and the whole loop with a store: each object looked up once, its name kept by later events.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertContext, Payload};
use spark_integrations::enrich::{EnrichContext, EnrichError, EnrichOutcome, RateLimitKind, Step};
use spark_integrations::model::Object;
use spark_integrations::providers::slack::{SlackPlugin, oauth};
use spark_integrations::store::{
    ActivityStore, EventQuery, MemoryStore, UntitledQuery, ingest_conversion, store_names,
};
use spark_integrations::{AccessToken, Plugin};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn plugin() -> SlackPlugin {
    SlackPlugin::new().with_oauth_provider(oauth::with_host("https://slack.test"))
}

/// The fake Slack Web API: a pure function from a request to a response, recording what it was asked.
struct FakeSlack {
    users: BTreeMap<&'static str, Value>,
    channels: BTreeMap<&'static str, Value>,
    /// Answer `429` with this `Retry-After` to the request with this (0-based) number.
    rate_limit_at: Option<(usize, &'static str)>,
    asked: Vec<String>,
}

impl FakeSlack {
    fn new() -> Self {
        let users = BTreeMap::from([
            (
                "U1",
                json!({"id": "U1", "name": "ada", "real_name": "Ada Lovelace",
                       "profile": {"display_name": "Ada", "real_name": "Ada Lovelace",
                                   "image_72": "https://avatars.slack-edge.test/ada_72.png"}}),
            ),
            (
                "U2",
                json!({"id": "U2", "name": "grace",
                       "profile": {"display_name": "", "real_name": "Grace Hopper",
                                   "image_48": "https://avatars.slack-edge.test/grace_48.png"}}),
            ),
        ]);
        let channels = BTreeMap::from([
            ("C1", json!({"id": "C1", "name": "general", "is_private": false})),
            ("D1", json!({"id": "D1", "is_im": true, "user": "U1"})),
        ]);
        Self {
            users,
            channels,
            rate_limit_at: None,
            asked: Vec::new(),
        }
    }

    fn answer(&mut self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let number = self.asked.len();
        self.asked.push(request.uri().to_string());
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(
            request.headers()["authorization"].to_str().unwrap(),
            "Bearer xoxb-test",
            "the integration's token"
        );
        assert!(request.headers()["authorization"].is_sensitive());
        if let Some((at, retry_after)) = self.rate_limit_at
            && at == number
        {
            return http::Response::builder()
                .status(429)
                .header("retry-after", retry_after)
                .body(br#"{"ok":false,"error":"ratelimited"}"#.to_vec())
                .unwrap();
        }
        let uri = request.uri();
        assert_eq!(uri.host(), Some("slack.test"), "the provider's API base");
        let query: BTreeMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let body = match uri.path() {
            "/api/users.info" => match self.users.get(query["user"].as_str()) {
                Some(user) => json!({"ok": true, "user": user}),
                None => json!({"ok": false, "error": "user_not_found"}),
            },
            "/api/conversations.info" => match self.channels.get(query["channel"].as_str()) {
                Some(channel) => json!({"ok": true, "channel": channel}),
                None => json!({"ok": false, "error": "channel_not_found"}),
            },
            other => panic!("unexpected method {other}"),
        };
        http::Response::new(serde_json::to_vec(&body).unwrap())
    }
}

fn object(kind: &'static str, id: &str) -> Object {
    let concept = kind.trim_start_matches("slack_");
    let mut object = Object::new(format!("slack:T1:{concept}:{id}"), concept, kind);
    object.metadata.insert("team".into(), json!("T1"));
    object.metadata.insert("id".into(), json!(id));
    object
}

/// Runs one round over `objects` against `fake`.
fn run(fake: &mut FakeSlack, objects: Vec<Object>) -> EnrichOutcome {
    let plugin = plugin();
    let token = AccessToken::new("xoxb-test");
    let context = EnrichContext::new("int-1").with_access_token(&token);
    let mut round = plugin.enricher().expect("Slack names objects").start(&context, objects);
    while let Step::Send(request) = round.step() {
        let response = fake.answer(&request);
        round.handle_response(response, now());
    }
    round.finish()
}

#[test]
fn users_and_channels_are_named_one_request_each() {
    let mut fake = FakeSlack::new();
    let outcome = run(
        &mut fake,
        vec![
            object("slack_user", "U1"),
            object("slack_user", "U2"),
            object("slack_channel", "C1"),
            object("slack_channel", "D1"),
        ],
    );
    assert_eq!(
        fake.asked,
        [
            "https://slack.test/api/users.info?user=U1",
            "https://slack.test/api/users.info?user=U2",
            "https://slack.test/api/conversations.info?channel=C1",
            "https://slack.test/api/conversations.info?channel=D1",
        ]
    );
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let named: Vec<(&str, Option<&str>, Option<&str>)> = outcome
        .updated
        .iter()
        .map(|object| {
            (
                object.key.as_str(),
                object.title.as_deref(),
                object.image_url.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (
                "slack:T1:user:U1",
                Some("Ada"),
                Some("https://avatars.slack-edge.test/ada_72.png")
            ),
            // An empty display name falls back to the real name.
            (
                "slack:T1:user:U2",
                Some("Grace Hopper"),
                Some("https://avatars.slack-edge.test/grace_48.png")
            ),
            ("slack:T1:channel:C1", Some("#general"), None),
            ("slack:T1:channel:D1", Some("direct message"), None),
        ]
    );
    let ada = &outcome.updated[0];
    assert_eq!(ada.metadata["name"], "ada");
    assert_eq!(ada.metadata["real_name"], "Ada Lovelace");
    assert_eq!(
        (&ada.metadata["team"], &ada.metadata["id"]),
        (&json!("T1"), &json!("U1")),
        "kept"
    );
    assert_eq!(outcome.updated[2].metadata["is_private"], false);
}

#[test]
fn a_failed_lookup_keeps_the_id_and_the_round_goes_on() {
    let mut fake = FakeSlack::new();
    let mut no_id = object("slack_user", "U3");
    no_id.metadata.remove("id");
    let outcome = run(
        &mut fake,
        vec![
            object("slack_user", "U404"),
            no_id,
            object("slack_bot", "B1"),
            object("slack_channel", "C1"),
        ],
    );
    assert_eq!(fake.asked.len(), 2, "nothing sent for what it cannot name");
    let failed: Vec<(&str, &EnrichError)> = outcome
        .failed
        .iter()
        .map(|failure| (failure.key.as_str(), &failure.error))
        .collect();
    assert_eq!(
        failed,
        [
            (
                "slack:T1:user:U404",
                &EnrichError::Provider {
                    code: "user_not_found".into()
                }
            ),
            (
                "slack:T1:user:U3",
                &EnrichError::Unsupported {
                    reason: "no `id` in its metadata"
                }
            ),
            (
                "slack:T1:bot:B1",
                &EnrichError::Unsupported {
                    reason: "not a Slack user or channel"
                }
            ),
        ]
    );
    assert_eq!(outcome.updated.len(), 1);
    assert!(outcome.rate_limit.is_none() && outcome.deferred.is_empty());
}

#[test]
fn a_429_with_retry_after_ends_the_round_until_then() {
    let mut fake = FakeSlack::new();
    fake.rate_limit_at = Some((1, "30"));
    let outcome = run(
        &mut fake,
        vec![
            object("slack_user", "U1"),
            object("slack_user", "U2"),
            object("slack_channel", "C1"),
        ],
    );
    assert_eq!(fake.asked.len(), 2, "nothing sent after the 429");
    let limit = outcome.rate_limit.expect("rate limited");
    assert_eq!(limit.until, now() + chrono::Duration::seconds(30));
    assert_eq!(limit.kind, RateLimitKind::RetryAfter(30));
    assert_eq!(outcome.updated.len(), 1);
    assert!(outcome.failed.is_empty(), "a rate limit is no failure of the object");
    assert_eq!(outcome.deferred, ["slack:T1:user:U2", "slack:T1:channel:C1"]);
}

#[test]
fn a_refused_token_ends_the_round_and_transport_errors_fail_one_object() {
    let plugin = plugin();
    let context = EnrichContext::new("int-1");
    let enricher = plugin.enricher().unwrap();
    let mut round = enricher.start(
        &context,
        vec![
            object("slack_user", "U1"),
            object("slack_user", "U2"),
            object("slack_user", "U3"),
        ],
    );
    let Step::Send(first) = round.step() else {
        panic!("a request")
    };
    assert!(first.headers().get("authorization").is_none(), "no token, no header");
    let Step::Send(again) = round.step() else {
        panic!("the same request")
    };
    assert_eq!(
        again.uri(),
        first.uri(),
        "asked again before an answer: the same request"
    );
    round.handle_transport_error(&"connection reset");
    let Step::Send(_) = round.step() else {
        panic!("the next object")
    };
    round.handle_response(
        http::Response::new(br#"{"ok":false,"error":"invalid_auth"}"#.to_vec()),
        now(),
    );
    assert!(matches!(round.step(), Step::Done));
    let outcome = round.finish();
    assert_eq!(
        outcome.failed.iter().map(|failure| &failure.error).collect::<Vec<_>>(),
        [
            &EnrichError::Transport {
                message: "connection reset".into()
            },
            &EnrichError::Unauthorized {
                code: "invalid_auth".into()
            },
        ]
    );
    assert_eq!(outcome.deferred, ["slack:T1:user:U3"]);
}

#[test]
fn no_answer_panics_the_round() {
    let answers: Vec<http::Response<Vec<u8>>> = vec![
        http::Response::new(b"not json".to_vec()),
        http::Response::new(b"[]".to_vec()),
        http::Response::new(br#"{"ok":true}"#.to_vec()),
        http::Response::new(br#"{"ok":true,"user":{"profile":{}}}"#.to_vec()),
        http::Response::builder().status(502).body(b"<html>".to_vec()).unwrap(),
        http::Response::builder()
            .status(429)
            .header("retry-after", "soon")
            .body(Vec::new())
            .unwrap(),
    ];
    for (index, answer) in answers.into_iter().enumerate() {
        let plugin = plugin();
        let mut round = plugin
            .enricher()
            .unwrap()
            .start(&EnrichContext::new("int-1"), vec![object("slack_user", "U1")]);
        let Step::Send(_) = round.step() else {
            panic!("a request")
        };
        round.handle_response(answer, now());
        let outcome = round.finish();
        assert!(outcome.updated.is_empty(), "answer {index}");
        if index == 5 {
            let limit = outcome.rate_limit.expect("a 429 without a number backs off");
            assert_eq!(limit.kind, RateLimitKind::Backoff(60));
        } else {
            assert_eq!(outcome.failed.len(), 1, "answer {index}");
        }
    }
}

/// The whole loop over a store: Slack events stored with ids, named once, then shown by name; later events of the
/// same user look nothing up again.
#[test]
fn objects_are_named_once_not_once_per_event() {
    let plugin = plugin();
    let converter = plugin.converter().unwrap();
    let mut store = MemoryStore::new();
    let deliver = |store: &mut MemoryStore, event_id: &str, event: &str| {
        let body = format!(
            r#"{{"type":"event_callback","team_id":"T1","event_id":"{event_id}","event_time":1740830400,
                "event":{event}}}"#
        );
        let conversion = converter
            .convert(Payload::Polled { body: body.as_bytes() }, &ConvertContext::new(now()))
            .unwrap();
        assert!(matches!(conversion, Conversion::Converted(_)), "{conversion:?}");
        ingest_conversion(store, "int-1", &conversion).unwrap();
    };
    let reaction = |ts: &str| {
        format!(
            r#"{{"type":"reaction_added","user":"U1","reaction":"thumbsup",
                "item":{{"type":"message","channel":"C1","ts":"1740830000.000100"}},"event_ts":"{ts}"}}"#
        )
    };
    let join = r#"{"type":"message","subtype":"channel_join","user":"U1","channel":"C1","ts":"1740830399.000100"}"#;
    deliver(&mut store, "Ev1", join);
    deliver(&mut store, "Ev2", &reaction("1740830400.000100"));

    let enricher = plugin.enricher().unwrap();
    let mut fake = FakeSlack::new();
    let mut rounds = 0;
    let name_all = |store: &mut MemoryStore, fake: &mut FakeSlack, rounds: &mut usize| {
        let objects = store
            .untitled_objects(&UntitledQuery::new("int-1", enricher.kinds().iter().copied(), 100))
            .unwrap();
        if objects.is_empty() {
            return;
        }
        *rounds += 1;
        let outcome = run(fake, objects);
        store_names(store, "int-1", &outcome.updated).unwrap();
    };
    name_all(&mut store, &mut fake, &mut rounds);
    assert_eq!(fake.asked.len(), 2, "one user and one channel, for two events");
    deliver(&mut store, "Ev3", &reaction("1740830402.000100"));
    name_all(&mut store, &mut fake, &mut rounds);
    assert_eq!(
        (fake.asked.len(), rounds),
        (2, 1),
        "a later event of the same user looks nothing up"
    );

    for stored in store.recent_events(&EventQuery::latest(10)).unwrap().events {
        assert_eq!(stored.event.actor.title.as_deref(), Some("Ada"));
        assert_eq!(
            stored.event.actor.image_url.as_deref(),
            Some("https://avatars.slack-edge.test/ada_72.png")
        );
    }
}
