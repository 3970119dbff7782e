//! Starting an authorization: PKCE, the authorize URLs, the pending authorization.

use crate::oauth_support;

use oauth_support::*;
use spark_integrations::oauth::{
    ClientConfig, ClientSecret, ConfigError, OAuthClient, PendingAuth, PkceVerifier, STATE_LIFETIME, StateKey,
};
use spark_integrations::providers::{github, slack};

#[test]
fn rfc_7636_appendix_b_vector() {
    let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(verifier.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[test]
fn github_authorize_url() {
    let start = github_client().start("integration-1", "user-7", now(), &RANDOM);
    insta::assert_snapshot!(start.url);
    assert_eq!(query_param(&start.url, "code_challenge_method"), "S256");
    assert_eq!(query_param(&start.url, "scope"), "read:user repo");
}

#[test]
fn slack_authorize_url() {
    let start = slack_client().start("integration-2", "user-7", now(), &RANDOM);
    insta::assert_snapshot!(start.url);
    assert_eq!(query_param(&start.url, "scope"), "channels:history,chat:write");
    assert_eq!(query_param(&start.url, "user_scope"), "search:read");
}

#[test]
fn challenge_in_url_is_s256_of_the_pending_verifier() {
    let start = github_client().start("integration-1", "user-7", now(), &RANDOM);
    let serialized = serde_json::to_value(&start.pending).unwrap();
    let verifier = PkceVerifier::new(serialized["verifier"].as_str().unwrap());
    assert_eq!(verifier.expose_secret().len(), 43, "32 bytes, base64url");
    assert_eq!(query_param(&start.url, "code_challenge"), verifier.challenge());
}

#[test]
fn state_is_long_and_depends_on_random_integration_user_and_provider() {
    let github = github_client();
    let state = |client: &OAuthClient, integration: &str, user: &str, random: &[u8; 32]| {
        query_param(&client.start(integration, user, now(), random).url, "state")
    };
    let base = state(&github, "integration-1", "user-7", &RANDOM);
    assert!(base.len() >= 22, "at least 128 bits in base64url");
    let mut other_random = RANDOM;
    other_random[31] ^= 1;
    assert_ne!(base, state(&github, "integration-1", "user-7", &other_random));
    assert_ne!(base, state(&github, "integration-2", "user-7", &RANDOM));
    assert_ne!(base, state(&github, "integration-1", "user-8", &RANDOM));
    assert_ne!(base, state(&slack_client(), "integration-1", "user-7", &RANDOM));
    assert_eq!(
        base,
        state(&github, "integration-1", "user-7", &RANDOM),
        "deterministic given its inputs"
    );
}

#[test]
fn pending_auth_round_trips_through_serde_and_expires_after_ten_minutes() {
    let start = github_client().start("integration-1", "user-7", now(), &RANDOM);
    let json = serde_json::to_string(&start.pending).unwrap();
    let back: PendingAuth = serde_json::from_str(&json).unwrap();
    assert_eq!(back, start.pending);
    assert_eq!(back.expires_at(), now() + STATE_LIFETIME);
    assert_eq!(STATE_LIFETIME.num_minutes(), 10);
    assert_eq!(
        (back.provider(), back.integration_id(), back.user_id()),
        ("github", "integration-1", "user-7")
    );
}

#[test]
fn base_urls_can_be_overridden() {
    let config = ClientConfig::new("id", ClientSecret::new("s"), "http://127.0.0.1:8080/cb");
    let ghe = OAuthClient::new(
        github::oauth::enterprise("https://ghe.example.com"),
        config.clone(),
        key(),
    )
    .unwrap();
    let url = ghe.start("i", "u", now(), &RANDOM).url;
    assert!(
        url.starts_with("https://ghe.example.com/login/oauth/authorize?"),
        "{url}"
    );
    assert_eq!(
        slack::oauth::gov().token_url(),
        "https://slack-gov.com/api/oauth.v2.access"
    );
    let local = github::oauth::provider()
        .with_authorize_url("http://127.0.0.1:9000/authorize")
        .with_token_url("http://127.0.0.1:9000/token")
        .with_api_base("http://127.0.0.1:9000/api/");
    assert_eq!(local.api_base(), "http://127.0.0.1:9000/api");
    let local = OAuthClient::new(local, config, key()).unwrap();
    let url = local.start("i", "u", now(), &RANDOM).url;
    assert!(
        url.starts_with("http://127.0.0.1:9000/authorize?response_type=code&client_id=id&"),
        "{url}"
    );
}

#[test]
fn bad_configuration_is_refused() {
    let config = ClientConfig::new("id", ClientSecret::new("s"), "not a url");
    let error = OAuthClient::new(github::oauth::provider(), config, key()).unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::InvalidUrl {
                field: "redirect_uri",
                ..
            }
        ),
        "{error:?}"
    );
    let config = ClientConfig::new("id", ClientSecret::new("s"), "https://app.example.com/cb");
    let error = OAuthClient::new(github::oauth::provider(), config, StateKey::new("short")).unwrap_err();
    insta::assert_snapshot!(error, @"state_key must be at least 32 bytes, got 5");
}

fn key() -> StateKey {
    StateKey::new(STATE_KEY)
}
