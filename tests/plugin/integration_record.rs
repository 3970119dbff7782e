//! Integration records: initialization from caller-supplied bytes, webhook URLs, and formatting without secrets.

use chrono::{TimeZone, Utc};
use serde_json::json;
use spark_integrations::oauth::{Provider, TokenSet, UserToken};
use spark_integrations::plugin::{Connection, Plugin, Schema};
use spark_integrations::providers::github::GithubPlugin;
use spark_integrations::providers::slack::SlackPlugin;
use spark_integrations::{AccessToken, Integration, RefreshToken, RoutingSecret, WebhookUrlError};
use url::Url;

const ACCESS: &str = "ghu_16C7e42F292c6912E7710c838347Ae178B4a";
const REFRESH: &str = "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169";

fn random() -> [u8; 32] {
    std::array::from_fn(|index| u8::try_from(index).expect("index < 32") * 7)
}

fn connected() -> Integration {
    let plugin = GithubPlugin::new();
    let mut integration = Integration::initialize(&plugin, "int_1", "user_1", &random());
    integration.account_id = Some("octocat".to_owned());
    let mut tokens = TokenSet::new(AccessToken::new(ACCESS));
    tokens.refresh_token = Some(RefreshToken::new(REFRESH));
    tokens.expires_at = Some(Utc.with_ymd_and_hms(2025, 1, 1, 8, 0, 0).unwrap());
    tokens.scopes = vec!["repo".to_owned()];
    integration.tokens = Some(tokens);
    integration.configuration = Some(
        plugin
            .configuration_schema()
            .validate(&json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]}))
            .expect("valid"),
    );
    integration
}

#[test]
fn initialize_fills_identity_from_the_plugin_and_nothing_else() {
    let integration = Integration::initialize(&SlackPlugin::new(), "int_1", "user_1", &random());
    assert_eq!(integration.id, "int_1");
    assert_eq!(integration.user_id, "user_1");
    assert_eq!(integration.service, "slack");
    assert_eq!(integration.display_name, "Slack");
    assert!(integration.account_id.is_none() && integration.tokens.is_none());
    assert!(integration.configuration.is_none());
    // Pure: the same arguments give the same record.
    assert_eq!(
        integration,
        Integration::initialize(&SlackPlugin::new(), "int_1", "user_1", &random())
    );
}

#[test]
fn the_routing_secret_is_256_bits_of_base64url_without_padding() {
    let integration = Integration::initialize(&SlackPlugin::new(), "int_1", "user_1", &[0xff; 32]);
    let secret = integration.routing_secret.expect("slack accepts webhooks");
    assert_eq!(secret.expose_secret(), "_".repeat(42) + "8");
    let other = RoutingSecret::from_random(&random());
    assert_eq!(other.expose_secret().len(), 43);
    assert!(
        other
            .expose_secret()
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    );
    assert_ne!(other, secret);
}

#[test]
fn services_without_webhooks_get_no_routing_secret() {
    struct OauthOnly(Schema, Provider);
    impl Plugin for OauthOnly {
        fn identifier(&self) -> &str {
            "oauth-only"
        }
        fn display_name(&self) -> &str {
            "OAuth only"
        }
        fn description(&self) -> &str {
            "Polled after OAuth."
        }
        fn configuration_schema(&self) -> &Schema {
            &self.0
        }
        fn oauth_provider(&self) -> Option<&Provider> {
            Some(&self.1)
        }
    }
    let plugin = OauthOnly(Schema::new(), spark_integrations::providers::github::oauth::provider());
    assert_eq!((&plugin as &dyn Plugin).connections(), Connection::OAuth.into());
    let integration = Integration::initialize(&plugin, "int_2", "user_1", &random());
    assert!(integration.routing_secret.is_none());
    let base = Url::parse("https://spark.example").unwrap();
    assert_eq!(integration.webhook_url(&base), Err(WebhookUrlError::NoRoutingSecret));
}

#[test]
fn webhook_urls_join_the_base_url_with_or_without_a_path_or_trailing_slash() {
    let integration = Integration::initialize(&GithubPlugin::new(), "int_1", "user_1", &[0; 32]);
    let secret = "A".repeat(43);
    for (base, expected) in [
        (
            "https://spark.example",
            format!("https://spark.example/webhook/github/{secret}"),
        ),
        (
            "https://spark.example/",
            format!("https://spark.example/webhook/github/{secret}"),
        ),
        (
            "https://spark.example/api",
            format!("https://spark.example/api/webhook/github/{secret}"),
        ),
        (
            "https://spark.example/api/",
            format!("https://spark.example/api/webhook/github/{secret}"),
        ),
        (
            "http://127.0.0.1:8080/a/b/",
            format!("http://127.0.0.1:8080/a/b/webhook/github/{secret}"),
        ),
    ] {
        let url = integration.webhook_url(&Url::parse(base).unwrap()).expect(base);
        assert_eq!(url.as_str(), expected, "{base}");
    }
}

#[test]
fn webhook_urls_refuse_base_urls_that_cannot_take_the_path() {
    let integration = Integration::initialize(&GithubPlugin::new(), "int_1", "user_1", &[0; 32]);
    let error = integration
        .webhook_url(&Url::parse("mailto:hooks@spark.example").unwrap())
        .unwrap_err();
    insta::assert_snapshot!(error, @"invalid base URL: it cannot have a path");
    let error = integration
        .webhook_url(&Url::parse("https://spark.example/?tenant=1").unwrap())
        .unwrap_err();
    insta::assert_snapshot!(error, @"invalid base URL: it has a query or fragment");
}

#[test]
fn formatting_an_integration_shows_no_token_or_secret() {
    let integration = connected();
    let secret = integration
        .routing_secret
        .as_ref()
        .expect("github accepts webhooks")
        .expose_secret()
        .to_owned();
    let debug = format!("{integration:?}");
    let pretty = format!("{integration:#?}");
    let display = integration.to_string();
    for text in [&debug, &pretty, &display] {
        assert!(!text.contains(ACCESS), "{text}");
        assert!(!text.contains(REFRESH), "{text}");
        assert!(!text.contains(&secret), "{text}");
    }
    assert!(debug.contains("AccessToken([redacted])"), "{debug}");
    assert!(debug.contains("RefreshToken([redacted])"), "{debug}");
    assert!(debug.contains("RoutingSecret([redacted])"), "{debug}");
    insta::assert_snapshot!(display, @"github integration `int_1` of user `user_1` (account `octocat`)");
}

#[test]
fn records_round_trip_through_serde_with_their_secrets() {
    let integration = connected();
    let stored = serde_json::to_value(&integration).expect("serializes");
    assert_eq!(stored["tokens"]["access_token"], ACCESS);
    assert_eq!(stored["tokens"]["refresh_token"], REFRESH);
    assert_eq!(stored["configuration"]["events"], json!(["PushEvent"]));
    let restored: Integration = serde_json::from_value(stored).expect("deserializes");
    assert_eq!(restored, integration);
    assert_eq!(restored.access_token().map(AccessToken::expose_secret), Some(ACCESS));
}

mod properties {
    use proptest::prelude::*;
    use spark_integrations::Integration;
    use spark_integrations::providers::slack::SlackPlugin;
    use url::Url;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any random bytes give a 43-character base64url secret that is the last segment of the webhook URL.
        #[test]
        fn routing_secrets_are_url_safe_and_end_the_webhook_url(random in any::<[u8; 32]>(), path in "(/[a-z]{1,5}){0,3}/?") {
            let integration = Integration::initialize(&SlackPlugin::new(), "int", "user", &random);
            let secret = integration.routing_secret.as_ref().expect("slack accepts webhooks").expose_secret();
            prop_assert_eq!(secret.len(), 43);
            prop_assert!(secret.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'));
            let base = Url::parse(&format!("https://spark.example{path}")).expect("valid URL");
            let url = integration.webhook_url(&base).expect("base takes a path");
            let expected_suffix = format!("/webhook/slack/{secret}");
            prop_assert!(url.path().ends_with(&expected_suffix), "{url}");
            prop_assert!(!url.path().contains("//"), "{url}");
        }
    }
}

#[test]
fn the_record_holds_the_whole_token_set() {
    // A Slack authorization: the bot token, the authorizing user's token beside it, scopes and the team id.
    let mut integration = Integration::initialize(&SlackPlugin::new(), "int_2", "user_1", &random());
    assert!(integration.access_token().is_none(), "not authorized yet");
    let mut tokens = TokenSet::new(AccessToken::new("xoxb-bot"));
    tokens.token_type = "bot".to_owned();
    tokens.scopes = vec!["channels:history".to_owned(), "users:read".to_owned()];
    tokens.user_token = Some(UserToken::new(AccessToken::new("xoxp-user")));
    tokens.ids.insert("team_id".to_owned(), "T123ABC456".to_owned());
    integration.tokens = Some(tokens.clone());
    integration.account_id = Some("U061F7AUR".to_owned());

    assert_eq!(
        integration.access_token().map(AccessToken::expose_secret),
        Some("xoxb-bot")
    );
    let restored: Integration =
        serde_json::from_value(serde_json::to_value(&integration).expect("serializes")).expect("deserializes");
    assert_eq!(restored.tokens, Some(tokens), "scopes, user token and ids survive");
    // The team is an id of the tokens, not packed into the account.
    assert_eq!(restored.account_id.as_deref(), Some("U061F7AUR"));
    let shown = format!("{restored:?} {restored}");
    assert!(!shown.contains("xoxb-bot") && !shown.contains("xoxp-user"), "{shown}");
}
