//! The plugin contract from the outside: a third service added with no change to the crate, and the registry's
//! checks, order and filtering.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use spark_integrations::convert::from_slice;
use spark_integrations::model::{Event, Object};
use spark_integrations::plugin::{Connection, Field, FieldType, Plugin, Registry, RegistryError, Schema, intake_for};
use spark_integrations::poll::{PollContext, PollCursor, PollSetupError, Step};
use spark_integrations::providers::github::GithubPlugin;
use spark_integrations::providers::slack::SlackPlugin;
use spark_integrations::webhook::{
    self, Header, VerifiedDelivery, WebhookError, WebhookSecret, WebhookVerifier, token_matches_any,
};
use spark_integrations::{
    Configuration, Conversion, ConvertContext, ConvertError, Converter, Integration, Payload, SkipReason,
};

/// A made-up running-log service that pushes activities to a webhook: `{"id", "athlete", "kind", "meters", "at"}`.
struct RunlogPlugin {
    schema: Schema,
}

impl RunlogPlugin {
    fn new() -> Self {
        Self {
            schema: Schema::new().field(Field::new(
                "include_private",
                FieldType::Boolean,
                "Include private runs",
            )),
        }
    }
}

impl Plugin for RunlogPlugin {
    fn identifier(&self) -> &str {
        "runlog"
    }
    fn display_name(&self) -> &str {
        "Runlog"
    }
    fn description(&self) -> &str {
        "Record runs."
    }
    fn configuration_schema(&self) -> &Schema {
        &self.schema
    }
    fn converter(&self) -> Option<&dyn Converter> {
        Some(&RunlogConverter)
    }
    fn webhook_verifier(&self) -> Option<&dyn WebhookVerifier> {
        Some(&RunlogVerifier)
    }
}

/// Runlog sends its shared secret in `X-Runlog-Token`: built from the crate's public building blocks.
struct RunlogVerifier;

const TOKEN: Header = Header::credential("X-Runlog-Token", "x-runlog-token");

impl WebhookVerifier for RunlogVerifier {
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a http::HeaderMap,
        body: &'a [u8],
        _now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError> {
        webhook::check_body_len(body, 1024)?;
        let keys = webhook::secret_keys(secrets)?;
        let token = webhook::required_header(headers, &TOKEN)?;
        if !token_matches_any(token.as_bytes(), &keys) {
            return Err(WebhookError::TokenMismatch { header: TOKEN.name() });
        }
        Ok(VerifiedDelivery::new(body))
    }
}

struct RunlogConverter;

#[derive(Deserialize)]
struct Activity {
    id: u64,
    athlete: u64,
    kind: String,
    meters: i64,
    at: DateTime<Utc>,
}

impl Converter for RunlogConverter {
    fn convert(&self, payload: Payload<'_>, _context: &ConvertContext) -> Result<Conversion, ConvertError> {
        let activity: Activity = from_slice(payload.body())?;
        if activity.kind != "run" {
            return Ok(Conversion::Skipped(SkipReason::UnsupportedType(activity.kind)));
        }
        let actor = Object::new(format!("runlog:athlete:{}", activity.athlete), "user", "runlog_athlete");
        let target = Object::new(format!("runlog:activity:{}", activity.id), "activity", "runlog_run");
        let event = Event::builder()
            .source_id(activity.id.to_string())
            .time(activity.at)
            .service("runlog")
            .domain("fitness")
            .action("ran")
            .actor(actor)
            .target(target)
            .value(activity.meters, "meters")
            .build()?;
        Ok(Conversion::Converted(vec![event]))
    }
}

/// A plugin with any identifier and no capabilities, for the registry's checks.
struct Named(&'static str);

impl Plugin for Named {
    fn identifier(&self) -> &str {
        self.0
    }
    fn display_name(&self) -> &str {
        self.0
    }
    fn description(&self) -> &str {
        "A test plugin."
    }
    fn configuration_schema(&self) -> &Schema {
        const { &Schema::new() }
    }
}

fn full_registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(GithubPlugin::new()).expect("github");
    registry.register(SlackPlugin::new()).expect("slack");
    registry.register(RunlogPlugin::new()).expect("runlog");
    registry
}

#[test]
fn a_third_service_registers_configures_and_converts() {
    let registry = full_registry();
    let plugin = registry.get("runlog").expect("registered");
    assert!(
        plugin
            .configuration_schema()
            .validate(&json!({"include_private": true}))
            .is_ok()
    );

    let integration = Integration::initialize(plugin.as_ref(), "int_9", "user_1", &[1; 32]);
    assert!(
        integration.routing_secret.is_some(),
        "webhook services get a routing secret"
    );
    let connections = plugin.connections();
    assert!(connections.contains(Connection::Webhook) && !connections.contains(Connection::OAuth));

    // Its own scheme, refused as the scheme says: a missing or wrong token is unauthenticated (401).
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap();
    let secrets = [WebhookSecret::new("runlog-shared-token")];
    let mut headers = http::HeaderMap::new();
    let refused = intake_for(plugin.as_ref(), &secrets, &headers, b"{}", now).unwrap_err();
    assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED, "{refused}");
    headers.insert("x-runlog-token", "guess".parse().expect("header"));
    let refused = intake_for(plugin.as_ref(), &secrets, &headers, b"{}", now).unwrap_err();
    assert_eq!(
        refused,
        WebhookError::TokenMismatch {
            header: "X-Runlog-Token"
        }
    );
    headers.insert("x-runlog-token", "runlog-shared-token".parse().expect("header"));
    assert!(intake_for(plugin.as_ref(), &secrets, &headers, b"{}", now).is_ok());

    let body = br#"{"id":77,"athlete":5,"kind":"run","meters":10500,"at":"2025-03-01T07:30:00Z"}"#;
    let context = ConvertContext::new(Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap());
    let converter = plugin.converter().expect("runlog converts");
    let payload = Payload::Webhook {
        event: None,
        delivery_id: None,
        body,
    };
    let Conversion::Converted(events) = converter.convert(payload, &context).expect("converts") else {
        panic!("a run is activity");
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].service, "runlog");
    assert_eq!(events[0].actor.key, "runlog:athlete:5");
    assert_eq!(events[0].value, Some(10500));
    assert_eq!(events[0].time, Utc.with_ymd_and_hms(2025, 3, 1, 7, 30, 0).unwrap());

    let swim = br#"{"id":78,"athlete":5,"kind":"swim","meters":800,"at":"2025-03-01T07:30:00Z"}"#;
    let skipped = converter
        .convert(Payload::Polled { body: swim }, &context)
        .expect("converts");
    assert_eq!(
        skipped,
        Conversion::Skipped(SkipReason::UnsupportedType("swim".to_owned()))
    );
}

#[test]
fn the_providers_hand_out_their_capabilities() {
    let registry = full_registry();
    let context = ConvertContext::new(Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap());
    let github = registry.get("github").expect("registered");
    let star = br#"{"id":"1","type":"WatchEvent","actor":{"id":2},"repo":{"id":3,"name":"o/r"},"payload":{},
        "created_at":"2025-01-01T00:00:00Z"}"#;
    let converted = github
        .converter()
        .expect("GitHub converts")
        .convert(Payload::Polled { body: star }, &context);
    assert!(matches!(converted, Ok(Conversion::Converted(events)) if events[0].target.key == "github:repository:3"));
    assert_eq!(
        github.oauth_provider().map(|p| p.token_url()),
        Some("https://github.com/login/oauth/access_token")
    );
    assert!(github.webhook_verifier().is_some() && github.poller().is_some());

    let slack = registry.get("slack").expect("registered");
    let challenge = br#"{"type":"url_verification","challenge":"abc"}"#;
    let converted = slack
        .converter()
        .expect("Slack converts")
        .convert(Payload::Polled { body: challenge }, &context);
    assert_eq!(converted, Ok(Conversion::Challenge("abc".to_owned())));
    assert_eq!(
        slack.oauth_provider().map(|p| p.token_url()),
        Some("https://slack.com/api/oauth.v2.access")
    );
    assert!(slack.webhook_verifier().is_some());
    assert!(slack.poller().is_none(), "Slack is not polled");
}

#[test]
fn the_github_poller_polls_the_configured_repositories_with_the_token() {
    let plugin = GithubPlugin::new().with_oauth_provider(spark_integrations::providers::github::oauth::enterprise(
        "https://ghe.example",
    ));
    let mut integration = Integration::initialize(&plugin, "i1", "u1", &[3; 32]);
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap();
    let poller = plugin.poller().expect("GitHub is polled");
    assert!(
        PollContext::of(&integration).is_none(),
        "nothing to poll before it is configured"
    );
    let empty = Configuration::default();
    assert!(matches!(
        poller.start(&PollContext::new("i1", &empty), PollCursor::default(), now),
        Err(PollSetupError::NotConfigured)
    ));

    let configuration = json!({"repositories": ["octo/a", "octo/b"], "events": ["PushEvent"]});
    integration.configuration = Some(plugin.configuration_schema().validate(&configuration).expect("valid"));
    integration.tokens = Some(spark_integrations::oauth::TokenSet::new(
        spark_integrations::AccessToken::new("gho_token"),
    ));
    let context = PollContext::of(&integration).expect("configured");
    let Ok(mut round) = poller.start(&context, PollCursor::default(), now) else {
        panic!("configured")
    };
    let mut paths = Vec::new();
    while let Step::Send(request) = round.step() {
        assert_eq!(request.uri().host(), Some("ghe.example"), "the provider's API base");
        assert_eq!(request.headers()["authorization"], "Bearer gho_token");
        paths.push(request.uri().path().to_owned());
        round.handle_response(
            http::Response::builder()
                .status(304)
                .body(Vec::new())
                .expect("response"),
            now,
        );
    }
    assert_eq!(paths, ["/api/v3/repos/octo/a/events", "/api/v3/repos/octo/b/events"]);
    assert!(round.finish().items.is_empty());
}

#[test]
fn webhook_intake_through_a_plugin_without_a_verifier_is_not_found() {
    let headers = http::HeaderMap::new();
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap();
    let secrets = [WebhookSecret::new("secret")];
    let error = intake_for(&Named("plain"), &secrets, &headers, b"{}", now).unwrap_err();
    assert_eq!(error, WebhookError::NotAccepted);
    assert_eq!(error.status(), http::StatusCode::NOT_FOUND);
}

#[test]
fn plugins_without_a_converter_say_so() {
    let plain: &dyn Plugin = &Named("plain");
    assert!(plain.converter().is_none());
    assert!(plain.connections().is_empty(), "no capability, no connection");
}

#[test]
fn a_duplicate_identifier_is_refused_and_the_registry_is_unchanged() {
    let mut registry = full_registry();
    let error = registry.register(Named("slack")).unwrap_err();
    assert_eq!(
        error,
        RegistryError::Duplicate {
            identifier: "slack".to_owned()
        }
    );
    insta::assert_snapshot!(error, @"a plugin with identifier `slack` is already registered");
    assert_eq!(registry.len(), 3);
    assert_eq!(registry.get("slack").map(|plugin| plugin.display_name()), Some("Slack"));
}

#[test]
fn identifiers_must_be_lowercase_letters_digits_underscores_and_hyphens() {
    let mut registry = Registry::new();
    for bad in ["", "GitHub", "git hub", "git/hub", "gïthub", "github.com", "slack\n"] {
        let error = registry.register(Named(bad)).unwrap_err();
        assert_eq!(
            error,
            RegistryError::InvalidIdentifier {
                identifier: bad.to_owned()
            },
            "{bad:?}"
        );
    }
    assert!(registry.is_empty());
    insta::assert_snapshot!(
        registry.register(Named("Git Hub")).unwrap_err(),
        @"invalid plugin identifier `Git Hub`: use one or more of `a-z`, `0-9`, `_` and `-`"
    );
    for good in ["a", "github", "google-calendar", "o365_mail", "x2"] {
        registry.register(Named(good)).expect(good);
    }
    assert_eq!(registry.len(), 5);
}

#[test]
fn iteration_follows_registration_order() {
    let mut registry = Registry::new();
    for identifier in ["zeta", "alpha", "mid"] {
        registry.register(Named(identifier)).expect(identifier);
    }
    let order: Vec<_> = registry.iter().map(|plugin| plugin.identifier()).collect();
    assert_eq!(order, ["zeta", "alpha", "mid"]);
    assert_eq!(format!("{registry:?}"), r#"["zeta", "alpha", "mid"]"#);
    assert!(registry.get("beta").is_none());
}

#[test]
fn filtering_by_connection() {
    let registry = full_registry();
    let with = |connection| -> Vec<_> {
        registry
            .with_connection(connection)
            .map(|plugin| plugin.identifier())
            .collect()
    };
    assert_eq!(with(Connection::OAuth), ["github", "slack"]);
    assert_eq!(with(Connection::Webhook), ["github", "slack", "runlog"]);
    assert_eq!(with(Connection::Polling), ["github"]);
}

#[test]
fn shared_plugins_can_be_registered_and_held_elsewhere() {
    let shared: Arc<dyn Plugin> = Arc::new(SlackPlugin::new());
    let mut registry = Registry::new();
    registry.register_shared(Arc::clone(&shared)).expect("slack");
    let found = registry.get("slack").expect("registered");
    assert!(Arc::ptr_eq(found, &shared));
}

#[test]
fn registries_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Registry>();
    assert_send_sync::<Arc<dyn Plugin>>();
}
