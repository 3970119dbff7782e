//! Storage of [`Integration`] records and their polling state.

use std::error::Error as StdError;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::integration::{Integration, RoutingSecret};

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
    /// name. Answers `false` when no such integration exists.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn update_integration(&mut self, integration: &Integration) -> Result<bool, Self::Error>;

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

    /// Replaces the polling state of an integration.
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

/// The lookup key of a routing secret: the hex SHA-256 of its text. Stores index this instead of the secret.
pub fn routing_key(secret: &RoutingSecret) -> String {
    hex::encode(Sha256::digest(secret.expose_secret().as_bytes()))
}
