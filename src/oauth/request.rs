//! Authenticated API requests and the account lookup.

use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, StatusCode, header};

use super::body;
use super::config::OAuthClient;
use super::provider::ErrorClass;
use super::refresh::Freshness;
use super::token::TokenSet;

/// What to do to call the provider's API with a token set.
#[derive(Debug)]
#[must_use = "send the request, or refresh / re-authorize first"]
#[non_exhaustive]
pub enum Authorized {
    /// Send this request; it carries the access token (its `Authorization` header is marked sensitive, so
    /// `Debug` does not print it).
    Send(http::Request<Vec<u8>>),
    /// The token is expired or due and a refresh token is held: refresh, persist, then pass this request (returned
    /// unchanged, without a token) to [`OAuthClient::authorize_request`] again.
    RefreshFirst(http::Request<Vec<u8>>),
    /// The token is expired and cannot be refreshed: the user must authorize again.
    Reauthorize,
}

/// A request that could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The API path does not form a valid URI with the API base.
    #[error("api path {path} does not form a valid uri")]
    InvalidPath {
        /// The path given.
        path: String,
        /// The parse error.
        #[source]
        source: http::Error,
    },
}

/// The account a token set belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// The provider's identifier for the account (GitHub: `login`; Slack: `user_id`).
    pub id: String,
    /// A display name, when the provider gives one (Slack: `user`).
    pub name: Option<String>,
}

/// Why the account lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The token was refused (401, or a provider code such as Slack's `invalid_auth`): refresh or authorize again.
    #[error("token refused by account lookup ({code})")]
    Unauthorized {
        /// The HTTP status or the provider's error code.
        code: String,
    },
    /// 429 or 5xx: retry later.
    #[error("account lookup unavailable (http {status}): retry later")]
    Retryable {
        /// The HTTP status.
        status: u16,
    },
    /// Another provider error code or HTTP status.
    #[error("account lookup failed: {code} (http {status})")]
    Provider {
        /// The HTTP status.
        status: u16,
        /// The provider's error code, or the status when the body has none.
        code: String,
    },
    /// The body is not a JSON object.
    #[error("account response is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The account identifier is missing.
    #[error("account response has no {path}")]
    MissingId {
        /// The JSON pointer of the identifier.
        path: String,
    },
}

impl AccountError {
    /// Whether the same lookup may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

impl OAuthClient {
    /// Adds the access token and the provider's headers to a request the caller built, or says to refresh or
    /// re-authorize first when the token is expired or due (see [`freshness`](Self::freshness)).
    pub fn authorize_request(
        &self,
        tokens: &TokenSet,
        mut request: http::Request<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Authorized {
        let freshness = self.freshness(tokens, now);
        if freshness != Freshness::Fresh {
            if self.refresh_due(tokens, now) && tokens.refresh_expires_at.is_none_or(|at| now < at) {
                return Authorized::RefreshFirst(request);
            }
            if freshness == Freshness::Expired {
                return Authorized::Reauthorize;
            }
        }
        let Ok(mut value) = HeaderValue::try_from(format!("Bearer {}", tokens.access_token.expose_secret())) else {
            // A token with bytes no header may carry cannot be sent: only a new authorization can fix it.
            return Authorized::Reauthorize;
        };
        value.set_sensitive(true);
        let headers = request.headers_mut();
        for (name, value) in &self.provider.headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        headers.insert(header::AUTHORIZATION, value);
        Authorized::Send(request)
    }

    /// A body-less request to `path` below the provider's API base (`/user`, `/auth.test`), carrying the token.
    pub fn api_request(
        &self,
        tokens: &TokenSet,
        method: Method,
        path: &str,
        now: DateTime<Utc>,
    ) -> Result<Authorized, RequestError> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.provider.api_base))
            .body(Vec::new())
            .map_err(|source| RequestError::InvalidPath {
                path: path.to_owned(),
                source,
            })?;
        Ok(self.authorize_request(tokens, request, now))
    }

    /// The account lookup request (GitHub `GET /user`, Slack `auth.test`).
    pub fn account_request(&self, tokens: &TokenSet, now: DateTime<Utc>) -> Authorized {
        let lookup = &self.provider.account;
        match self.api_request(tokens, lookup.method.clone(), &lookup.path, now) {
            Ok(authorized) => authorized,
            // The lookup path was checked by `ProviderBuilder::build` and the API base by `OAuthClient::new`.
            Err(_) => Authorized::Reauthorize,
        }
    }

    /// Reads the answer to [`account_request`](Self::account_request).
    pub fn account_response(&self, response: &http::Response<Vec<u8>>) -> Result<Account, AccountError> {
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(AccountError::Retryable {
                status: status.as_u16(),
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(AccountError::Unauthorized {
                code: status.as_u16().to_string(),
            });
        }
        let value = body::parse(response).map_err(|body::BodyError::NotAnObject(reason)| {
            if status.is_success() {
                AccountError::Malformed { reason }
            } else {
                AccountError::Provider {
                    status: status.as_u16(),
                    code: status.as_u16().to_string(),
                }
            }
        })?;
        let failed = self
            .provider
            .success_flag
            .as_ref()
            .is_some_and(|flag| body::flag(&value, &format!("/{flag}")) == Some(false));
        if failed || !status.is_success() {
            let code = body::string(&value, "/error")
                .ok()
                .flatten()
                .unwrap_or_else(|| status.as_u16().to_string());
            return Err(match self.provider.classify(&code) {
                Some(ErrorClass::Reauthorize) => AccountError::Unauthorized { code },
                Some(ErrorClass::Retryable) => AccountError::Retryable {
                    status: status.as_u16(),
                },
                _ => AccountError::Provider {
                    status: status.as_u16(),
                    code,
                },
            });
        }
        let lookup = &self.provider.account;
        let id = body::string(&value, &lookup.id)
            .ok()
            .flatten()
            .ok_or_else(|| AccountError::MissingId {
                path: lookup.id.clone(),
            })?;
        let name = lookup
            .name
            .as_ref()
            .and_then(|pointer| body::string(&value, pointer).ok().flatten());
        Ok(Account { id, name })
    }
}
