//! Slack's OAuth v2 rules as data: comma-separated `scope` and `user_scope`, `{"ok":false,"error":...}` bodies at
//! HTTP 200 or 400, the bot token at the top level and the user token under `authed_user`, account = `auth.test`.

use crate::oauth::{AccountLookup, ErrorClass, Provider};
/// Slack's error codes for `oauth.v2.access` and `auth.test` (api.slack.com method pages).
const ERRORS: &[(&str, ErrorClass)] = &[
    ("invalid_code", ErrorClass::Reauthorize),
    ("code_already_used", ErrorClass::Reauthorize),
    ("code_expired", ErrorClass::Reauthorize),
    ("invalid_refresh_token", ErrorClass::Reauthorize),
    ("token_revoked", ErrorClass::Reauthorize),
    ("token_expired", ErrorClass::Reauthorize),
    ("invalid_auth", ErrorClass::Reauthorize),
    ("not_authed", ErrorClass::Reauthorize),
    ("account_inactive", ErrorClass::Reauthorize),
    ("bad_client_secret", ErrorClass::Configuration),
    ("invalid_client_id", ErrorClass::Configuration),
    ("bad_redirect_uri", ErrorClass::Configuration),
    ("oauth_authorization_url_mismatch", ErrorClass::Configuration),
    ("invalid_grant_type", ErrorClass::Configuration),
    ("invalid_team_for_non_distributed_app", ErrorClass::Configuration),
    ("ratelimited", ErrorClass::Retryable),
    ("service_unavailable", ErrorClass::Retryable),
    ("internal_error", ErrorClass::Retryable),
    ("fatal_error", ErrorClass::Retryable),
];

/// Non-secret identifiers kept from `oauth.v2.access`.
const IDS: &[(&str, &str)] = &[
    ("app_id", "/app_id"),
    ("authed_user_id", "/authed_user/id"),
    ("bot_user_id", "/bot_user_id"),
    ("enterprise_id", "/enterprise/id"),
    ("team_id", "/team/id"),
    ("team_name", "/team/name"),
];

/// Slack on slack.com: `https://slack.com/oauth/v2/authorize`, `https://slack.com/api/oauth.v2.access`.
///
/// ```
/// let slack = spark_integrations::providers::slack::oauth::provider();
/// assert_eq!(slack.token_url(), "https://slack.com/api/oauth.v2.access");
/// ```
pub fn provider() -> Provider {
    with_host("https://slack.com")
}

/// Slack for government (GovSlack): the same rules on `https://slack-gov.com`.
pub fn gov() -> Provider {
    with_host("https://slack-gov.com")
}

/// Slack's rules with every endpoint under `base_url` (a local test server, a proxy).
pub fn with_host(base_url: &str) -> Provider {
    let base = base_url.trim_end_matches('/');
    let builder = Provider::builder(
        super::SERVICE,
        format!("{base}/oauth/v2/authorize"),
        format!("{base}/api/oauth.v2.access"),
        format!("{base}/api"),
        AccountLookup::post("/auth.test", "/user_id").with_name("/user"),
    )
    .scope_separator(",")
    .user_scope_param("user_scope")
    .success_flag("ok")
    .user_token_at("/authed_user");
    let builder = IDS
        .iter()
        .fold(builder, |builder, (name, pointer)| builder.keep_id(*name, *pointer));
    ERRORS
        .iter()
        .fold(builder, |builder, (code, class)| builder.error_code(*code, *class))
        .build()
        .expect("Slack's rules are valid for any base URL that `OAuthClient::new` accepts (tested)")
}
