//! Token responses: [`TokenSet`], the [`Persist`] step, and [`TokenError`] with its retry / re-authorize policy.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body;
use super::config::OAuthClient;
use super::provider::{ErrorClass, Provider};
use crate::secret::{AccessToken, RefreshToken};

/// Tokens issued by a provider, with absolute expiry times computed from `expires_in` and the `now` of the response.
///
/// Serializable so the host can store it; the serialized form holds the tokens in clear, so store it encrypted.
/// `Debug` redacts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The token to send with API requests. On Slack, the bot token when one was issued, else the user token.
    pub access_token: AccessToken,
    /// The provider's `token_type` (`bearer`, Slack's `bot` or `user`).
    pub token_type: String,
    /// When the access token expires; `None` when the provider gave no `expires_in` (it lives until revoked).
    pub expires_at: Option<DateTime<Utc>>,
    /// The token to obtain a new access token with, if the provider issued one.
    pub refresh_token: Option<RefreshToken>,
    /// When the refresh token expires, if the provider said (GitHub's `refresh_token_expires_in`).
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The scopes granted (which may differ from those requested).
    pub scopes: Vec<String>,
    /// A second token for the authorizing user, issued beside the app's token (Slack's `authed_user`).
    pub user_token: Option<UserToken>,
    /// Non-secret identifiers from the response (Slack: `team_id`, `bot_user_id`, `app_id`, `authed_user_id`...).
    pub ids: BTreeMap<String, String>,
}

impl TokenSet {
    /// A token set holding only an access token of type `bearer`, for hosts that load tokens from elsewhere.
    pub fn new(access_token: AccessToken) -> Self {
        Self {
            access_token,
            token_type: "bearer".to_owned(),
            expires_at: None,
            refresh_token: None,
            refresh_expires_at: None,
            scopes: Vec::new(),
            user_token: None,
            ids: BTreeMap::new(),
        }
    }
}

/// The user token of a response that also carries an app token (Slack's `authed_user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserToken {
    /// The token.
    pub access_token: AccessToken,
    /// Its `token_type`.
    pub token_type: String,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// Its refresh token, if any.
    pub refresh_token: Option<RefreshToken>,
    /// When its refresh token expires, if the provider said.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The user scopes granted.
    pub scopes: Vec<String>,
}

impl UserToken {
    /// A user token of type `user` with nothing else known, for hosts that load tokens from elsewhere.
    pub fn new(access_token: AccessToken) -> Self {
        Self {
            access_token,
            token_type: "user".to_owned(),
            expires_at: None,
            refresh_token: None,
            refresh_expires_at: None,
            scopes: Vec::new(),
        }
    }
}

/// New tokens that the host must store before it may use them.
///
/// Providers may invalidate the previous tokens the moment they issue new ones (GitHub App user tokens do), so
/// losing these would lock the integration out. Store [`tokens`](Self::tokens), then call
/// [`persisted`](Self::persisted) to get them back for use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "store the tokens, then call `persisted` to use them"]
pub struct Persist {
    tokens: TokenSet,
}

impl Persist {
    pub(crate) fn new(tokens: TokenSet) -> Self {
        Self { tokens }
    }

    /// The tokens to store.
    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    /// Acknowledges that the tokens are stored, and hands them over for use.
    pub fn persisted(self) -> TokenSet {
        self.tokens
    }
}

/// Why a token response gave no tokens, and what to do about it: see [`is_retryable`](Self::is_retryable) and
/// [`needs_reauthorization`](Self::needs_reauthorization).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The provider is overloaded or failing (429, 5xx, `temporarily_unavailable`): retry later with the same
    /// grant; keep the stored refresh token.
    #[error("token endpoint unavailable (http {status}): retry later")]
    Retryable {
        /// The HTTP status.
        status: u16,
        /// The error code, if the body had one.
        code: Option<String>,
        /// Seconds to wait, from `Retry-After`.
        retry_after: Option<u32>,
    },
    /// The code or refresh token is dead (`invalid_grant`, `bad_verification_code`, `bad_refresh_token`,
    /// `invalid_code`...): the user must authorize again. Never retry.
    #[error("grant rejected ({code}): authorize again")]
    Reauthorize {
        /// The error code.
        code: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The client's configuration is wrong (`redirect_uri_mismatch`, `incorrect_client_credentials`,
    /// `invalid_client`...): fix the configuration; retrying cannot help.
    #[error("token request rejected as misconfigured ({code})")]
    Configuration {
        /// The error code.
        code: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// An error code this crate does not classify.
    #[error("token endpoint error {code} (http {status})")]
    Provider {
        /// The HTTP status.
        status: u16,
        /// The error code.
        code: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// A non-success status without an error code in the body.
    #[error("token endpoint answered http {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The body is not JSON nor form-encoded as expected.
    #[error("token response is malformed: {reason}")]
    Malformed {
        /// What is wrong (never the body itself, which may hold tokens).
        reason: String,
    },
    /// A field has an unexpected type.
    #[error("token response field {path} has an unexpected type")]
    InvalidField {
        /// The JSON pointer of the field.
        path: String,
    },
    /// A success response without an access token (Slack `ok:true` with no token).
    #[error("token response has no access_token")]
    MissingAccessToken,
    /// A refresh was asked for tokens without a refresh token: authorize again.
    #[error("no refresh token: authorize again")]
    NoRefreshToken,
    /// The refresh token itself has expired: authorize again.
    #[error("refresh token expired at {expired_at}: authorize again")]
    RefreshExpired {
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
}

impl TokenError {
    /// Whether the same request may succeed later (429, 5xx, the provider's "try again").
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// Whether the user must go through the authorization again.
    pub fn needs_reauthorization(&self) -> bool {
        matches!(
            self,
            Self::Reauthorize { .. } | Self::NoRefreshToken | Self::RefreshExpired { .. }
        )
    }
}

impl OAuthClient {
    /// Reads the token endpoint's answer to the request from
    /// [`VerifiedCallback::claim`](super::VerifiedCallback::claim). `now` is when the response arrived: expiry
    /// times are computed from it.
    pub fn token_response(
        &self,
        response: &http::Response<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<Persist, TokenError> {
        parse_token_response(&self.provider, response, now).map(Persist::new)
    }
}

/// Parses a token endpoint response (code exchange or refresh) by the provider's rules.
pub(crate) fn parse_token_response(
    provider: &Provider,
    response: &http::Response<Vec<u8>>,
    now: DateTime<Utc>,
) -> Result<TokenSet, TokenError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok());
    let parsed = body::parse(response);
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let code = parsed
            .ok()
            .and_then(|value| body::string(&value, "/error").ok().flatten());
        return Err(TokenError::Retryable {
            status: status.as_u16(),
            code,
            retry_after,
        });
    }
    let value = match parsed {
        Ok(value) => value,
        Err(_) if !status.is_success() => {
            return Err(TokenError::Status {
                status: status.as_u16(),
            });
        }
        Err(body::BodyError::NotAnObject(reason)) => return Err(TokenError::Malformed { reason }),
    };
    if let Some(error) = provider_error(provider, &value) {
        let description = body::string(&value, "/error_description").ok().flatten();
        return Err(match provider.classify(&error) {
            Some(ErrorClass::Reauthorize) => TokenError::Reauthorize {
                code: error,
                description,
            },
            Some(ErrorClass::Configuration) => TokenError::Configuration {
                code: error,
                description,
            },
            Some(ErrorClass::Retryable) => TokenError::Retryable {
                status: status.as_u16(),
                code: Some(error),
                retry_after,
            },
            None => TokenError::Provider {
                status: status.as_u16(),
                code: error,
                description,
            },
        });
    }
    if !status.is_success() {
        return Err(TokenError::Status {
            status: status.as_u16(),
        });
    }
    let primary = grant_at(&value, "", now)?;
    let user = match &provider.user_token_at {
        Some(pointer) => grant_at(&value, pointer, now)?,
        None => None,
    };
    let (primary, user) = match (primary, user) {
        (Some(primary), user) => (primary, user),
        (None, Some(user)) => (user, None),
        (None, None) => return Err(TokenError::MissingAccessToken),
    };
    let mut ids = BTreeMap::new();
    for (name, pointer) in &provider.ids {
        if let Ok(Some(id)) = body::string(&value, pointer) {
            ids.insert(name.clone(), id);
        }
    }
    Ok(TokenSet {
        access_token: primary.access_token,
        token_type: primary.token_type,
        expires_at: primary.expires_at,
        refresh_token: primary.refresh_token,
        refresh_expires_at: primary.refresh_expires_at,
        scopes: primary.scopes,
        user_token: user,
        ids,
    })
}

/// The error code of an error body, by the provider's error shape; `None` for a success body.
fn provider_error(provider: &Provider, value: &Value) -> Option<String> {
    let failed = provider
        .success_flag
        .as_ref()
        .is_some_and(|flag| body::flag(value, &format!("/{flag}")) == Some(false));
    let code = body::string(value, "/error").ok().flatten();
    if failed {
        Some(code.unwrap_or_else(|| "unknown_error".to_owned()))
    } else {
        code
    }
}

/// The token fields under `base` (a JSON pointer, `""` for the top level); `None` without an access token.
fn grant_at(value: &Value, base: &str, now: DateTime<Utc>) -> Result<Option<UserToken>, TokenError> {
    let field = |name: &str| format!("{base}/{name}");
    let string =
        |name: &str| body::string(value, &field(name)).map_err(|()| TokenError::InvalidField { path: field(name) });
    let expiry = |name: &str| {
        body::seconds(value, &field(name))
            .map(|seconds| seconds.map(|seconds| now + TimeDelta::seconds(i64::from(seconds))))
            .map_err(|()| TokenError::InvalidField { path: field(name) })
    };
    let Some(access_token) = string("access_token")? else {
        return Ok(None);
    };
    Ok(Some(UserToken {
        access_token: AccessToken::new(access_token),
        token_type: string("token_type")?.unwrap_or_else(|| "bearer".to_owned()),
        expires_at: expiry("expires_in")?,
        refresh_token: string("refresh_token")?.map(RefreshToken::new),
        refresh_expires_at: expiry("refresh_token_expires_in")?,
        scopes: string("scope")?.as_deref().map(body::scopes).unwrap_or_default(),
    }))
}

/// A form-encoded `POST` to a token endpoint with the provider's headers.
pub(crate) fn form_post(provider: &Provider, url: &str, pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut builder = http::Request::post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    for (name, value) in &provider.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(body.into_bytes())
        .expect("endpoint URLs are checked by OAuthClient::new and provider headers by ProviderBuilder::build")
}
