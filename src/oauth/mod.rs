//! OAuth 2.0 authorization-code flows (RFC 6749 with PKCE, RFC 7636) as sans-IO steps.
//!
//! Nothing here sends a request, reads the clock or draws random bytes: each step takes `now` (and, to start,
//! random bytes), returns the [`http::Request`] to send or the value to act on, and takes the
//! [`http::Response`] back. Provider differences are data in a [`Provider`] built by each provider module.
//!
//! ```text
//!  start(integration, user, now, random) ──> Authorize { url, pending }      redirect; keep `pending` in session
//!  callback(pending, query, user, now)   ──> VerifiedCallback                state, expiry, binding checked
//!      .claim(ledger said "new")         ──> token request                   host sends it
//!  token_response(response, now)         ──> Persist(tokens)                 host stores them ...
//!      .persisted()                      ──> TokenSet                        ... then may use them
//!  account_request / authorize_request   ──> Authorized::Send | RefreshFirst | Reauthorize
//!  refresh_request / refresh_response    ──> Persist(tokens)                 old refresh token kept if none sent
//! ```
//!
//! `state` is an HMAC over provider, integration, user, expiry and a nonce, so the [`PendingAuth`] the host keeps
//! is bound and tamper-evident; it expires after [`STATE_LIFETIME`] and is single use through the host's
//! [`StateLedger`] (see the [`state` notes](StateLedger)). Errors say whether to retry
//! ([`TokenError::is_retryable`]) or to send the user through the authorization again
//! ([`TokenError::needs_reauthorization`]).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use spark_integrations::oauth::{ClientConfig, ClientSecret, OAuthClient, StateKey, UsedStates};
//! use spark_integrations::providers::github;
//!
//! let config = ClientConfig::new("Iv1.8a61f9b3a7aba766", ClientSecret::new("s3cr3t"),
//!     "https://app.example.com/oauth/github/callback").with_scopes(["read:user", "repo"]);
//! let client = OAuthClient::new(github::oauth::provider(), config,
//!     StateKey::new("a state key of at least 32 bytes, from config"))?;
//! let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
//!
//! // 1. Start: redirect the browser to `url`, keep `pending` in the user's session.
//! let start = client.start("integration-1", "user-7", now, &[7; 32]);
//! assert!(start.url.starts_with("https://github.com/login/oauth/authorize?response_type=code&"));
//!
//! // 2. Callback: the provider redirects back with `code` and `state`.
//! let state = url::Url::parse(&start.url)?.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
//! let verified = client.callback(start.pending, &format!("code=abc&state={state}"), "user-7", now)?;
//! let mut ledger = UsedStates::new(); // the host's database in real life
//! let request = verified.claim_with(&mut ledger)?;
//! assert_eq!(request.uri(), "https://github.com/login/oauth/access_token");
//!
//! // 3. The host sends `request`; the response becomes tokens that must be stored before use.
//! let response = http::Response::builder().header("content-type", "application/json")
//!     .body(br#"{"access_token":"gho_abc","token_type":"bearer","scope":"read:user,repo"}"#.to_vec())?;
//! let persist = client.token_response(&response, now)?;
//! let stored = serde_json::to_string(persist.tokens())?; // the host's store
//! let tokens = persist.persisted();
//! assert_eq!(tokens.scopes, ["read:user", "repo"]);
//! # let _ = stored;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authorize;
mod body;
mod config;
mod driver;
mod pkce;
mod provider;
mod refresh;
mod request;
mod state;
mod token;

pub use authorize::{AuthorizationCode, Authorize, CallbackError, ClaimError, VerifiedCallback};
pub use config::{
    ClientConfig, ClientSecret, ConfigError, DEFAULT_REFRESH_MARGIN, MIN_STATE_KEY_LEN, OAuthClient, StateKey,
};
pub use driver::{Connected, Driver, DriverError, HostError, HttpClient};
pub use pkce::{CHALLENGE_METHOD, PkceVerifier};
pub use provider::{AccountLookup, ErrorClass, Provider, ProviderBuilder, ProviderError};
pub use refresh::Freshness;
pub use request::{Account, AccountError, Authorized, RequestError};
pub use state::{PendingAuth, STATE_LIFETIME, StateId, StateLedger, UsedStates};
pub use token::{Persist, TokenError, TokenSet, UserToken};
