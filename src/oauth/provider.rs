//! What differs between OAuth providers, as data: endpoints, scope syntax, response and error shapes, the account
//! lookup, refresh timing. Every provider, built in or not, describes itself with a [`Provider`] built by
//! [`Provider::builder`]; the flow reads these rules and never branches on a provider's name.

use chrono::TimeDelta;
use http::Method;
use http::header::{HeaderName, HeaderValue};

use super::config::DEFAULT_REFRESH_MARGIN;

/// How the flow treats an error code a token or API endpoint returned.
///
/// RFC 6749's codes (section 5.2) are classified already; a provider adds its own with
/// [`ProviderBuilder::error_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The grant (code or refresh token) is dead: the user must authorize again. Never retried.
    Reauthorize,
    /// The client's own settings are wrong (secret, redirect URI, scopes): retrying cannot help.
    Configuration,
    /// The provider is busy or down: retry later with the same grant.
    Retryable,
}

/// RFC 6749 section 5.2 error codes, shared by every provider.
const STANDARD_ERRORS: &[(&str, ErrorClass)] = &[
    ("invalid_grant", ErrorClass::Reauthorize),
    ("invalid_client", ErrorClass::Configuration),
    ("unauthorized_client", ErrorClass::Configuration),
    ("unsupported_grant_type", ErrorClass::Configuration),
    ("invalid_scope", ErrorClass::Configuration),
    ("invalid_request", ErrorClass::Configuration),
    ("server_error", ErrorClass::Retryable),
    ("temporarily_unavailable", ErrorClass::Retryable),
];

/// How to find the connected account once a token is issued: one API call and where the answer keeps the account's
/// id and name.
///
/// ```
/// use spark_integrations::oauth::AccountLookup;
///
/// // GitHub: `GET /user`, the id at `/login`, the display name at `/name`.
/// let lookup = AccountLookup::get("/user", "/login").with_name("/name");
/// assert_eq!(lookup.path(), "/user");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLookup {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

impl AccountLookup {
    /// A `GET` of `path` (below the API base, starting with `/`) whose JSON answer holds the account id at the JSON
    /// pointer `id` (RFC 6901: `/login`, `/user/id`). A numeric id is read as its decimal text.
    pub fn get(path: impl Into<String>, id: impl Into<String>) -> Self {
        Self::new(Method::GET, path, id)
    }

    /// A `POST` without a body (Slack's `auth.test`); otherwise as [`get`](Self::get).
    pub fn post(path: impl Into<String>, id: impl Into<String>) -> Self {
        Self::new(Method::POST, path, id)
    }

    fn new(method: Method, path: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            id: id.into(),
            name: None,
        }
    }

    /// The same lookup also reading a display name at the JSON pointer `name`.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The HTTP method of the lookup call.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path below the API base.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The rules of one OAuth 2.0 provider: endpoints and quirks as data.
///
/// Build one with [`Provider::builder`] (any provider, in any crate), or take a built-in one from its provider
/// module (`providers::github::oauth::provider()`); override base URLs for an enterprise installation or a local
/// test server with the `with_*` methods, and hand it to [`OAuthClient::new`](super::OAuthClient::new), which
/// checks the URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Short name stored in [`PendingAuth`](super::PendingAuth) and bound into `state` (`github`, `slack`).
    pub(crate) id: String,
    pub(crate) authorize_url: String,
    pub(crate) token_url: String,
    /// Without a trailing `/`.
    pub(crate) api_base: String,
    pub(crate) scope_separator: String,
    pub(crate) user_scope_param: Option<String>,
    pub(crate) success_flag: Option<String>,
    pub(crate) user_token_at: Option<String>,
    pub(crate) ids: Vec<(String, String)>,
    pub(crate) errors: Vec<(String, ErrorClass)>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) account: AccountLookup,
    pub(crate) refresh_margin: TimeDelta,
}

impl Provider {
    /// Starts the rules of provider `id` (lowercase `[a-z0-9_-]+`, usually the plugin's identifier) with its three
    /// endpoints and the account lookup; the quirks default to plain RFC 6749 (space-separated scopes, errors as
    /// `{"error": ...}`, one token, no extra headers, a refresh margin of [`DEFAULT_REFRESH_MARGIN`]).
    ///
    /// ```
    /// use spark_integrations::oauth::{AccountLookup, ErrorClass, Provider};
    ///
    /// let acme = Provider::builder(
    ///     "acme",
    ///     "https://acme.example/oauth/authorize",
    ///     "https://acme.example/oauth/token",
    ///     "https://api.acme.example/v1/",
    ///     AccountLookup::get("/me", "/id").with_name("/username"),
    /// )
    /// .scope_separator(",")
    /// .error_code("token_revoked", ErrorClass::Reauthorize)
    /// .header("user-agent", "my-timeline/1.0")
    /// .build()?;
    /// assert_eq!(acme.api_base(), "https://api.acme.example/v1");
    /// # Ok::<(), spark_integrations::oauth::ProviderError>(())
    /// ```
    pub fn builder(
        id: impl Into<String>,
        authorize_url: impl Into<String>,
        token_url: impl Into<String>,
        api_base: impl Into<String>,
        account: AccountLookup,
    ) -> ProviderBuilder {
        ProviderBuilder {
            id: id.into(),
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            api_base: api_base.into(),
            scope_separator: " ".to_owned(),
            user_scope_param: None,
            success_flag: None,
            user_token_at: None,
            ids: Vec::new(),
            errors: Vec::new(),
            headers: Vec::new(),
            account,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }

    /// The provider's short name (`github`, `slack`).
    pub fn id(&self) -> &str {
        &self.id
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

    /// How long before expiry a token counts as due for refresh, unless the client sets its own
    /// ([`OAuthClient::with_refresh_margin`](super::OAuthClient::with_refresh_margin)).
    pub fn refresh_margin(&self) -> TimeDelta {
        self.refresh_margin
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
        self.api_base = without_trailing_slash(url.into());
        self
    }

    /// The class of a provider error code; `None` for a code neither RFC 6749 nor the provider lists.
    pub(crate) fn classify(&self, code: &str) -> Option<ErrorClass> {
        self.errors
            .iter()
            .map(|(known, class)| (known.as_str(), *class))
            .chain(STANDARD_ERRORS.iter().copied())
            .find(|(known, _)| *known == code)
            .map(|(_, class)| class)
    }
}

/// Builds a [`Provider`]: start with [`Provider::builder`], set the quirks that differ from RFC 6749, then
/// [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProviderBuilder {
    id: String,
    authorize_url: String,
    token_url: String,
    api_base: String,
    scope_separator: String,
    user_scope_param: Option<String>,
    success_flag: Option<String>,
    user_token_at: Option<String>,
    ids: Vec<(String, String)>,
    errors: Vec<(String, ErrorClass)>,
    headers: Vec<(String, String)>,
    account: AccountLookup,
    refresh_margin: TimeDelta,
}

impl ProviderBuilder {
    /// Joins scopes in the authorize URL with `separator` (RFC 6749: a space; Slack: a comma).
    pub fn scope_separator(mut self, separator: impl Into<String>) -> Self {
        self.scope_separator = separator.into();
        self
    }

    /// Sends the client's user scopes in the authorize parameter `param`, for providers that split bot and user
    /// scopes (Slack's `user_scope`).
    pub fn user_scope_param(mut self, param: impl Into<String>) -> Self {
        self.user_scope_param = Some(param.into());
        self
    }

    /// A top-level boolean field whose `false` marks an error body even at HTTP 200 (Slack's `ok`).
    pub fn success_flag(mut self, field: impl Into<String>) -> Self {
        self.success_flag = Some(field.into());
        self
    }

    /// The JSON pointer of a second token issued to the authorizing user (Slack's `/authed_user`), kept as
    /// [`TokenSet::user_token`](super::TokenSet::user_token).
    pub fn user_token_at(mut self, pointer: impl Into<String>) -> Self {
        self.user_token_at = Some(pointer.into());
        self
    }

    /// Keeps the non-secret identifier at the JSON `pointer` of the token response as `name` in
    /// [`TokenSet::ids`](super::TokenSet::ids) (Slack's `team_id` at `/team/id`).
    pub fn keep_id(mut self, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.ids.push((name.into(), pointer.into()));
        self
    }

    /// Classifies the provider's own error `code` (beyond RFC 6749's, which are known already; a code given here
    /// takes precedence).
    pub fn error_code(mut self, code: impl Into<String>, class: ErrorClass) -> Self {
        self.errors.push((code.into(), class));
        self
    }

    /// Sends the header `name: value` with every token and API request (GitHub requires a `User-Agent`). A header
    /// the host set on an API request itself is left as the host set it.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Treats tokens expiring within `margin` as due for refresh (default [`DEFAULT_REFRESH_MARGIN`]): a provider
    /// with short-lived tokens may want a longer one.
    pub fn refresh_margin(mut self, margin: TimeDelta) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Checks the rules and builds the provider.
    ///
    /// # Errors
    ///
    /// [`ProviderError`] naming the first setting that cannot work: an identifier that is not lowercase
    /// `[a-z0-9_-]+`, a JSON pointer that does not start with `/`, an account path that does not start with `/`,
    /// or a header that cannot be sent. The endpoints are checked by [`OAuthClient::new`](super::OAuthClient::new),
    /// since [`Provider::with_api_base`] and its siblings may still change them.
    pub fn build(self) -> Result<Provider, ProviderError> {
        let valid_id = !self.id.is_empty()
            && self
                .id
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'-'));
        if !valid_id {
            return Err(ProviderError::InvalidId { id: self.id });
        }
        if !self.account.path.starts_with('/') {
            return Err(ProviderError::InvalidPath {
                path: self.account.path,
            });
        }
        let pointers = [
            ("account id", Some(&self.account.id)),
            ("account name", self.account.name.as_ref()),
        ]
        .into_iter()
        .chain([("user token", self.user_token_at.as_ref())])
        .chain(self.ids.iter().map(|(_, pointer)| ("kept id", Some(pointer))));
        for (field, pointer) in pointers {
            if let Some(pointer) = pointer
                && !pointer.starts_with('/')
            {
                return Err(ProviderError::InvalidPointer {
                    field,
                    pointer: pointer.clone(),
                });
            }
        }
        let headers = self
            .headers
            .into_iter()
            .map(
                |(name, value)| match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value)) {
                    (Ok(name), Ok(value)) => Ok((name, value)),
                    _ => Err(ProviderError::InvalidHeader { name }),
                },
            )
            .collect::<Result<_, _>>()?;
        Ok(Provider {
            id: self.id,
            authorize_url: self.authorize_url,
            token_url: self.token_url,
            api_base: without_trailing_slash(self.api_base),
            scope_separator: self.scope_separator,
            user_scope_param: self.user_scope_param,
            success_flag: self.success_flag,
            user_token_at: self.user_token_at,
            ids: self.ids,
            errors: self.errors,
            headers,
            account: self.account,
            refresh_margin: self.refresh_margin,
        })
    }
}

/// Why [`ProviderBuilder::build`] refused the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The identifier is empty or has characters other than `a-z`, `0-9`, `_` and `-`.
    #[error("invalid provider id `{id}`: use one or more of `a-z`, `0-9`, `_` and `-`")]
    InvalidId {
        /// The identifier given.
        id: String,
    },
    /// The account lookup path does not start with `/`.
    #[error("the account lookup path `{path}` does not start with `/`")]
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// A JSON pointer does not start with `/`.
    #[error("the {field} pointer `{pointer}` is not a JSON pointer (it must start with `/`)")]
    InvalidPointer {
        /// Which pointer: `account id`, `account name`, `user token` or `kept id`.
        field: &'static str,
        /// The pointer given.
        pointer: String,
    },
    /// A header's name or value cannot be sent.
    #[error("the header `{name}` has an invalid name or value")]
    InvalidHeader {
        /// The header's name as given (never its value, which may be a credential).
        name: String,
    },
}

fn without_trailing_slash(mut url: String) -> String {
    while url.ends_with('/') {
        url.pop();
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ProviderBuilder {
        Provider::builder(
            "acme",
            "https://acme.example/authorize",
            "https://acme.example/token",
            "https://api.acme.example",
            AccountLookup::get("/me", "/id"),
        )
    }

    #[test]
    fn build_names_the_first_setting_that_cannot_work() {
        assert!(builder().build().is_ok());
        let id = Provider::builder(
            "Acme",
            "https://a",
            "https://a",
            "https://a",
            AccountLookup::get("/me", "/id"),
        );
        assert_eq!(id.build().unwrap_err(), ProviderError::InvalidId { id: "Acme".into() });
        let path = Provider::builder(
            "a",
            "https://a",
            "https://a",
            "https://a",
            AccountLookup::get("me", "/id"),
        );
        assert_eq!(
            path.build().unwrap_err(),
            ProviderError::InvalidPath { path: "me".into() }
        );
        assert_eq!(
            builder().keep_id("team", "team/id").build().unwrap_err(),
            ProviderError::InvalidPointer {
                field: "kept id",
                pointer: "team/id".into()
            }
        );
        let header = builder().header("x-token", "line\nbreak").build().unwrap_err();
        assert_eq!(header, ProviderError::InvalidHeader { name: "x-token".into() });
        assert!(!header.to_string().contains("line"), "a header value never shows");
    }

    #[test]
    fn provider_codes_take_precedence_over_the_standard_ones() {
        let provider = builder()
            .error_code("invalid_grant", ErrorClass::Retryable)
            .error_code("revoked", ErrorClass::Reauthorize)
            .build()
            .unwrap();
        assert_eq!(provider.classify("invalid_grant"), Some(ErrorClass::Retryable));
        assert_eq!(provider.classify("revoked"), Some(ErrorClass::Reauthorize));
        assert_eq!(provider.classify("server_error"), Some(ErrorClass::Retryable));
        assert_eq!(provider.classify("other"), None);
    }
}
