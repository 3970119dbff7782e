//! A blocking driver that runs the steps against the host's HTTP client, for hosts that do not need to hold the
//! requests themselves.

use chrono::{DateTime, Utc};

use super::authorize::{CallbackError, ClaimError};
use super::config::OAuthClient;
use super::request::{Account, AccountError, Authorized};
use super::state::{PendingAuth, StateLedger};
use super::token::{TokenError, TokenSet};

/// A boxed error from the host's side (HTTP client, ledger, token store).
pub type HostError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Sends one HTTP request and returns the response. Implemented for every
/// `Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, E>`, so a closure around ureq, reqwest's blocking
/// client or a scripted test double is enough.
pub trait HttpClient {
    /// Why the request got no response (connection refused, timeout...).
    type Error;

    /// Sends `request`. Non-2xx statuses are responses, not errors.
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Self::Error>;
}

impl<F, E> HttpClient for F
where
    F: Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, E>,
{
    type Error = E;

    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, E> {
        self(request)
    }
}

/// Why a driven flow stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The callback was refused.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The token endpoint gave no tokens.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The account lookup failed.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The HTTP client failed to get a response: retryable; stored tokens stay valid.
    #[error("http transport failed")]
    Transport(#[source] HostError),
    /// The host's ledger or token store failed.
    #[error("host storage failed")]
    Storage(#[source] HostError),
    /// The tokens cannot be used and cannot be refreshed: the user must authorize again.
    #[error("tokens expired: authorize again")]
    Reauthorize,
}

impl DriverError {
    /// Whether trying again later may succeed (transport failures, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Token(error) => error.is_retryable(),
            Self::Account(error) => error.is_retryable(),
            _ => false,
        }
    }
}

/// A finished authorization: stored tokens and the account they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connected {
    /// The integration from the pending authorization.
    pub integration_id: String,
    /// The tokens, already handed to the host's store.
    pub tokens: TokenSet,
    /// The account the tokens belong to.
    pub account: Account,
}

/// Runs OAuth steps against an [`HttpClient`]: the callback to a connected account, refreshes, API calls.
///
/// Every new token set goes through the `persist` callback before it is used; if `persist` fails, the flow stops.
///
/// It blocks. There is no async driver: an async host calls the steps of the [module docs](super) itself,
/// awaiting its own client (and its own ledger and token store) between them, which is all a driver would do once
/// those three were async; or it runs this one on a blocking thread, as `examples/server/` does.
pub struct Driver<'a, H> {
    client: &'a OAuthClient,
    http: H,
}

impl<H> std::fmt::Debug for Driver<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("client", self.client)
            .finish_non_exhaustive()
    }
}

impl<'a, H> Driver<'a, H>
where
    H: HttpClient,
    H::Error: Into<HostError>,
{
    /// A driver for `client` sending through `http`.
    pub fn new(client: &'a OAuthClient, http: H) -> Self {
        Self { client, http }
    }

    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, DriverError> {
        self.http
            .send(request)
            .map_err(|error| DriverError::Transport(error.into()))
    }

    /// Finishes an authorization: checks the callback, records the state in `ledger`, exchanges the code,
    /// persists the tokens, looks up the account. `now` is used for every step.
    pub fn finish<L, P, E>(
        &self,
        pending: PendingAuth,
        query: &str,
        user_id: &str,
        now: DateTime<Utc>,
        ledger: &mut L,
        persist: P,
    ) -> Result<Connected, DriverError>
    where
        L: StateLedger,
        L::Error: Into<HostError>,
        P: FnOnce(&TokenSet) -> Result<(), E>,
        E: Into<HostError>,
    {
        let verified = self.client.callback(pending, query, user_id, now)?;
        let integration_id = verified.integration_id().to_owned();
        let request = verified.claim_with(ledger).map_err(|error| match error {
            ClaimError::Ledger(error) => DriverError::Storage(error.into()),
            _ => DriverError::Callback(CallbackError::AlreadyUsed),
        })?;
        let response = self.send(request)?;
        let step = self.client.token_response(&response, now)?;
        persist(step.tokens()).map_err(|error| DriverError::Storage(error.into()))?;
        let tokens = step.persisted();
        let account = match self.client.account_request(&tokens, now) {
            Authorized::Send(request) => self.client.account_response(&self.send(request)?)?,
            // Tokens issued a moment ago that are already due: the provider's lifetime is shorter than the margin.
            Authorized::RefreshFirst(_) | Authorized::Reauthorize => return Err(DriverError::Reauthorize),
        };
        Ok(Connected {
            integration_id,
            tokens,
            account,
        })
    }

    /// Refreshes `tokens`, persists the result, and returns it.
    pub fn refresh<P, E>(&self, tokens: &TokenSet, now: DateTime<Utc>, persist: P) -> Result<TokenSet, DriverError>
    where
        P: FnOnce(&TokenSet) -> Result<(), E>,
        E: Into<HostError>,
    {
        let response = self.send(self.client.refresh_request(tokens, now)?)?;
        let step = self.client.refresh_response(tokens, &response, now)?;
        persist(step.tokens()).map_err(|error| DriverError::Storage(error.into()))?;
        Ok(step.persisted())
    }

    /// Sends an API request with `tokens`, refreshing (and persisting through `persist`) first when due. On
    /// return `tokens` holds the token set in use.
    pub fn call<P, E>(
        &self,
        tokens: &mut TokenSet,
        request: http::Request<Vec<u8>>,
        now: DateTime<Utc>,
        persist: P,
    ) -> Result<http::Response<Vec<u8>>, DriverError>
    where
        P: FnOnce(&TokenSet) -> Result<(), E>,
        E: Into<HostError>,
    {
        let request = match self.client.authorize_request(tokens, request, now) {
            Authorized::Send(request) => return self.send(request),
            Authorized::RefreshFirst(request) => request,
            Authorized::Reauthorize => return Err(DriverError::Reauthorize),
        };
        *tokens = self.refresh(tokens, now, persist)?;
        match self.client.authorize_request(tokens, request, now) {
            Authorized::Send(request) => self.send(request),
            Authorized::RefreshFirst(_) | Authorized::Reauthorize => Err(DriverError::Reauthorize),
        }
    }
}
