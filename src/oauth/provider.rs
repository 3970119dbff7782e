//! What differs between OAuth providers, as data: endpoints, scope syntax, response and error shapes, the account
//! lookup. Each provider builds one [`Provider`] in its own module (`providers::github::oauth`,
//! `providers::slack::oauth`); the flow reads these fields and never branches on a provider's name.

use http::Method;

/// How the flow should treat an error code a token endpoint returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// The grant (code or refresh token) is dead: the user must authorize again. Never retried.
    Reauthorize,
    /// The client's own settings are wrong (secret, redirect URI, scopes): retrying cannot help.
    Configuration,
    /// The provider is busy or down: retry later with the same grant.
    Retryable,
}

/// RFC 6749 section 5.2 error codes, shared by every provider.
pub(crate) const STANDARD_ERRORS: &[(&str, ErrorClass)] = &[
    ("invalid_grant", ErrorClass::Reauthorize),
    ("invalid_client", ErrorClass::Configuration),
    ("unauthorized_client", ErrorClass::Configuration),
    ("unsupported_grant_type", ErrorClass::Configuration),
    ("invalid_scope", ErrorClass::Configuration),
    ("invalid_request", ErrorClass::Configuration),
    ("server_error", ErrorClass::Retryable),
    ("temporarily_unavailable", ErrorClass::Retryable),
];

/// How to find the connected account once a token is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountLookup {
    /// The HTTP method of the lookup call.
    pub(crate) method: Method,
    /// The path below the API base URL, starting with `/`.
    pub(crate) path: &'static str,
    /// JSON pointer to the account identifier in the response.
    pub(crate) id: &'static str,
    /// JSON pointer to a display name, when the provider gives one.
    pub(crate) name: Option<&'static str>,
}

/// The rules of one OAuth 2.0 provider: endpoints and quirks as data.
///
/// Get one from a provider module (for example `providers::github::oauth::provider()`), override base URLs for
/// GitHub Enterprise, GovSlack or a local test server with the `with_*` methods, and hand it to
/// [`OAuthClient::new`](super::OAuthClient::new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Short name stored in [`PendingAuth`](super::PendingAuth) and bound into `state` (`github`, `slack`).
    pub(crate) id: &'static str,
    /// The authorization endpoint the user's browser is sent to.
    pub(crate) authorize_url: String,
    /// The token endpoint (`POST`, form-encoded).
    pub(crate) token_url: String,
    /// The base URL of the provider's API, without a trailing `/`.
    pub(crate) api_base: String,
    /// Joins scopes in the authorize URL (GitHub: space, Slack: comma).
    pub(crate) scope_separator: &'static str,
    /// The authorize parameter that carries user scopes, for providers that split bot and user scopes.
    pub(crate) user_scope_param: Option<&'static str>,
    /// A boolean field whose `false` marks an error body (Slack's `ok`).
    pub(crate) success_flag: Option<&'static str>,
    /// JSON pointer to a second token issued to the authorizing user (Slack's `/authed_user`).
    pub(crate) user_token_at: Option<&'static str>,
    /// Non-secret identifiers to keep from the token response: (name, JSON pointer).
    pub(crate) ids: &'static [(&'static str, &'static str)],
    /// Provider error codes beyond RFC 6749's, with their class.
    pub(crate) errors: &'static [(&'static str, ErrorClass)],
    /// Headers sent with every token and API request (GitHub requires a `User-Agent`).
    pub(crate) headers: &'static [(&'static str, &'static str)],
    /// The account lookup call.
    pub(crate) account: AccountLookup,
}

impl Provider {
    /// The provider's short name (`github`, `slack`).
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The authorization endpoint.
    pub fn authorize_url(&self) -> &str {
        &self.authorize_url
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The API base URL that [`OAuthClient::api_request`](super::OAuthClient::api_request) paths are joined to.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// The same provider with another authorization endpoint.
    #[must_use]
    pub fn with_authorize_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_url = url.into();
        self
    }

    /// The same provider with another token endpoint.
    #[must_use]
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// The same provider with another API base URL (a trailing `/` is removed).
    #[must_use]
    pub fn with_api_base(mut self, url: impl Into<String>) -> Self {
        let mut url = url.into();
        while url.ends_with('/') {
            url.pop();
        }
        self.api_base = url;
        self
    }

    /// The class of a provider error code; `None` for a code neither RFC 6749 nor the provider lists.
    pub(crate) fn classify(&self, code: &str) -> Option<ErrorClass> {
        self.errors
            .iter()
            .chain(STANDARD_ERRORS)
            .find(|(known, _)| *known == code)
            .map(|(_, class)| *class)
    }
}
