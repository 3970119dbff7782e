//! The scheduler step: which integrations are due for a poll, and how each poll's result is recorded.
//!
//! The host runs this on a timer. One integration failing never stops the
//! others: its error is kept on its [`PollState`] and it is retried later.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use spark_integrations::plugin::Registry;
//! use spark_integrations::providers::github::GithubPlugin;
//! use spark_integrations::schedule::{self, PollFailure, PollSuccess};
//! use spark_integrations::store::{IntegrationStore, MemoryStore};
//! use spark_integrations::Integration;
//!
//! let mut registry = Registry::new();
//! registry.register(GithubPlugin::new())?;
//! let mut store = MemoryStore::new();
//! for (id, random) in [("broken", [1; 32]), ("healthy", [2; 32])] {
//!     // `random` comes from the host's CSPRNG.
//!     store.create_integration(&Integration::initialize(&GithubPlugin::new(), id, "user-1", &random))?;
//! }
//! let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
//! for integration in schedule::due(&store, &registry, now)? {
//!     // Here the host runs the poller (sending its requests) and ingests the conversions.
//!     let result = if integration.id == "broken" {
//!         Err(PollFailure::new("403: resource not accessible"))
//!     } else {
//!         Ok(PollSuccess::new(now + Duration::seconds(60)))
//!     };
//!     schedule::record(&mut store, &integration.id, result, now)?;
//! }
//! assert_eq!(store.poll_state("broken")?.last_error.as_deref(), Some("403: resource not accessible"));
//! assert_eq!(store.poll_state("healthy")?.last_error, None);
//! assert!(schedule::due(&store, &registry, now)?.is_empty(), "both wait for their next turn");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use chrono::{DateTime, Duration, Utc};

use crate::integration::Integration;
use crate::plugin::{Connection, Registry};
use crate::store::{IntegrationStore, PollState};

/// How long a failed poll waits before the next try when the failure names no time of its own.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::minutes(5);

/// The integrations due for a poll at `now`: those of plugins that poll ([`Connection::Polling`]) whose next poll
/// time has come, earliest first.
///
/// # Errors
///
/// When the store fails.
pub fn due<S: IntegrationStore>(
    store: &S,
    registry: &Registry,
    now: DateTime<Utc>,
) -> Result<Vec<Integration>, S::Error> {
    let services: Vec<&str> = registry
        .with_connection(Connection::Polling)
        .map(|plugin| plugin.identifier())
        .collect();
    if services.is_empty() {
        return Ok(Vec::new());
    }
    store.due_for_polling(&services, now)
}

/// Like [`due`], for hosts that run several schedulers on one store: takes a poll lease on at most `limit` due
/// integrations that no other scheduler holds, for `holder` (an id of this instance) until `now + lease`, and
/// answers them. [`record`] releases each lease; a scheduler that crashes leaves leases that expire, and the
/// integrations are handed out again. See [`IntegrationStore::acquire_due_for_polling`].
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use spark_integrations::plugin::Registry;
/// use spark_integrations::providers::github::GithubPlugin;
/// use spark_integrations::schedule::{self, PollSuccess};
/// use spark_integrations::store::{IntegrationStore, MemoryStore};
/// use spark_integrations::Integration;
///
/// let mut registry = Registry::new();
/// registry.register(GithubPlugin::new())?;
/// let mut store = MemoryStore::new();
/// store.create_integration(&Integration::initialize(&GithubPlugin::new(), "g1", "user-1", &[1; 32]))?;
/// let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
/// let lease = Duration::minutes(5);
///
/// let mine = schedule::acquire_due(&mut store, &registry, "instance-a", now, lease, 10)?;
/// assert_eq!(mine.len(), 1);
/// // Another scheduler asking at the same time gets nothing: `g1` is being polled.
/// assert!(schedule::acquire_due(&mut store, &registry, "instance-b", now, lease, 10)?.is_empty());
/// // Recording the result releases the lease.
/// schedule::record(&mut store, "g1", Ok(PollSuccess::new(now + Duration::seconds(60))), now)?;
/// let later = now + Duration::seconds(60);
/// assert_eq!(schedule::acquire_due(&mut store, &registry, "instance-b", later, lease, 10)?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// When the store fails.
pub fn acquire_due<S: IntegrationStore>(
    store: &mut S,
    registry: &Registry,
    holder: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Integration>, S::Error> {
    let services: Vec<&str> = registry
        .with_connection(Connection::Polling)
        .map(|plugin| plugin.identifier())
        .collect();
    if services.is_empty() {
        return Ok(Vec::new());
    }
    store.acquire_due_for_polling(&services, holder, now, lease, limit)
}

/// A poll that finished: when to poll next and the poller's new cursor.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PollSuccess {
    /// The earliest time to poll again.
    pub next_poll_at: DateTime<Utc>,
    /// The poller's new cursor, as JSON; `None` keeps the stored one.
    pub cursor: Option<serde_json::Value>,
}

impl PollSuccess {
    /// A success that polls again at `next_poll_at` and keeps the stored cursor.
    pub fn new(next_poll_at: DateTime<Utc>) -> Self {
        Self {
            next_poll_at,
            cursor: None,
        }
    }

    /// The same success, storing a new cursor.
    #[must_use]
    pub fn with_cursor(mut self, cursor: serde_json::Value) -> Self {
        self.cursor = Some(cursor);
        self
    }
}

/// A poll that failed: what to show, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollFailure {
    /// What went wrong, for people (it is kept on the integration). Must not contain secrets.
    pub message: String,
    /// The earliest time to try again; [`DEFAULT_RETRY_AFTER`] from now when `None`.
    pub retry_at: Option<DateTime<Utc>>,
}

impl PollFailure {
    /// A failure retried after [`DEFAULT_RETRY_AFTER`].
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_at: None,
        }
    }

    /// The same failure, retried no earlier than `retry_at` (a rate limit's reset time, say).
    #[must_use]
    pub fn retry_at(mut self, retry_at: DateTime<Utc>) -> Self {
        self.retry_at = Some(retry_at);
        self
    }
}

/// Records the result of polling `integration_id` at `now` on its [`PollState`]: a success stores the cursor and
/// clears the last error; a failure keeps the cursor, stores the error and sets the retry time. Releases the poll
/// lease taken by [`acquire_due`].
///
/// # Errors
///
/// When the store fails.
pub fn record<S: IntegrationStore>(
    store: &mut S,
    integration_id: &str,
    result: Result<PollSuccess, PollFailure>,
    now: DateTime<Utc>,
) -> Result<PollState, S::Error> {
    let mut state = store.poll_state(integration_id)?;
    state.last_polled_at = Some(now);
    match result {
        Ok(success) => {
            state.next_poll_at = Some(success.next_poll_at);
            if let Some(cursor) = success.cursor {
                state.cursor = Some(cursor);
            }
            state.last_error = None;
        }
        Err(failure) => {
            state.next_poll_at = Some(failure.retry_at.unwrap_or(now + DEFAULT_RETRY_AFTER));
            state.last_error = Some(failure.message);
        }
    }
    store.save_poll_state(integration_id, &state)?;
    Ok(state)
}
