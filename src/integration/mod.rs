//! The integration record: one user's connection to one service, as the host stores it.
//!
//! [`Integration::initialize`] creates one for a user, purely: the host supplies the ids and 32 random bytes, and
//! stores the result. Services that accept webhooks get a [`RoutingSecret`] and a
//! webhook URL, `{base_url}/webhook/{service}/{routing_secret}`, which the user registers with the service.
//!
//! ```
//! use spark_integrations::Integration;
//! use spark_integrations::providers::slack::SlackPlugin;
//! use url::Url;
//!
//! let random = [7_u8; 32]; // from the host's CSPRNG, e.g. `getrandom::fill`
//! let integration = Integration::initialize(&SlackPlugin::new(), "int_1", "user_1", &random);
//! let base_url = Url::parse("https://spark.example/api/")?;
//! let url = integration.webhook_url(&base_url)?;
//! assert_eq!(url.as_str(), "https://spark.example/api/webhook/slack/BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc");
//! // Printing the record never shows a secret.
//! assert!(!format!("{integration:?}").contains("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The host looks an integration up by its routing secret when a delivery arrives; the secret only routes (it says
//! which integration a delivery is for). Authenticity comes from the provider's signature, checked with the
//! provider's signing secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::oauth::TokenSet;
use crate::secret::{secret_type, serde_as_string};

mod configuration;

use crate::AccessToken;
pub use configuration::Configuration;

secret_type! {
    /// The secret path segment of an integration's webhook URL: 256 random bits, base64url without padding (43
    /// characters). It routes a delivery to its integration; `Debug` and `Display` print `[redacted]`.
    pub struct RoutingSecret;
}

serde_as_string!(RoutingSecret);

impl RoutingSecret {
    /// A routing secret made of the caller's 32 random bytes.
    pub fn from_random(random: &[u8; 32]) -> Self {
        Self::new(URL_SAFE_NO_PAD.encode(random))
    }
}

/// One user's connection to one service, as the host stores it.
///
/// `Debug` and `Display` never show the tokens or the routing secret. Serializing does write them in clear, since
/// the host must store them: encrypt them at rest, and never log the serialized form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Integration {
    /// The host's id for this integration.
    pub id: String,
    /// The host's id for the user who owns it.
    pub user_id: String,
    /// The [plugin identifier](crate::Plugin::identifier) of the service.
    pub service: String,
    /// The name to show for it; starts as the plugin's display name.
    pub display_name: String,
    /// The user's account at the service (a GitHub login, a Slack user id), once known. The account's
    /// workspace, where the service has one, is among the [`tokens`](Self::tokens)' ids (Slack's `team_id`).
    pub account_id: Option<String>,
    /// The OAuth tokens, once authorized: the access token and its expiry, the refresh token and its expiry, the
    /// granted scopes, a user token issued beside the app's (Slack's `authed_user`), and the provider's ids from
    /// the token response (Slack's `team_id`, `bot_user_id`). Replace it with what an authorization or a refresh
    /// produced ([`Driver::finish`](crate::oauth::Driver::finish),
    /// [`refresh_response`](crate::oauth::OAuthClient::refresh_response)), then store the record.
    pub tokens: Option<TokenSet>,
    /// The validated configuration, once the user has filled it in.
    pub configuration: Option<Configuration>,
    /// The secret path segment of the webhook URL, for services that accept webhooks.
    pub routing_secret: Option<RoutingSecret>,
}

impl Integration {
    /// A record with only its identity set, everything else empty: for rebuilding a stored integration field by
    /// field. New integrations come from [`initialize`](Self::initialize).
    pub fn new(
        id: impl Into<String>,
        user_id: impl Into<String>,
        service: impl Into<String>,
        display_name: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            user_id: user_id.into(),
            service: service.into(),
            display_name: display_name.into(),
            account_id: None,
            tokens: None,
            configuration: None,
            routing_secret: None,
        }
    }

    /// The access token to call the service's API with, once authorized.
    ///
    /// ```
    /// use spark_integrations::oauth::TokenSet;
    /// use spark_integrations::providers::github::GithubPlugin;
    /// use spark_integrations::{AccessToken, Integration};
    ///
    /// let mut integration = Integration::initialize(&GithubPlugin::new(), "g1", "user-1", &[7; 32]);
    /// assert!(integration.access_token().is_none());
    /// integration.tokens = Some(TokenSet::new(AccessToken::new("gho_example")));
    /// assert_eq!(integration.access_token().map(AccessToken::expose_secret), Some("gho_example"));
    /// ```
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.tokens.as_ref().map(|tokens| &tokens.access_token)
    }

    /// The URL the service should deliver webhooks to: `{base_url}/webhook/{service}/{routing_secret}`.
    ///
    /// `base_url` is where the host serves its routes; it may have a path (`https://example.com/api`) and a trailing
    /// slash or not. The URL holds the routing secret: show it to the user who registers it, do not log it.
    ///
    /// # Errors
    ///
    /// [`WebhookUrlError::NoRoutingSecret`] for an integration without a routing secret (a service that does not
    /// accept webhooks); [`WebhookUrlError::InvalidBaseUrl`] when `base_url` cannot take a path (`mailto:`) or has
    /// a query or fragment.
    pub fn webhook_url(&self, base_url: &Url) -> Result<Url, WebhookUrlError> {
        let secret = self.routing_secret.as_ref().ok_or(WebhookUrlError::NoRoutingSecret)?;
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(WebhookUrlError::InvalidBaseUrl {
                reason: "it has a query or fragment",
            });
        }
        let mut url = base_url.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| WebhookUrlError::InvalidBaseUrl {
                reason: "it cannot have a path",
            })?;
            segments
                .pop_if_empty()
                .extend(["webhook", self.service.as_str(), secret.expose_secret()]);
        }
        Ok(url)
    }
}

impl fmt::Display for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} integration `{}` of user `{}`",
            self.service, self.id, self.user_id
        )?;
        if let Some(account) = &self.account_id {
            write!(f, " (account `{account}`)")?;
        }
        Ok(())
    }
}

/// Why [`Integration::webhook_url`] could not build a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookUrlError {
    /// The integration has no routing secret: its service does not accept webhooks.
    #[error("the integration has no routing secret: its service does not accept webhooks")]
    NoRoutingSecret,
    /// The base URL cannot be the start of a webhook URL.
    #[error("invalid base URL: {reason}")]
    InvalidBaseUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
}
