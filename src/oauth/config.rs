//! The client side of the configuration: credentials, redirect URI, scopes, the state key, and the
//! [`OAuthClient`] that joins them with a [`Provider`].

use chrono::TimeDelta;
use url::Url;

use super::provider::Provider;
use crate::secret::secret_type;

secret_type! {
    /// The OAuth client secret issued by the provider with the client id.
    pub struct ClientSecret;
}

secret_type! {
    /// The host's key that signs `state` (HMAC-SHA256), at least 32 bytes: generate it once from a secure random
    /// source and keep it with the rest of the configuration. Rotating it invalidates flows in progress.
    pub struct StateKey;
}

/// The shortest [`StateKey`] accepted, in bytes.
pub const MIN_STATE_KEY_LEN: usize = 32;

/// The application's registration with a provider: what the host configured, never what a request said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The client id issued by the provider.
    pub client_id: String,
    /// The client secret issued by the provider.
    pub client_secret: ClientSecret,
    /// The callback URL registered with the provider; sent byte for byte in the authorize and token requests.
    pub redirect_uri: String,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// Scopes to request for the authorizing user, on providers that separate them (Slack's `user_scope`).
    pub user_scopes: Vec<String>,
}

impl ClientConfig {
    /// A configuration with no scopes.
    pub fn new(client_id: impl Into<String>, client_secret: ClientSecret, redirect_uri: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            scopes: Vec::new(),
            user_scopes: Vec::new(),
        }
    }

    /// The same configuration requesting `scopes`.
    #[must_use]
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The same configuration requesting user `scopes` (Slack's `user_scope`; ignored by providers without it).
    #[must_use]
    pub fn with_user_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.user_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// A configuration that cannot work, found by [`OAuthClient::new`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configured URL does not parse.
    #[error("{field} is not a valid url")]
    InvalidUrl {
        /// Which setting: `authorize_url`, `token_url`, `api_base` or `redirect_uri`.
        field: &'static str,
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
    /// A configured URL is not a valid HTTP request target.
    #[error("{field} is not a valid http uri")]
    InvalidUri {
        /// Which setting.
        field: &'static str,
    },
    /// The state key is shorter than [`MIN_STATE_KEY_LEN`].
    #[error("state_key must be at least {MIN_STATE_KEY_LEN} bytes, got {len}")]
    StateKeyTooShort {
        /// The length given.
        len: usize,
    },
}

/// One OAuth client: a provider's rules, the application's registration and the state key.
///
/// It holds no per-user state: keep one per provider and configuration and call its methods for every flow.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub(crate) provider: Provider,
    pub(crate) config: ClientConfig,
    pub(crate) state_key: StateKey,
    pub(crate) refresh_margin: TimeDelta,
}

/// How long before expiry a token counts as due for refresh unless configured otherwise: 5 minutes.
pub const DEFAULT_REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

impl OAuthClient {
    /// Checks the configuration (URLs parse, state key long enough) and builds the client.
    pub fn new(provider: Provider, config: ClientConfig, state_key: StateKey) -> Result<Self, ConfigError> {
        for (field, value) in [
            ("authorize_url", provider.authorize_url.as_str()),
            ("token_url", provider.token_url.as_str()),
            ("api_base", provider.api_base.as_str()),
            ("redirect_uri", config.redirect_uri.as_str()),
        ] {
            Url::parse(value).map_err(|source| ConfigError::InvalidUrl { field, source })?;
            if http::Uri::try_from(value).is_err() {
                return Err(ConfigError::InvalidUri { field });
            }
        }
        let len = state_key.expose_secret().len();
        if len < MIN_STATE_KEY_LEN {
            return Err(ConfigError::StateKeyTooShort { len });
        }
        Ok(Self {
            refresh_margin: provider.refresh_margin,
            provider,
            config,
            state_key,
        })
    }

    /// The same client, treating tokens that expire within `margin` as due for refresh (default: the provider's
    /// [`refresh_margin`](Provider::refresh_margin)).
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: TimeDelta) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The provider's rules.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The application's registration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The refresh margin in force.
    pub fn refresh_margin(&self) -> TimeDelta {
        self.refresh_margin
    }
}
