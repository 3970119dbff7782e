//! The plugin contract proven from outside: Tally (`tally.rs`), a task tracker written against the
//! public API only, registered beside GitHub and Slack and driven through the generic code a host uses, looked up by
//! its identifier: the registry, the configuration schema, the OAuth client, the poll round, webhook intake and the
//! store. Everything runs in-process against `TallyFake::answer`.

use crate::tally;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use spark_integrations::oauth::{
    Authorized, ClaimError, ClientConfig, ClientSecret, OAuthClient, StateKey, TokenError, TokenSet, UsedStates,
};
use spark_integrations::plugin::{Connection, Descriptor, FieldError, Plugin, Registry, RegistryError, intake_for};
use spark_integrations::poll::{
    GapCause, PollContext, PollCursor, PollError, PollOutcome, PollRound, PollSetupError, RateLimitKind,
    ResourceCursor, Step,
};
use spark_integrations::providers::github::GithubPlugin;
use spark_integrations::providers::slack::SlackPlugin;
use spark_integrations::store::{ActivityStore, EventQuery, MemoryStore, ingest_conversion};
use spark_integrations::webhook::{HeaderRole, WebhookError, WebhookSecret};
use spark_integrations::{
    AccessToken, Configuration, Conversion, ConvertContext, ConvertError, Event, Integration, Payload, SkipReason,
};
use url::Url;

use tally::{
    API_VERSION, CLIENT_ID, CLIENT_SECRET, DEFAULT_POLL_INTERVAL, MAX_BODY_LEN, PROJECT, REFRESH_MARGIN, SERVICE,
    TOKEN_LIFETIME, TallyFake, TallyPlugin, WEBHOOK_SECRET, activity, signed_delivery,
};

/// Where the fake Tally lives; with a path, as when it shares a server with other fakes.
const BASE: &str = "https://tally.test/t";
const REDIRECT_URI: &str = "https://host.example/oauth/tally/callback";
const STATE_KEY: &str = "a state key of at least 32 bytes, for the tests";
const RANDOM: [u8; 32] = [7; 32];
const INTEGRATION: &str = "int_tally";
const USER: &str = "user_1";

/// 2025-03-14 15:00:00 UTC: the injected clock.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 0, 0).unwrap()
}

fn seconds(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// The host's registry: the two built-in services and Tally.
fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(GithubPlugin::new()).expect("github");
    registry.register(SlackPlugin::new()).expect("slack");
    registry.register(TallyPlugin::new(BASE)).expect("tally");
    registry
}

/// Tally, looked up by its identifier as a host does with the service in a route or on a stored integration.
fn tally(registry: &Registry) -> Arc<dyn Plugin> {
    Arc::clone(registry.get(SERVICE).expect("registered"))
}

/// The host's OAuth client for `plugin`, built from the plugin's own rules.
fn oauth_client(plugin: &dyn Plugin) -> OAuthClient {
    let provider = plugin.oauth_provider().expect("Tally connects with OAuth").clone();
    let config = ClientConfig::new(CLIENT_ID, ClientSecret::new(CLIENT_SECRET), REDIRECT_URI)
        .with_scopes(["projects:read", "tasks:read"]);
    OAuthClient::new(provider, config, StateKey::new(STATE_KEY)).expect("a valid client")
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

/// The query of the redirect the fake's authorize page answered with.
fn callback_query(redirect: &http::Response<Vec<u8>>) -> String {
    assert_eq!(
        redirect.status(),
        StatusCode::FOUND,
        "{:?}",
        String::from_utf8_lossy(redirect.body())
    );
    let location = Url::parse(redirect.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    location.query().expect("a code and the state").to_owned()
}

/// The whole authorization against the fake, as the host's routes run it; the stored tokens.
fn connect(fake: &TallyFake, client: &OAuthClient, at: DateTime<Utc>) -> TokenSet {
    let start = client.start(INTEGRATION, USER, at, &RANDOM);
    let query = callback_query(&fake.answer(get(&start.url)));
    let verified = client.callback(start.pending, &query, USER, at).unwrap();
    let request = verified.claim_with(&mut UsedStates::new()).unwrap();
    client.token_response(&fake.answer(request), at).unwrap().persisted()
}

fn configuration(plugin: &dyn Plugin, submitted: Value) -> Configuration {
    plugin
        .configuration_schema()
        .validate(&submitted)
        .expect("a valid configuration")
}

/// A request as the round handed it out: where it went, and its headers.
struct Sent {
    uri: String,
    headers: HeaderMap,
}

/// Runs a round to the end, answering each request with `answer`, every response arriving at `at`.
fn drive(
    mut round: Box<dyn PollRound>,
    at: DateTime<Utc>,
    mut answer: impl FnMut(http::Request<Vec<u8>>) -> http::Response<Vec<u8>>,
) -> (PollOutcome, Vec<Sent>) {
    let mut sent = Vec::new();
    while let Step::Send(request) = round.step() {
        sent.push(Sent {
            uri: request.uri().to_string(),
            headers: request.headers().clone(),
        });
        assert!(sent.len() < 50, "a round that never ends");
        round.handle_response(answer(request), at);
    }
    (round.finish(), sent)
}

/// A round of `plugin`'s poller for `configuration` with `token`, from `cursor`, at `at`.
fn start(
    plugin: &dyn Plugin,
    configuration: &Configuration,
    token: Option<&AccessToken>,
    cursor: PollCursor,
    at: DateTime<Utc>,
) -> Box<dyn PollRound> {
    let mut context = PollContext::new(INTEGRATION, configuration);
    if let Some(token) = token {
        context = context.with_access_token(token);
    }
    let poller = plugin.poller().expect("Tally is polled");
    poller.start(&context, cursor, at).expect("configured")
}

/// A first round, at `now()`, with no cursor yet.
fn fresh_round(plugin: &dyn Plugin, configuration: &Configuration, token: Option<&AccessToken>) -> Box<dyn PollRound> {
    start(plugin, configuration, token, PollCursor::default(), now())
}

fn ids(outcome: &PollOutcome) -> Vec<&str> {
    outcome.items.iter().map(|item| item.id.as_str()).collect()
}

/// The one event of a conversion.
fn only_event(conversion: &Conversion) -> &Event {
    match conversion {
        Conversion::Converted(events) if events.len() == 1 => &events[0],
        other => panic!("expected one event, got {other:?}"),
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<Vec<u8>> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

#[test]
fn tally_registers_beside_github_and_slack_with_connections_derived_from_its_capabilities() {
    let registry = registry();
    let order: Vec<_> = registry.iter().map(|plugin| plugin.identifier()).collect();
    assert_eq!(order, ["github", "slack", "tally"]);
    let plugin = tally(&registry);
    assert_eq!(
        plugin.connections(),
        Connection::OAuth | Connection::Polling | Connection::Webhook
    );
    let with = |connection| -> Vec<_> {
        registry
            .with_connection(connection)
            .map(|plugin| plugin.identifier())
            .collect()
    };
    assert_eq!(with(Connection::OAuth), ["github", "slack", "tally"]);
    assert_eq!(with(Connection::Polling), ["github", "tally"]);
    assert_eq!(with(Connection::Webhook), ["github", "slack", "tally"]);

    let provider = plugin.oauth_provider().expect("OAuth");
    assert_eq!(provider.id(), "tally");
    assert_eq!(provider.authorize_url(), "https://tally.test/t/oauth/authorize");
    assert_eq!(provider.token_url(), "https://tally.test/t/oauth/token");
    assert_eq!(provider.api_base(), "https://tally.test/t/api/v1");
    assert_eq!(provider.refresh_margin(), REFRESH_MARGIN);
    assert!(plugin.converter().is_some());

    let descriptor = serde_json::to_value(Descriptor::of(plugin.as_ref())).unwrap();
    assert_eq!(descriptor["identifier"], "tally");
    assert_eq!(descriptor["display_name"], "Tally");
    assert_eq!(descriptor["connections"], json!(["oauth", "polling", "webhook"]));
    assert_eq!(descriptor["configuration_schema"]["fields"][0]["name"], "projects");
    assert_eq!(descriptor["configuration_schema"]["fields"][0]["required"], true);
    assert_eq!(
        descriptor["configuration_schema"]["fields"][1]["options"][1],
        json!({"value": "task.completed", "label": "Tasks completed"})
    );

    let mut registry = registry;
    assert_eq!(
        registry
            .register(TallyPlugin::new("https://elsewhere.test"))
            .unwrap_err(),
        RegistryError::Duplicate {
            identifier: "tally".to_owned()
        }
    );
}

#[test]
fn configuration_is_checked_by_tallys_schema_and_the_integration_accepts_webhooks() {
    let registry = registry();
    let plugin = tally(&registry);
    let schema = plugin.configuration_schema();
    let valid = schema
        .validate(&json!({"projects": ["apollo", "gemini"], "events": ["task.completed", "comment.added"]}))
        .expect("valid");
    assert_eq!(valid.strings("projects").collect::<Vec<_>>(), ["apollo", "gemini"]);
    assert!(
        schema.validate(&json!({"projects": ["apollo"]})).is_ok(),
        "events are optional"
    );

    let errors = schema
        .validate(&json!({"projects": [], "events": ["task.deleted"], "color": "red"}))
        .unwrap_err();
    assert_eq!(
        errors.errors(),
        [
            FieldError::Empty {
                path: "projects".to_owned()
            },
            FieldError::NotAnOption {
                path: "events[0]".to_owned(),
                value: "task.deleted".to_owned()
            },
            FieldError::UnknownField {
                path: "color".to_owned()
            },
        ]
    );
    let missing = schema.validate(&json!({})).unwrap_err();
    assert_eq!(
        missing.errors(),
        [FieldError::Missing {
            path: "projects".to_owned()
        }]
    );

    let mut integration = Integration::initialize(plugin.as_ref(), INTEGRATION, USER, &[9; 32]);
    assert_eq!(
        (integration.service.as_str(), integration.display_name.as_str()),
        ("tally", "Tally")
    );
    let routing = integration.routing_secret.clone().expect("Tally accepts webhooks");
    let url = integration
        .webhook_url(&Url::parse("https://host.example/").unwrap())
        .unwrap();
    assert_eq!(
        url.as_str(),
        format!("https://host.example/webhook/tally/{}", routing.expose_secret())
    );

    // Before it is configured there is nothing to poll; once configured, the poller reads what the schema checked.
    assert!(PollContext::of(&integration).is_none());
    let poller = plugin.poller().expect("polled");
    let empty = Configuration::default();
    assert!(matches!(
        poller.start(&PollContext::new(INTEGRATION, &empty), PollCursor::default(), now()),
        Err(PollSetupError::NotConfigured)
    ));
    integration.configuration = Some(valid);
    let context = PollContext::of(&integration).expect("configured");
    let Ok(mut round) = poller.start(&context, PollCursor::default(), now()) else {
        panic!("configured");
    };
    let Step::Send(first) = round.step() else {
        panic!("a request for the first project");
    };
    assert_eq!(first.uri(), "https://tally.test/t/api/v1/projects/apollo/events");
    assert!(first.headers().get(header::AUTHORIZATION).is_none(), "no token yet");
    let outcome = round.finish();
    assert_eq!(
        outcome.deferred,
        ["apollo", "gemini"],
        "a round ended early defers the rest"
    );
}

#[test]
fn oauth_round_trip_with_pkce_against_the_fake() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    let client = oauth_client(plugin.as_ref());

    let start = client.start(INTEGRATION, USER, now(), &RANDOM);
    let url = Url::parse(&start.url).unwrap();
    assert_eq!(&url[..url::Position::AfterPath], "https://tally.test/t/oauth/authorize");
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43, "BASE64URL(SHA-256) without padding");
    assert_eq!(params["scope"], "projects:read,tasks:read", "Tally's scope separator");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["redirect_uri"], REDIRECT_URI);

    // The user approves; the fake redirects back with a code and the state.
    let query = callback_query(&fake.answer(get(&start.url)));
    let verified = client.callback(start.pending.clone(), &query, USER, now()).unwrap();
    assert_eq!(verified.integration_id(), INTEGRATION);
    let mut ledger = UsedStates::new();
    let request = verified.claim_with(&mut ledger).unwrap();
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri(), "https://tally.test/t/oauth/token");
    assert_eq!(
        request.headers()["x-tally-version"],
        API_VERSION,
        "the provider's header"
    );
    let persist = client.token_response(&fake.answer(request), now()).unwrap();
    let stored = serde_json::to_value(persist.tokens()).unwrap(); // the host's store
    let tokens = persist.persisted();
    assert_eq!(stored["access_token"], tokens.access_token.expose_secret());
    assert!(tokens.access_token.expose_secret().starts_with("tly_at_"));
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.expires_at, Some(now() + seconds(TOKEN_LIFETIME)));
    assert_eq!(tokens.scopes, ["projects:read", "tasks:read"]);
    assert_eq!(
        tokens.ids.get("workspace_id").map(String::as_str),
        Some("W-7"),
        "kept id"
    );

    // The same callback again is refused before anything is sent.
    let replay = client.callback(start.pending, &query, USER, now()).unwrap();
    assert_eq!(replay.claim_with(&mut ledger).unwrap_err(), ClaimError::AlreadyUsed);

    // The account the tokens belong to, through the provider's lookup.
    let Authorized::Send(request) = client.account_request(&tokens, now()) else {
        panic!("fresh tokens");
    };
    assert_eq!(request.uri(), "https://tally.test/t/api/v1/me");
    assert_eq!(
        request.headers()[header::AUTHORIZATION],
        format!("Bearer {}", tokens.access_token.expose_secret())
    );
    let account = client.account_response(&fake.answer(request)).unwrap();
    assert_eq!(account.id, "42", "a numeric id, read as its decimal text");
    assert_eq!(account.name.as_deref(), Some("Ada Lovelace"));
}

#[test]
fn the_fake_holds_to_pkce_s256_and_single_use_codes() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    let client = oauth_client(plugin.as_ref());

    // A flow without S256 is refused at the authorize page.
    let start = client.start(INTEGRATION, USER, now(), &RANDOM);
    let plain = start
        .url
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    assert_eq!(fake.answer(get(&plain)).status(), StatusCode::BAD_REQUEST);

    // A verifier that does not hash to the challenge gets no tokens: `invalid_grant`, authorize again.
    let query = callback_query(&fake.answer(get(&start.url)));
    let verified = client.callback(start.pending, &query, USER, now()).unwrap();
    let request = verified.claim_with(&mut UsedStates::new()).unwrap();
    let (parts, body) = request.into_parts();
    let tampered: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(&body).map(|(name, value)| {
            let value = if name == "code_verifier" {
                "a".repeat(43).into()
            } else {
                value
            };
            (name, value)
        }))
        .finish();
    assert_ne!(tampered.as_bytes(), body, "the verifier was replaced");
    let error = client
        .token_response(
            &fake.answer(http::Request::from_parts(parts, tampered.into_bytes())),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(&error, TokenError::Reauthorize { code, .. } if code == "invalid_grant"),
        "{error:?}"
    );
    assert!(error.needs_reauthorization());

    // The genuine request works once; the same code twice is refused.
    let start = client.start(INTEGRATION, USER, now(), &[8; 32]);
    let query = callback_query(&fake.answer(get(&start.url)));
    let verified = client.callback(start.pending, &query, USER, now()).unwrap();
    let request = verified.claim_with(&mut UsedStates::new()).unwrap();
    let (parts, body) = request.into_parts();
    let again = http::Request::from_parts(parts.clone(), body.clone());
    assert!(
        client
            .token_response(&fake.answer(http::Request::from_parts(parts, body)), now())
            .is_ok()
    );
    assert!(matches!(
        client.token_response(&fake.answer(again), now()),
        Err(TokenError::Reauthorize { .. })
    ));
}

#[test]
fn refresh_follows_tallys_margin_and_rotates_the_tokens() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    let client = oauth_client(plugin.as_ref());
    let tokens = connect(&fake, &client, now());
    let expires_at = tokens.expires_at.expect("Tally's tokens expire");

    // Tally's margin is 10 minutes: 9 minutes before expiry a refresh is due (the default 5 would say not yet).
    assert!(!client.refresh_due(&tokens, expires_at - TimeDelta::minutes(11)));
    let later = expires_at - TimeDelta::minutes(9);
    assert!(client.refresh_due(&tokens, later));
    assert!(matches!(
        client.api_request(&tokens, Method::GET, "/me", later),
        Ok(Authorized::RefreshFirst(_))
    ));

    let request = client.refresh_request(&tokens, later).unwrap();
    assert_eq!(request.uri(), "https://tally.test/t/oauth/token");
    let refreshed = client
        .refresh_response(&tokens, &fake.answer(request), later)
        .unwrap()
        .persisted();
    assert_ne!(refreshed.access_token, tokens.access_token);
    assert_ne!(
        refreshed.refresh_token, tokens.refresh_token,
        "Tally rotates refresh tokens"
    );
    assert_eq!(refreshed.expires_at, Some(later + seconds(TOKEN_LIFETIME)));
    assert_eq!(refreshed.ids.get("workspace_id").map(String::as_str), Some("W-7"));
    assert!(!client.refresh_due(&refreshed, later));

    // The new access token works; the old one was revoked by the refresh.
    let Authorized::Send(request) = client.account_request(&refreshed, later) else {
        panic!("fresh tokens");
    };
    assert_eq!(client.account_response(&fake.answer(request)).unwrap().id, "42");
    let old = TokenSet::new(tokens.access_token.clone());
    let Authorized::Send(request) = client.account_request(&old, later) else {
        panic!("no expiry known");
    };
    assert!(client.account_response(&fake.answer(request)).is_err());

    // Refreshing with the rotated-out refresh token: Tally's own `token_revoked`, classified by the plugin.
    let stale = client.refresh_request(&tokens, later).unwrap();
    let error = client
        .refresh_response(&tokens, &fake.answer(stale), later)
        .unwrap_err();
    assert!(
        matches!(&error, TokenError::Reauthorize { code, .. } if code == "token_revoked"),
        "{error:?}"
    );
}

#[test]
fn a_poll_pages_through_link_headers_and_converts_every_item() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    fake.set_poll_interval(Some(1));
    let tokens = connect(&fake, &oauth_client(plugin.as_ref()), now());
    let configuration = configuration(plugin.as_ref(), json!({"projects": [PROJECT]}));

    let round = fresh_round(plugin.as_ref(), &configuration, Some(&tokens.access_token));
    let (outcome, sent) = drive(round, now(), |request| fake.answer(request));

    let uris: Vec<_> = sent.iter().map(|sent| sent.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "https://tally.test/t/api/v1/projects/apollo/events",
            "https://tally.test/t/api/v1/projects/apollo/events?page=2",
        ]
    );
    let bearer = format!("Bearer {}", tokens.access_token.expose_secret());
    for sent in &sent {
        assert_eq!(sent.headers[header::AUTHORIZATION], bearer.as_str());
        assert_eq!(sent.headers["x-tally-version"], API_VERSION);
        assert!(sent.headers.get(header::IF_NONE_MATCH).is_none(), "nothing stored yet");
    }

    assert_eq!(ids(&outcome), ["act_3", "act_2", "act_1"], "newest first");
    let kinds: Vec<_> = outcome.items.iter().map(|item| item.kind.as_str()).collect();
    assert_eq!(kinds, ["task.completed", "comment.added", "task.created"]);
    for item in &outcome.items {
        assert_eq!(item.resource, PROJECT);
        let event = only_event(item.conversion.as_ref().expect("converted"));
        assert_eq!(event.source_id, item.id);
        assert_eq!(event.service, "tally");
    }
    let comment = only_event(outcome.items[1].conversion.as_ref().unwrap());
    assert_eq!((comment.domain.as_str(), comment.action.as_str()), ("comment", "added"));
    assert_eq!(comment.blocks[0].content.as_deref(), Some("Comment 2"));

    assert_eq!(
        outcome.cursor.resources[PROJECT],
        ResourceCursor::new()
            .with_etag("W/\"apollo-3\"")
            .with_last_seen_id("act_3")
    );
    assert_eq!(outcome.next_poll_at, now() + seconds(1), "Tally said 1 s: not a minute");
    assert_eq!((outcome.stats.requests, outcome.stats.fetched), (2, 3));
    assert!(outcome.gaps.is_empty() && outcome.errors.is_empty() && outcome.deferred.is_empty());
    assert!(outcome.rate_limit.is_none());
}

#[test]
fn the_next_round_stops_at_the_last_seen_item_and_a_quiet_one_is_not_modified() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    fake.set_poll_interval(Some(1));
    let tokens = connect(&fake, &oauth_client(plugin.as_ref()), now());
    let token = Some(&tokens.access_token);
    let configuration = configuration(plugin.as_ref(), json!({"projects": [PROJECT]}));
    let round = fresh_round(plugin.as_ref(), &configuration, token);
    let (first, _) = drive(round, now(), |request| fake.answer(request));

    fake.publish(activity(4, "task.created"));
    let t1 = now() + seconds(2);
    let round = start(plugin.as_ref(), &configuration, token, first.cursor, t1);
    let (second, sent) = drive(round, t1, |request| fake.answer(request));
    assert_eq!(sent.len(), 1, "the first page reaches the last seen item");
    assert_eq!(sent[0].headers[header::IF_NONE_MATCH], "W/\"apollo-3\"");
    assert_eq!(ids(&second), ["act_4"]);
    assert_eq!(
        second.cursor.resources[PROJECT],
        ResourceCursor::new()
            .with_etag("W/\"apollo-4\"")
            .with_last_seen_id("act_4")
    );
    assert!(second.gaps.is_empty());

    let t2 = t1 + seconds(2);
    let round = start(plugin.as_ref(), &configuration, token, second.cursor.clone(), t2);
    let (third, _) = drive(round, t2, |request| fake.answer(request));
    assert!(third.items.is_empty());
    assert_eq!(third.stats.not_modified, 1);
    assert_eq!(third.cursor, second.cursor, "a 304 keeps the cursor");
    assert_eq!(third.next_poll_at, t2 + seconds(1));
}

#[test]
fn tallys_interval_decides_the_next_poll_longer_or_shorter_and_the_default_only_without_one() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    let tokens = connect(&fake, &oauth_client(plugin.as_ref()), now());
    let configuration = configuration(plugin.as_ref(), json!({"projects": [PROJECT]}));
    for (interval, expected) in [
        (Some(1), now() + seconds(1)),
        (Some(900), now() + seconds(900)),
        (None, now() + DEFAULT_POLL_INTERVAL),
    ] {
        fake.set_poll_interval(interval);
        let round = fresh_round(plugin.as_ref(), &configuration, Some(&tokens.access_token));
        let (outcome, _) = drive(round, now(), |request| fake.answer(request));
        assert_eq!(outcome.items.len(), 3);
        assert_eq!(outcome.next_poll_at, expected, "interval {interval:?}");
    }

    // An interval Tally cannot mean fails the project and leaves its cursor alone.
    let round = fresh_round(plugin.as_ref(), &configuration, Some(&tokens.access_token));
    let (outcome, _) = drive(round, now(), |_| {
        response(200, &[("x-tally-poll-interval", "soon")], "[]")
    });
    assert!(matches!(
        &outcome.errors[0].error,
        PollError::InvalidHeader {
            header: "x-tally-poll-interval",
            ..
        }
    ));
    assert!(outcome.cursor.resources.is_empty());
}

#[test]
fn only_the_configured_activity_types_are_converted_and_a_missing_token_is_unauthorized() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    let tokens = connect(&fake, &oauth_client(plugin.as_ref()), now());
    let configuration = configuration(
        plugin.as_ref(),
        json!({"projects": [PROJECT], "events": ["task.completed"]}),
    );
    let round = fresh_round(plugin.as_ref(), &configuration, Some(&tokens.access_token));
    let (outcome, _) = drive(round, now(), |request| fake.answer(request));
    assert_eq!(ids(&outcome), ["act_3"]);
    assert_eq!((outcome.stats.fetched, outcome.stats.filtered), (3, 2));
    assert_eq!(outcome.cursor.resources[PROJECT].last_seen_id.as_deref(), Some("act_3"));

    let round = fresh_round(plugin.as_ref(), &configuration, None);
    let (outcome, sent) = drive(round, now(), |request| fake.answer(request));
    assert!(sent[0].headers.get(header::AUTHORIZATION).is_none());
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].resource, PROJECT);
    assert_eq!(outcome.errors[0].error, PollError::Unauthorized);
    assert!(!outcome.errors[0].error.is_retryable());
    assert!(outcome.items.is_empty() && outcome.cursor.resources.is_empty());
}

#[test]
fn gaps_missing_projects_and_rate_limits_are_reported_per_project() {
    let registry = registry();
    let plugin = tally(&registry);
    let fake = TallyFake::new(BASE);
    fake.set_poll_interval(Some(1));
    let tokens = connect(&fake, &oauth_client(plugin.as_ref()), now());
    let configuration = configuration(
        plugin.as_ref(),
        json!({"projects": [PROJECT, "gemini", "hermes", "zeus"]}),
    );
    // The last seen item is gone from the feed: the round pages to the end and says so.
    let mut cursor = PollCursor::default();
    cursor
        .resources
        .insert(PROJECT.to_owned(), ResourceCursor::new().with_last_seen_id("act_gone"));
    cursor
        .resources
        .insert("retired".to_owned(), ResourceCursor::new().with_last_seen_id("act_9"));
    let round = start(
        plugin.as_ref(),
        &configuration,
        Some(&tokens.access_token),
        cursor,
        now(),
    );
    let (outcome, sent) = drive(round, now(), |request| {
        if request.uri().path().ends_with("/hermes/events") {
            response(429, &[("retry-after", "30")], r#"{"message":"slow down"}"#)
        } else {
            fake.answer(request)
        }
    });
    assert_eq!(sent.len(), 4, "apollo twice, gemini, hermes; zeus never");
    assert_eq!(ids(&outcome), ["act_3", "act_2", "act_1"]);
    assert_eq!(outcome.gaps.len(), 1);
    let gap = &outcome.gaps[0];
    assert_eq!(
        (
            gap.resource.as_str(),
            gap.last_seen_id.as_str(),
            gap.oldest_fetched_id.as_deref(),
            gap.cause
        ),
        (PROJECT, "act_gone", Some("act_1"), GapCause::NoMorePages)
    );
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(
        (outcome.errors[0].resource.as_str(), &outcome.errors[0].error),
        ("gemini", &PollError::NotFound)
    );
    let limit = outcome.rate_limit.expect("Tally asked to slow down");
    assert_eq!(limit.until, now() + seconds(30));
    assert_eq!(limit.kind, RateLimitKind::RetryAfter(30));
    assert_eq!(outcome.deferred, ["hermes", "zeus"]);
    assert_eq!(
        outcome.next_poll_at,
        now() + seconds(30),
        "the longest wait Tally named"
    );
    let projects: Vec<_> = outcome.cursor.resources.keys().map(String::as_str).collect();
    assert_eq!(
        projects,
        [PROJECT],
        "unconfigured cursors dropped, failed and deferred ones unchanged"
    );
    assert_eq!(outcome.cursor.resources[PROJECT].last_seen_id.as_deref(), Some("act_3"));
}

#[test]
fn transport_errors_foreign_links_and_broken_pages_fail_only_their_project() {
    let registry = registry();
    let plugin = tally(&registry);
    let configuration = configuration(
        plugin.as_ref(),
        json!({"projects": ["apollo", "gemini", "hermes", "zeus", ""]}),
    );
    let token = AccessToken::new("tly_at_test");
    let mut round = fresh_round(plugin.as_ref(), &configuration, Some(&token));

    // apollo: no answer at all.
    let Step::Send(_) = round.step() else { panic!("apollo") };
    round.handle_transport_error(&"connection refused");
    // gemini: a page whose next link leaves the API; the items read are kept, the cursor is not moved.
    let Step::Send(request) = round.step() else {
        panic!("gemini")
    };
    assert!(request.uri().path().ends_with("/gemini/events"));
    let page = Value::from(vec![activity(5, "task.created")]).to_string();
    let link = r#"<https://evil.test/api/v1/projects/gemini/events?page=2>; rel="next""#;
    round.handle_response(response(200, &[("link", link)], &page), now());
    // hermes: a body that is not JSON.
    let Step::Send(_) = round.step() else { panic!("hermes") };
    round.handle_response(response(200, &[], "<html>"), now());
    // zeus: an item without an id is recorded as a failed conversion; the others are read on.
    let Step::Send(_) = round.step() else { panic!("zeus") };
    let page = json!([{"type": "task.created"}, activity(6, "task.completed")]).to_string();
    round.handle_response(response(200, &[], &page), now());
    assert!(
        matches!(round.step(), Step::Done),
        "the empty project name is refused without a request"
    );

    let outcome = round.finish();
    let failures: Vec<_> = outcome
        .errors
        .iter()
        .map(|error| (error.resource.as_str(), error.error.clone()))
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(
        failures[0],
        (
            "apollo",
            PollError::Transport {
                message: "connection refused".to_owned()
            }
        )
    );
    assert_eq!(
        failures[1],
        (
            "gemini",
            PollError::ForeignLink {
                url: "https://evil.test/api/v1/projects/gemini/events?page=2".to_owned()
            }
        )
    );
    assert!(matches!(
        &failures[2],
        ("hermes", PollError::Body(ConvertError::Syntax { .. }))
    ));
    assert!(matches!(&failures[3], ("", PollError::InvalidResource { .. })));
    assert_eq!(outcome.items[0].id, "act_5", "items before the foreign link are kept");
    let broken = &outcome.items[1];
    assert_eq!((broken.resource.as_str(), broken.id.as_str()), ("zeus", ""));
    assert_eq!(
        broken.conversion,
        Err(ConvertError::MissingField { path: "id".to_owned() })
    );
    assert_eq!(outcome.items[2].id, "act_6");
    let projects: Vec<_> = outcome.cursor.resources.keys().map(String::as_str).collect();
    assert_eq!(projects, ["zeus"]);
    assert_eq!(
        outcome.next_poll_at,
        now() + DEFAULT_POLL_INTERVAL,
        "Tally named no interval"
    );
}

#[test]
fn a_signed_delivery_is_accepted_and_refusals_follow_the_header_roles() {
    let registry = registry();
    let plugin = tally(&registry);
    let secrets = [WebhookSecret::new(WEBHOOK_SECRET)];
    let (headers, body) = signed_delivery(WEBHOOK_SECRET, "dlv_1", &activity(3, "task.completed"));

    let delivery = intake_for(plugin.as_ref(), &secrets, &headers, &body, now()).unwrap();
    assert_eq!(delivery.retry_num, None);
    assert_eq!(
        delivery.payload,
        Payload::Webhook {
            event: Some("task.completed"),
            delivery_id: Some("dlv_1"),
            body: &body
        }
    );

    let refuse =
        |headers: &HeaderMap, body: &[u8]| intake_for(plugin.as_ref(), &secrets, headers, body, now()).unwrap_err();
    let without = |name: &str| {
        let mut headers = headers.clone();
        headers.remove(name);
        headers
    };
    let with = |name: &'static str, value: &str| {
        let mut headers = headers.clone();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    };
    let unauthorized = StatusCode::UNAUTHORIZED;
    let bad_request = StatusCode::BAD_REQUEST;

    // A missing credential is unauthenticated; a missing description is malformed.
    for (name, role, status) in [
        ("X-Tally-Token", HeaderRole::Credential, unauthorized),
        ("X-Tally-Signature", HeaderRole::Credential, unauthorized),
        ("X-Tally-Event", HeaderRole::Metadata, bad_request),
        ("X-Tally-Delivery", HeaderRole::Metadata, bad_request),
    ] {
        let error = refuse(&without(name), &body);
        assert_eq!(error, WebhookError::MissingHeader { header: name, role });
        assert_eq!(error.status(), status, "{name}");
    }
    let error = refuse(&with("x-tally-token", "guess"), &body);
    assert_eq!(
        error,
        WebhookError::TokenMismatch {
            header: "X-Tally-Token"
        }
    );
    assert_eq!(error.status(), unauthorized);

    let tampered = body
        .iter()
        .copied()
        .map(|byte| if byte == b'3' { b'4' } else { byte })
        .collect::<Vec<_>>();
    assert_ne!(tampered, body);
    let error = refuse(&headers, &tampered);
    assert_eq!(
        error,
        WebhookError::SignatureMismatch {
            header: "X-Tally-Signature"
        }
    );
    assert_eq!(error.status(), unauthorized);

    let (other, _) = signed_delivery("another-secret", "dlv_1", &activity(3, "task.completed"));
    let signature = other["x-tally-signature"].to_str().unwrap();
    let error = refuse(&with("x-tally-signature", signature), &body);
    assert_eq!(
        error,
        WebhookError::SignatureMismatch {
            header: "X-Tally-Signature"
        }
    );

    let error = refuse(&with("x-tally-signature", "not-hex"), &body);
    assert!(matches!(
        error,
        WebhookError::MalformedHeader {
            header: "X-Tally-Signature",
            ..
        }
    ));
    assert_eq!(error.status(), unauthorized);
    let error = refuse(&with("x-tally-retry", "twice"), &body);
    assert!(matches!(
        error,
        WebhookError::MalformedHeader {
            header: "X-Tally-Retry",
            ..
        }
    ));
    assert_eq!(error.status(), bad_request);

    assert_eq!(
        refuse(&headers, &vec![b' '; MAX_BODY_LEN + 1]).status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let error = intake_for(plugin.as_ref(), &[], &headers, &body, now()).unwrap_err();
    assert_eq!(
        error.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "the receiver has no secret"
    );

    // While rotating, either secret is accepted; a retry says how many came before.
    let rotating = [WebhookSecret::new("the-old-secret"), WebhookSecret::new(WEBHOOK_SECRET)];
    let retried = with("x-tally-retry", "2");
    let Ok(delivery) = intake_for(plugin.as_ref(), &rotating, &retried, &body, now()) else {
        panic!("signed with the new secret");
    };
    assert_eq!(delivery.retry_num, Some(2));
}

#[test]
fn a_delivery_stored_twice_is_stored_once_and_equals_the_polled_event() {
    let registry = registry();
    let plugin = tally(&registry);
    let converter = plugin.converter().expect("Tally converts");
    let secrets = [WebhookSecret::new(WEBHOOK_SECRET)];
    let context = ConvertContext::new(now()).with_integration(INTEGRATION);
    let mut store = MemoryStore::new();

    let (mut headers, body) = signed_delivery(WEBHOOK_SECRET, "dlv_1", &activity(3, "task.completed"));
    let mut reports = Vec::new();
    let mut delivered = Vec::new();
    for attempt in 0..2 {
        if attempt == 1 {
            headers.insert("x-tally-retry", HeaderValue::from_static("1"));
        }
        let delivery = intake_for(plugin.as_ref(), &secrets, &headers, &body, now()).unwrap();
        let conversion = converter.convert(delivery.payload, &context).unwrap();
        let report = ingest_conversion(&mut store, INTEGRATION, &conversion).unwrap();
        reports.push((report.inserted, report.duplicates));
        delivered.push(only_event(&conversion).clone());
    }
    assert_eq!(reports, [(1, 0), (0, 1)]);
    let stored = store
        .recent_events(&EventQuery::latest(10).for_integration(INTEGRATION))
        .unwrap()
        .events;
    assert_eq!(stored.len(), 1);
    let event = &delivered[0];
    assert_eq!(stored[0].event, *event);
    assert_eq!(
        (event.source_id.as_str(), event.domain.as_str(), event.action.as_str()),
        ("act_3", "task", "completed")
    );
    assert_eq!(event.actor.key, "tally:user:42");
    assert_eq!(event.actor.title.as_deref(), Some("Ada Lovelace"));
    assert_eq!(event.target.key, "tally:task:T-103");
    assert_eq!(event.target.metadata["project"], PROJECT);
    assert_eq!(
        event.time,
        Utc.with_ymd_and_hms(2025, 3, 14, 14, 3, 0).unwrap(),
        "Tally's time"
    );

    // The same activity polled: the same event, so storage keeps one.
    let fake = TallyFake::new(BASE);
    let tokens = connect(&fake, &oauth_client(plugin.as_ref()), now());
    let configuration = configuration(plugin.as_ref(), json!({"projects": [PROJECT]}));
    let round = fresh_round(plugin.as_ref(), &configuration, Some(&tokens.access_token));
    let (outcome, _) = drive(round, now(), |request| fake.answer(request));
    let polled = outcome.items.iter().find(|item| item.id == "act_3").expect("polled");
    let polled_conversion = polled.conversion.as_ref().unwrap();
    assert_eq!(only_event(polled_conversion), event);
    let report = ingest_conversion(&mut store, INTEGRATION, polled_conversion).unwrap();
    assert_eq!((report.inserted, report.duplicates), (0, 1));
    for item in &outcome.items {
        ingest_conversion(&mut store, INTEGRATION, item.conversion.as_ref().unwrap()).unwrap();
    }
    let stored = store.recent_events(&EventQuery::latest(10)).unwrap().events;
    let stored_ids: Vec<_> = stored.iter().map(|stored| stored.event.source_id.as_str()).collect();
    assert_eq!(stored_ids, ["act_3", "act_2", "act_1"]);
}

#[test]
fn conversion_errors_name_the_field_and_unknown_activity_is_skipped() {
    let registry = registry();
    let plugin = tally(&registry);
    let converter = plugin.converter().expect("Tally converts");
    let context = ConvertContext::new(now());
    let polled = |body: &[u8]| converter.convert(Payload::Polled { body }, &context);
    let delivered = |event: Option<&str>, body: &[u8]| {
        converter.convert(
            Payload::Webhook {
                event,
                delivery_id: Some("dlv_9"),
                body,
            },
            &context,
        )
    };

    let archived = activity(7, "task.archived").to_string();
    assert_eq!(
        polled(archived.as_bytes()),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType(
            "task.archived".to_owned()
        )))
    );
    assert_eq!(
        delivered(Some("ping"), b"{}"),
        Ok(Conversion::Skipped(SkipReason::Ping))
    );
    assert!(matches!(polled(b"{\"id\":"), Err(ConvertError::Syntax { line: 1, .. })));

    let mut broken = activity(8, "task.created");
    broken["actor"]["id"] = json!("forty-two");
    let body = json!({ "event": broken }).to_string();
    assert!(matches!(
        delivered(Some("task.created"), body.as_bytes()),
        Err(ConvertError::InvalidField { path, .. }) if path == "event.actor.id"
    ));
    let body = json!({ "event": activity(8, "task.created") }).to_string();
    assert_eq!(
        delivered(None, body.as_bytes()),
        Err(ConvertError::MissingInput {
            what: "the `X-Tally-Event` header"
        })
    );
    assert!(matches!(
        delivered(Some("task.completed"), body.as_bytes()),
        Err(ConvertError::InvalidField { path, .. }) if path == "event.type"
    ));
    let mut untimed = activity(8, "task.created");
    untimed.as_object_mut().unwrap().remove("occurred_at");
    assert_eq!(
        polled(untimed.to_string().as_bytes()),
        Err(ConvertError::MissingField {
            path: "occurred_at".to_owned()
        })
    );
}
