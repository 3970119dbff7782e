//! Starting an authorization (the authorize URL and [`PendingAuth`]) and checking the callback.

use chrono::{DateTime, Utc};
use url::Url;

use super::config::OAuthClient;
use super::pkce::{CHALLENGE_METHOD, PkceVerifier};
use super::state::{PendingAuth, STATE_LIFETIME, StateId, StateLedger};
use super::token::form_post;
use crate::secret::{constant_time_eq, secret_type};

secret_type! {
    /// The authorization code from the callback: exchanged once for tokens, never printed.
    pub struct AuthorizationCode;
}

/// Where to send the user's browser, and what to keep until the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "redirect the user to `url` and keep `pending` in their session"]
#[non_exhaustive]
pub struct Authorize {
    /// The provider's authorize URL with every parameter: redirect the browser here.
    pub url: String,
    /// Keep it in the user's session; hand it to [`OAuthClient::callback`].
    pub pending: PendingAuth,
}

/// Why [`VerifiedCallback::claim_with`] did not release the token request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError<E> {
    /// The state was used before: a replayed callback. Refuse it.
    #[error("state was already used")]
    AlreadyUsed,
    /// The ledger could not record the state (its storage failed): nothing was claimed.
    #[error("recording the state failed")]
    Ledger(#[source] E),
}

/// Why a callback was refused. Each variant is final for this authorization attempt: start a new one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The callback query has no `state`.
    #[error("callback query has no state")]
    MissingState,
    /// The callback's `state` is not the one issued for this pending authorization.
    #[error("callback state does not match the pending authorization")]
    StateMismatch,
    /// The pending authorization was started for another provider.
    #[error("pending authorization is for provider {found}, not {expected}")]
    OtherProvider {
        /// This client's provider.
        expected: String,
        /// The provider the pending authorization names.
        found: String,
    },
    /// The pending authorization was started by another user.
    #[error("pending authorization belongs to another user")]
    OtherUser,
    /// The `state` expired (10 minutes after start).
    #[error("state expired at {expired_at}")]
    Expired {
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
    /// The `state` was already accepted once.
    #[error("state was already used")]
    AlreadyUsed,
    /// The user declined (`error=access_denied`).
    #[error("the user denied access")]
    AccessDenied {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// The provider reported another error in the callback (`error=...`).
    #[error("provider error in callback: {code}")]
    Provider {
        /// The `error` parameter.
        code: String,
        /// The `error_description` parameter, if any.
        description: Option<String>,
    },
    /// The callback query has neither `code` nor `error`.
    #[error("callback query has no code")]
    MissingCode,
    /// A parameter appears more than once in the callback query.
    #[error("callback query repeats parameter {name}")]
    RepeatedParameter {
        /// The repeated parameter.
        name: String,
    },
}

/// A callback whose `state` checked out. Record [`state_id`](Self::state_id) as used, then [`claim`](Self::claim)
/// the token request with the outcome.
#[must_use = "mark the state used, then claim the token request"]
pub struct VerifiedCallback {
    state_id: StateId,
    expires_at: DateTime<Utc>,
    integration_id: String,
    request: http::Request<Vec<u8>>,
}

impl std::fmt::Debug for VerifiedCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The request body holds the code, the client secret and the verifier: print only where it goes.
        f.debug_struct("VerifiedCallback")
            .field("state_id", &self.state_id)
            .field("expires_at", &self.expires_at)
            .field("integration_id", &self.integration_id)
            .field(
                "request",
                &format_args!("{} {} [body redacted]", self.request.method(), self.request.uri()),
            )
            .finish()
    }
}

impl VerifiedCallback {
    /// The identifier to record as used (insert-if-absent).
    pub fn state_id(&self) -> &StateId {
        &self.state_id
    }

    /// Until when the record must be kept.
    pub fn state_expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// The integration the tokens will belong to, from the pending authorization.
    pub fn integration_id(&self) -> &str {
        &self.integration_id
    }

    /// Releases the token request. `newly_marked` is what recording the state id said: `true` if it was not
    /// recorded before. `false` means a replay and gives [`CallbackError::AlreadyUsed`].
    pub fn claim(self, newly_marked: bool) -> Result<http::Request<Vec<u8>>, CallbackError> {
        if newly_marked {
            Ok(self.request)
        } else {
            Err(CallbackError::AlreadyUsed)
        }
    }

    /// Records the state id in `ledger` and releases the token request.
    ///
    /// # Errors
    ///
    /// [`ClaimError::AlreadyUsed`] when the ledger had the state already (a replayed callback: refuse it), and
    /// [`ClaimError::Ledger`] when the ledger could not record it (try the callback again later).
    pub fn claim_with<L: StateLedger>(self, ledger: &mut L) -> Result<http::Request<Vec<u8>>, ClaimError<L::Error>> {
        let newly_marked = ledger
            .mark_used(&self.state_id, self.expires_at)
            .map_err(ClaimError::Ledger)?;
        self.claim(newly_marked).map_err(|_| ClaimError::AlreadyUsed)
    }
}

impl OAuthClient {
    /// Starts an authorization for `integration_id` on behalf of `user_id` (both chosen by the host).
    ///
    /// `random` is 32 bytes from a secure source (`getrandom`, `OsRng`); the
    /// `state` nonce and the PKCE verifier are derived from it. Redirect the browser to the returned URL and keep the
    /// [`PendingAuth`] in the user's session.
    pub fn start(&self, integration_id: &str, user_id: &str, now: DateTime<Utc>, random: &[u8; 32]) -> Authorize {
        let pending = PendingAuth {
            provider: self.provider.id.clone(),
            integration_id: integration_id.to_owned(),
            user_id: user_id.to_owned(),
            expires_at: now + STATE_LIFETIME,
            nonce: PendingAuth::derive_nonce(random),
            verifier: PkceVerifier::derive(random),
        };
        let mut url = Url::parse(&self.provider.authorize_url).expect("checked by OAuthClient::new");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("response_type", "code");
            query.append_pair("client_id", &self.config.client_id);
            query.append_pair("redirect_uri", &self.config.redirect_uri);
            if !self.config.scopes.is_empty() {
                query.append_pair("scope", &self.config.scopes.join(&self.provider.scope_separator));
            }
            if let Some(param) = &self.provider.user_scope_param
                && !self.config.user_scopes.is_empty()
            {
                query.append_pair(param, &self.config.user_scopes.join(&self.provider.scope_separator));
            }
            query.append_pair("state", &pending.state(&self.state_key));
            query.append_pair("code_challenge", &pending.verifier.challenge());
            query.append_pair("code_challenge_method", CHALLENGE_METHOD);
        }
        Authorize {
            url: url.into(),
            pending,
        }
    }

    /// Checks a callback and builds the token request.
    ///
    /// `query` is the callback URL's raw query string (a leading `?` is ignored); `user_id` is the user of the
    /// session the callback arrived in. Checks, in order: provider, user, `state` present and equal (constant
    /// time), not expired, then `error` / `code`. On success, record the state id and
    /// [`claim`](VerifiedCallback::claim) the request.
    pub fn callback(
        &self,
        pending: PendingAuth,
        query: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedCallback, CallbackError> {
        let params = CallbackParams::parse(query)?;
        if pending.provider != self.provider.id {
            return Err(CallbackError::OtherProvider {
                expected: self.provider.id.clone(),
                found: pending.provider,
            });
        }
        if !constant_time_eq(pending.user_id.as_bytes(), user_id.as_bytes()) {
            return Err(CallbackError::OtherUser);
        }
        let state = params.state.ok_or(CallbackError::MissingState)?;
        if !constant_time_eq(state.as_bytes(), pending.state(&self.state_key).as_bytes()) {
            return Err(CallbackError::StateMismatch);
        }
        if now > pending.expires_at {
            return Err(CallbackError::Expired {
                expired_at: pending.expires_at,
            });
        }
        if let Some(code) = params.error {
            return Err(if code == "access_denied" {
                CallbackError::AccessDenied {
                    description: params.error_description,
                }
            } else {
                CallbackError::Provider {
                    code,
                    description: params.error_description,
                }
            });
        }
        let code = params
            .code
            .filter(|code| !code.is_empty())
            .ok_or(CallbackError::MissingCode)?;
        let code = AuthorizationCode::new(code);
        let request = form_post(
            &self.provider,
            &self.provider.token_url,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose_secret()),
                ("redirect_uri", &self.config.redirect_uri),
                ("client_id", &self.config.client_id),
                ("client_secret", self.config.client_secret.expose_secret()),
                ("code_verifier", pending.verifier.expose_secret()),
            ],
        );
        Ok(VerifiedCallback {
            state_id: pending.state_id(),
            expires_at: pending.expires_at,
            integration_id: pending.integration_id,
            request,
        })
    }
}

/// The callback query parameters this crate reads.
#[derive(Default)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackParams {
    fn parse(query: &str) -> Result<Self, CallbackError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut params = Self::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(CallbackError::RepeatedParameter {
                    name: name.into_owned(),
                });
            }
        }
        Ok(params)
    }
}
