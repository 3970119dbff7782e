//! Storage of [`Integration`] records and their polling state.

use std::error::Error as StdError;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::integration::{Integration, RoutingSecret};
use crate::oauth::TokenSet;

/// Storage of integrations: the host's table of who connected what.
///
/// Every method is one atomic step. Integrations are found by id, or by the routing secret of their webhook URL:
/// implementations index the secret's [`routing_key`] (a SHA-256 digest), not the secret itself, so that lookups do
/// not compare secrets byte by byte.
pub trait IntegrationStore {
    /// What goes wrong in this store.
    type Error: StdError + Send + Sync + 'static;

    /// Stores a new integration (from [`Integration::initialize`]).
    ///
    /// # Errors
    ///
    /// When an integration with the same id exists, or the store fails.
    fn create_integration(&mut self, integration: &Integration) -> Result<(), Self::Error>;

    /// Replaces the stored record of `integration.id`: account, tokens and their expiries, configuration, display
    /// name. Answers `false` when no such integration exists. When the tokens differ from the stored ones (a new
    /// authorization), the [token version](Self::token_version) goes up by one, so that a refresh in flight
    /// elsewhere does not overwrite them; refreshed tokens go through [`replace_tokens`](Self::replace_tokens).
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn update_integration(&mut self, integration: &Integration) -> Result<bool, Self::Error>;

    /// Replaces the display name, account id and configuration of `integration.id`, leaving its tokens as they are
    /// stored. Answers `false` when no such integration exists.
    ///
    /// Use it for every change that is not a new authorization (a configuration saved, the account looked up):
    /// a record read before another instance refreshed its tokens still holds the old ones, and writing it back
    /// with [`update_integration`](Self::update_integration) would put revoked tokens in place of fresh ones.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn update_details(&mut self, integration: &Integration) -> Result<bool, Self::Error>;

    /// The integration with this id.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn find_integration(&self, id: &str) -> Result<Option<Integration>, Self::Error>;

    /// The integration of `service` whose webhook URL holds `routing_secret`.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn find_by_routing_secret(
        &self,
        service: &str,
        routing_secret: &RoutingSecret,
    ) -> Result<Option<Integration>, Self::Error>;

    /// Every integration, in creation order.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn list_integrations(&self) -> Result<Vec<Integration>, Self::Error>;

    /// The polling state of an integration; [`PollState::default`] for one never polled.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn poll_state(&self, id: &str) -> Result<PollState, Self::Error>;

    /// Replaces the polling state of an integration, and releases its poll lease (see
    /// [`acquire_due_for_polling`](Self::acquire_due_for_polling)).
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn save_poll_state(&mut self, id: &str, state: &PollState) -> Result<(), Self::Error>;

    /// Integrations of the given services whose next poll is due at `now` (never polled, or `next_poll_at <= now`),
    /// earliest first.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn due_for_polling(&self, services: &[&str], now: DateTime<Utc>) -> Result<Vec<Integration>, Self::Error>;

    /// Takes a poll lease on at most `limit` integrations that are due at `now` (as in
    /// [`due_for_polling`](Self::due_for_polling)) and not leased by anyone, or whose lease has expired, and answers
    /// them, earliest due first. Each lease is held by `holder` (an id unique to the calling instance) until
    /// `now + lease`, or until [`save_poll_state`](Self::save_poll_state) releases it. A lease is never handed out
    /// twice while it runs, not even to the same holder.
    ///
    /// With several schedulers on one store, each due integration is handed to exactly one of them at a time; one
    /// that crashes mid-poll leaves a lease that expires, and the integration is handed out again. Choose `lease`
    /// longer than a poll can take.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn acquire_due_for_polling(
        &mut self,
        services: &[&str],
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Integration>, Self::Error>;

    /// Takes the poll lease on the integration `id` for `holder` until `now + lease`, due or not: for a poll the
    /// user asked for ("poll now") on a host where schedulers also run. Answers the integration, or `None`, taking
    /// nothing, when no such integration exists or another poll holds its lease (the holder itself included, as in
    /// [`acquire_due_for_polling`](Self::acquire_due_for_polling)). [`save_poll_state`](Self::save_poll_state)
    /// releases it.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn acquire_poll_lease(
        &mut self,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Integration>, Self::Error>;

    /// The version of an integration's tokens: 0 when created, one more each time
    /// [`replace_tokens`](Self::replace_tokens) or [`update_integration`](Self::update_integration) changes them.
    /// `None` when no such integration exists. See [`try_begin_refresh`](Self::try_begin_refresh) for its use.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn token_version(&self, id: &str) -> Result<Option<i64>, Self::Error>;

    /// Asks for the right to refresh an integration's tokens: single-flight refresh across instances.
    ///
    /// A refresh token is single use at some providers (GitHub App user tokens: refreshing invalidates the previous
    /// tokens), so two instances refreshing the same grant at once lock the user out. The host follows this
    /// protocol whenever an access token is due for a refresh:
    ///
    /// 1. Read [`token_version`](Self::token_version) (the version whose tokens it wants to replace).
    /// 2. Call `try_begin_refresh` with that version, an id of its own instance (`holder`), `now` and a `ttl` longer
    ///    than a refresh request can take:
    ///    - [`RefreshClaim::Granted`]: it holds the refresh lease until `now + ttl`. Refresh with the returned
    ///      record's refresh token, then store the result with [`replace_tokens`](Self::replace_tokens) and the same
    ///      version (which also releases the lease). When the refresh fails, call
    ///      [`release_refresh`](Self::release_refresh) (after storing nothing, or after recording a terminal error).
    ///    - [`RefreshClaim::Superseded`]: another instance already stored newer tokens; read the integration again
    ///      and use them.
    ///    - [`RefreshClaim::Busy`]: another instance is refreshing right now; wait a little, then go back to step 1.
    ///      If that instance crashed, its lease expires at `until` and the next try is granted.
    ///    - [`RefreshClaim::Missing`]: the integration was deleted.
    ///
    /// So for N instances that find the same token expiring at once, one refresh request is sent and all N end with
    /// the tokens it stored.
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use spark_integrations::providers::github::GithubPlugin;
    /// use spark_integrations::oauth::TokenSet;
    /// use spark_integrations::store::{IntegrationStore, MemoryStore, RefreshClaim};
    /// use spark_integrations::{AccessToken, Integration};
    ///
    /// let mut store = MemoryStore::new();
    /// store.create_integration(&Integration::initialize(&GithubPlugin::new(), "g1", "user-1", &[1; 32]))?;
    /// let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
    /// let ttl = Duration::seconds(30);
    ///
    /// // Instances `a` and `b` both see version 0 expiring and ask to refresh it.
    /// let seen = store.token_version("g1")?.expect("created above");
    /// let RefreshClaim::Granted(mut record) = store.try_begin_refresh("g1", seen, "a", now, ttl)? else {
    ///     panic!("the first asker is granted the refresh");
    /// };
    /// assert!(matches!(store.try_begin_refresh("g1", seen, "b", now, ttl)?, RefreshClaim::Busy { .. }));
    ///
    /// // `a` sends the refresh request with `record.refresh_token`, then stores what came back.
    /// record.tokens = Some(TokenSet::new(AccessToken::new("gho_new")));
    /// assert!(store.replace_tokens("g1", seen, record.tokens.as_ref().expect("set above"))?);
    ///
    /// // `b` tries again and is told to use the stored tokens instead of refreshing a second time.
    /// assert!(matches!(store.try_begin_refresh("g1", seen, "b", now, ttl)?, RefreshClaim::Superseded { version: 1 }));
    /// let stored = store.find_integration("g1")?.expect("stored");
    /// assert_eq!(stored.access_token().map(AccessToken::expose_secret), Some("gho_new"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn try_begin_refresh(
        &mut self,
        id: &str,
        seen_version: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<RefreshClaim, Self::Error>;

    /// Stores `tokens` as the integration's [tokens](Integration::tokens) if its token version is still
    /// `expected_version`, bumps the version and releases the refresh lease. Answers `false`, storing nothing, when the version moved on (another instance stored tokens first) or
    /// the integration does not exist.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn replace_tokens(&mut self, id: &str, expected_version: i64, tokens: &TokenSet) -> Result<bool, Self::Error>;

    /// Gives up the refresh lease `holder` took with [`try_begin_refresh`](Self::try_begin_refresh), when the
    /// refresh failed, so that another instance may try. Does nothing when `holder` does not hold it.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn release_refresh(&mut self, id: &str, holder: &str) -> Result<(), Self::Error>;
}

/// What [`IntegrationStore::try_begin_refresh`] answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RefreshClaim {
    /// The caller holds the refresh lease: refresh with this record's refresh token (the tokens of the version it
    /// saw), then call [`IntegrationStore::replace_tokens`].
    Granted(Box<Integration>),
    /// The tokens changed since the version the caller saw: read them again and use them, no refresh needed.
    Superseded {
        /// The current token version.
        version: i64,
    },
    /// Another instance holds the refresh lease until `until`: wait, then start over.
    Busy {
        /// When that lease expires, if it is not released before.
        until: DateTime<Utc>,
    },
    /// No integration has this id.
    Missing,
}

/// Where polling of one integration stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PollState {
    /// The poller's cursor (ETags, last seen ids), as JSON the poller wrote.
    pub cursor: Option<serde_json::Value>,
    /// The earliest time to poll again; `None` means now.
    pub next_poll_at: Option<DateTime<Utc>>,
    /// When the last poll finished.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// What went wrong in the last poll, if it failed; cleared by a successful poll.
    pub last_error: Option<String>,
}

impl PollState {
    /// Whether a poll is due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.next_poll_at.is_none_or(|next| next <= now)
    }
}

/// When a lease taken at `now` for `ttl` ends; saturates at the end of year 9999, which every store can write
/// and order (SQLite's text times, Postgres `timestamptz`), so that an absurd `ttl` cannot overflow.
pub(crate) fn lease_end(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    let last = DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    now.checked_add_signed(ttl).map_or(last, |end| end.min(last))
}

/// For the stores' [`StateLedger`](crate::oauth::StateLedger)s: ledger entries that expire before this time are
/// of no use any more when a state expiring at `expires_at` is recorded. Every state lives exactly
/// [`STATE_LIFETIME`](crate::oauth::STATE_LIFETIME), so this is when that state was issued: a moment already past,
/// whatever the caller's clock.
pub(crate) fn expired_before(expires_at: DateTime<Utc>) -> DateTime<Utc> {
    expires_at
        .checked_sub_signed(crate::oauth::STATE_LIFETIME)
        .unwrap_or(expires_at)
}

/// An integration's tokens as the database stores show them in columns: the access and refresh tokens and their
/// expiries in columns of their own (as before schema version 6), everything else of the [`TokenSet`] as JSON in
/// `token_details`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) struct TokenColumns<'a> {
    pub(crate) access_token: Option<&'a str>,
    pub(crate) refresh_token: Option<&'a str>,
    pub(crate) expiry: Option<DateTime<Utc>>,
    pub(crate) refresh_expiry: Option<DateTime<Utc>>,
    pub(crate) details: Option<String>,
}

/// The part of a [`TokenSet`] kept as JSON in `token_details`. A row without it (written before schema version 6)
/// reads as a `bearer` token with no scopes, user token or ids, which is what was stored then.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[derive(Serialize, Deserialize)]
struct TokenDetails {
    token_type: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    user_token: Option<crate::oauth::UserToken>,
    #[serde(default)]
    ids: std::collections::BTreeMap<String, String>,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<'a> TokenColumns<'a> {
    /// The columns of `tokens`; all `NULL` for an integration not authorized yet.
    pub(crate) fn of(tokens: Option<&'a TokenSet>) -> Result<Self, serde_json::Error> {
        let Some(tokens) = tokens else {
            return Ok(Self {
                access_token: None,
                refresh_token: None,
                expiry: None,
                refresh_expiry: None,
                details: None,
            });
        };
        let details = TokenDetails {
            token_type: tokens.token_type.clone(),
            scopes: tokens.scopes.clone(),
            user_token: tokens.user_token.clone(),
            ids: tokens.ids.clone(),
        };
        Ok(Self {
            access_token: Some(tokens.access_token.expose_secret()),
            refresh_token: tokens.refresh_token.as_ref().map(crate::RefreshToken::expose_secret),
            expiry: tokens.expires_at,
            refresh_expiry: tokens.refresh_expires_at,
            details: Some(serde_json::to_string(&details)?),
        })
    }

    /// The tokens these columns hold; `None` without an access token.
    pub(crate) fn read(
        access_token: Option<String>,
        refresh_token: Option<String>,
        expiry: Option<DateTime<Utc>>,
        refresh_expiry: Option<DateTime<Utc>>,
        details: Option<&str>,
    ) -> Result<Option<TokenSet>, serde_json::Error> {
        let Some(access_token) = access_token else {
            return Ok(None);
        };
        let mut tokens = TokenSet::new(crate::AccessToken::new(access_token));
        tokens.refresh_token = refresh_token.map(crate::RefreshToken::new);
        tokens.expires_at = expiry;
        tokens.refresh_expires_at = refresh_expiry;
        if let Some(details) = details {
            let details: TokenDetails = serde_json::from_str(details)?;
            tokens.token_type = details.token_type;
            tokens.scopes = details.scopes;
            tokens.user_token = details.user_token;
            tokens.ids = details.ids;
        }
        Ok(Some(tokens))
    }
}

/// The lookup key of a routing secret: the hex SHA-256 of its text. Stores index this instead of the secret.
pub fn routing_key(secret: &RoutingSecret) -> String {
    hex::encode(Sha256::digest(secret.expose_secret().as_bytes()))
}
