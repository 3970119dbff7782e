//! GitLab's OAuth rules as data: `{instance}/oauth/authorize` and `/oauth/token` with PKCE, space-separated scopes,
//! RFC 6749 error bodies, account = `GET /api/v4/user` -> numeric `id` and `username`.
//!
//! # Tokens
//!
//! GitLab's access tokens expire after two hours (`expires_in: 7200`), so refresh runs for real: the rules ask for a
//! refresh [`REFRESH_MARGIN`] (15 minutes) before the stored expiry, before a call rather than after a 401. Every
//! refresh **rotates** the refresh token: the old one stops working as soon as the new pair is issued.
//! [`OAuthClient::refresh_response`](crate::oauth::OAuthClient::refresh_response) returns the new pair (the new refresh
//! token included) as a [`Persist`](crate::oauth::Persist): store it before using the new access token, or the
//! integration is lost the next time (a refresh with the old token answers `invalid_grant`, which means
//! re-authorize).
//!
//! # Scopes
//!
//! The host chooses them with [`ClientConfig::with_scopes`](crate::oauth::ClientConfig::with_scopes); the plugin
//! needs [`SCOPES`]: `read_api` (the Events API of private projects) and `read_user` (the account lookup).

use chrono::TimeDelta;

use super::instance::Instance;
use crate::oauth::{AccountLookup, ErrorClass, Provider};

/// The scopes the GitLab plugin needs: `read_api` and `read_user`.
pub const SCOPES: &[&str] = &["read_api", "read_user"];

/// How long before expiry a GitLab token is refreshed: 15 minutes of its 2 hours.
pub const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(15);

/// GitLab's error codes beyond RFC 6749 (Doorkeeper's, which GitLab's OAuth provider is built on).
const ERRORS: &[(&str, ErrorClass)] = &[
    ("invalid_token", ErrorClass::Reauthorize),
    ("access_denied", ErrorClass::Reauthorize),
    ("invalid_redirect_uri", ErrorClass::Configuration),
];

/// GitLab on gitlab.com.
///
/// ```
/// let gitlab = spark_integrations::providers::gitlab::oauth::provider();
/// assert_eq!(gitlab.authorize_url(), "https://gitlab.com/oauth/authorize");
/// assert_eq!(gitlab.token_url(), "https://gitlab.com/oauth/token");
/// assert_eq!(gitlab.api_base(), "https://gitlab.com/api/v4");
/// ```
pub fn provider() -> Provider {
    for_instance(&Instance::gitlab_com())
}

/// GitLab at `instance` (gitlab.com or a self-managed instance): `{base}/oauth/authorize`, `{base}/oauth/token`,
/// the API at `{base}/api/v4`.
///
/// ```
/// use spark_integrations::providers::gitlab::{Instance, oauth};
///
/// let gitlab = oauth::for_instance(&Instance::new("https://gitlab.example.com")?);
/// assert_eq!(gitlab.token_url(), "https://gitlab.example.com/oauth/token");
/// assert_eq!(gitlab.refresh_margin(), oauth::REFRESH_MARGIN);
/// # Ok::<(), spark_integrations::providers::gitlab::BaseUrlError>(())
/// ```
pub fn for_instance(instance: &Instance) -> Provider {
    let base = instance.base_url();
    let builder = Provider::builder(
        super::SERVICE,
        format!("{base}/oauth/authorize"),
        format!("{base}/oauth/token"),
        instance.api_base(),
        AccountLookup::get("/user", "/id").with_name("/username"),
    )
    .refresh_margin(REFRESH_MARGIN);
    ERRORS
        .iter()
        .fold(builder, |builder, (code, class)| builder.error_code(*code, *class))
        .build()
        .expect("GitLab's rules are valid for any instance (tested)")
}
