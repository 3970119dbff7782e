//! Polling: one integration on demand ([`poll_integration`]), and the background task that polls every due
//! integration every `--poll-every` seconds ([`run`]).

use std::sync::Arc;

use std::error::Error;

use chrono::{DateTime, TimeDelta, Utc};
use spark_integrations::oauth::{Driver, OAuthClient, TokenSet};
use spark_integrations::poll::{PollContext, PollCursor, PollSetupError, Step};
use spark_integrations::schedule::{self, PollFailure, PollSuccess};
use spark_integrations::store::{IntegrationStore, RefreshClaim, ingest_conversion};
use spark_integrations::{AccessToken, Integration};

use crate::app::AppState;
use crate::db::note;
use crate::store::StoreError;

/// What one poll did.
#[derive(Debug)]
pub struct Fetched {
    pub inserted: usize,
    pub duplicates: usize,
    pub next_poll_at: DateTime<Utc>,
    /// Resources that failed this round (the others were polled regardless).
    pub errors: Vec<String>,
}

/// Why a poll did not run or did not finish.
#[derive(Debug)]
pub enum PollProblem {
    /// The provider asked to wait (`X-Poll-Interval`, a rate limit) until then.
    HeldBack { until: DateTime<Utc> },
    /// The integration cannot be polled as it is: its service does not poll, or it is not configured.
    Refused(String),
    /// The provider could not be reached, or the token could not be refreshed.
    Failed(String),
    /// The database failed.
    Internal(String),
}

impl PollProblem {
    fn message(&self) -> String {
        match self {
            Self::HeldBack { until } => format!("held back until {until}"),
            Self::Refused(message) | Self::Failed(message) | Self::Internal(message) => message.clone(),
        }
    }
}

fn internal(error: impl std::fmt::Display) -> PollProblem {
    PollProblem::Internal(error.to_string())
}

/// Polls `integration` now with its plugin's poller, unless the provider's own word says to wait: runs the round
/// through the real client, stores the events, then the cursor. Blocking.
pub fn poll_integration(
    state: &AppState,
    integration: &Integration,
    now: DateTime<Utc>,
) -> Result<Fetched, PollProblem> {
    let not_polled = || PollProblem::Refused(format!("{} integrations are not polled", integration.service));
    let plugin = state.registry.get(&integration.service).ok_or_else(not_polled)?;
    let poller = plugin.poller().ok_or_else(not_polled)?;
    let Some(configuration) = &integration.configuration else {
        return Err(PollProblem::Refused("configure the integration first".to_owned()));
    };
    let poll_state = state.db.read().poll_state(&integration.id).map_err(internal)?;
    // Only the provider's own interval or rate limit (kept as `next_poll_at`) holds a poll back: the scheduler's
    // cadence is never a floor.
    if let Some(until) = poll_state.next_poll_at.filter(|until| *until > now) {
        return Err(PollProblem::HeldBack { until });
    }

    let token = fresh_token(state, integration, now)?;
    let mut context = PollContext::new(&integration.id, configuration);
    if let Some(token) = &token {
        context = context.with_access_token(token);
    }
    // A cursor this version cannot read starts over; stored events are deduplicated, so nothing is doubled.
    let cursor: PollCursor = poll_state
        .cursor
        .and_then(|cursor| serde_json::from_value(cursor).ok())
        .unwrap_or_default();

    let mut round = poller.start(&context, cursor, now).map_err(|error| match error {
        PollSetupError::NotConfigured => PollProblem::Refused("configure the integration first".to_owned()),
        other => PollProblem::Refused(other.to_string()),
    })?;
    // `Step` is non-exhaustive: anything but `Send` ends the round.
    while let Step::Send(request) = round.step() {
        match state.http.send(request) {
            Ok(response) => round.handle_response(response, state.clock.now()),
            Err(error) => round.handle_transport_error(&error),
        }
    }
    let outcome = round.finish();

    // Events first, the cursor after: a crash in between polls the same events again, and they dedupe.
    let mut fetched = Fetched {
        inserted: 0,
        duplicates: 0,
        next_poll_at: outcome.next_poll_at,
        errors: outcome.errors.iter().map(ToString::to_string).collect(),
    };
    for item in &outcome.items {
        match &item.conversion {
            Ok(conversion) => {
                let report =
                    ingest_conversion(&mut *state.db.write(), &integration.id, conversion).map_err(internal)?;
                fetched.inserted += report.inserted;
                fetched.duplicates += report.duplicates;
            }
            Err(error) => {
                fetched
                    .errors
                    .push(format!("event {} of `{}`: {error}", item.id, item.resource));
                // Kept with its raw JSON, so that it is stored once the converter is fixed (`/api/inbox/...`).
                if let Some(raw) = &item.raw {
                    crate::inbox::keep_failed_item(
                        state,
                        &integration.id,
                        &integration.service,
                        &item.kind,
                        &item.id,
                        raw,
                        &error.to_string(),
                    )
                    .map_err(internal)?;
                }
            }
        }
    }
    let cursor = serde_json::to_value(&outcome.cursor).map_err(internal)?;
    let success = PollSuccess::new(outcome.next_poll_at).with_cursor(cursor);
    let mut store = state.db.write();
    let mut recorded = schedule::record(&mut *store, &integration.id, Ok(success), now).map_err(internal)?;
    if !fetched.errors.is_empty() {
        recorded.last_error = Some(fetched.errors.join("; "));
        store.save_poll_state(&integration.id, &recorded).map_err(internal)?;
    }
    Ok(fetched)
}

/// How long a refresh lease lasts: longer than a token request can take (the HTTP client gives up sooner). An
/// instance that crashes mid-refresh holds it this long at most.
const REFRESH_LEASE: TimeDelta = TimeDelta::seconds(30);

/// How long to wait between asks while another instance refreshes.
const REFRESH_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The integration's access token, refreshed first when it is due: single-flight across every instance on the
/// database, as `IntegrationStore::try_begin_refresh` describes. One instance sends the refresh request and stores
/// the new tokens; the others wait for them and use them. Blocking.
pub fn fresh_token(
    state: &AppState,
    integration: &Integration,
    now: DateTime<Utc>,
) -> Result<Option<AccessToken>, PollProblem> {
    let Some(client) = state.oauth.get(integration.service.as_str()) else {
        return Ok(integration.access_token().cloned());
    };
    let removed = || PollProblem::Failed("the integration was removed".to_owned());
    let give_up = now + REFRESH_LEASE * 2;
    loop {
        let now = state.clock.now();
        // The stored tokens, not those of `integration`: another instance may have refreshed them meanwhile.
        let (current, version) = {
            let store = state.db.read();
            let version = store
                .token_version(&integration.id)
                .map_err(internal)?
                .ok_or_else(removed)?;
            let current = store
                .find_integration(&integration.id)
                .map_err(internal)?
                .ok_or_else(removed)?;
            (current, version)
        };
        let Some(tokens) = current.tokens else {
            return Ok(None);
        };
        if !client.refresh_due(&tokens, now) {
            return Ok(Some(tokens.access_token));
        }
        let claim = state
            .db
            .write()
            .try_begin_refresh(&integration.id, version, &state.instance, now, REFRESH_LEASE)
            .map_err(internal)?;
        match claim {
            RefreshClaim::Granted(record) => return refresh(state, client, &record, version, now),
            // Newer tokens are stored: read them again.
            RefreshClaim::Superseded { .. } => {}
            RefreshClaim::Busy { .. } if now < give_up => std::thread::sleep(REFRESH_WAIT),
            RefreshClaim::Busy { until } => {
                return Err(PollProblem::Failed(format!(
                    "another instance is refreshing the token (its lease runs until {until})"
                )));
            }
            _ => return Err(removed()),
        }
    }
}

/// Refreshes the tokens of `record` (version `version`, whose refresh lease this instance holds) and stores the
/// new ones before using them; on failure, gives the lease up so that another instance may try.
fn refresh(
    state: &AppState,
    client: &OAuthClient,
    record: &Integration,
    version: i64,
    now: DateTime<Utc>,
) -> Result<Option<AccessToken>, PollProblem> {
    let Some(tokens) = &record.tokens else {
        return Ok(None);
    };
    let persist = |fresh: &TokenSet| -> Result<(), Box<dyn Error + Send + Sync>> {
        if state.db.write().replace_tokens(&record.id, version, fresh)? {
            Ok(())
        } else {
            Err("another instance stored newer tokens first".into())
        }
    };
    let driver = Driver::new(client, |request| state.http.send(request));
    match driver.refresh(tokens, now, persist) {
        Ok(fresh) => Ok(Some(fresh.access_token)),
        Err(error) => {
            if let Err(release) = state.db.write().release_refresh(&record.id, &state.instance) {
                note(&format!("releasing the refresh lease of {}: {release}", record.id));
            }
            Err(PollProblem::Failed(format!("refreshing the token: {error}")))
        }
    }
}

/// Every `--poll-every` seconds, polls the integrations that are due, beginning one period after the start.
/// Runs until aborted.
pub async fn run(state: Arc<AppState>) {
    // The first pass one period after the start, not at once: a restart does not poll ahead of schedule (the
    // stored `next_poll_at` still holds), and integrations being set up are not polled half configured.
    let start = tokio::time::Instant::now() + state.config.poll_every;
    let mut interval = tokio::time::interval_at(start, state.config.poll_every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let state = Arc::clone(&state);
        if let Err(error) = tokio::task::spawn_blocking(move || poll_due(&state)).await {
            note(&format!("the poll task failed: {error}"));
        }
    }
}

/// How long a poll lease lasts: longer than a poll can take. An instance that crashes mid-poll holds its
/// integrations this long at most; then another instance polls them.
pub const POLL_LEASE: TimeDelta = TimeDelta::minutes(10);

/// The most integrations one scheduler pass takes; the rest wait for the next pass (or another instance).
const POLLS_PER_PASS: usize = 100;

/// One scheduler pass: takes a lease on the due integrations no other instance is polling, and polls each; one
/// failing never stops the others. Recording each result releases its lease.
pub fn poll_due(state: &AppState) {
    let now = state.clock.now();
    let due = schedule::acquire_due(
        &mut *state.db.write(),
        &state.registry,
        &state.instance,
        now,
        POLL_LEASE,
        POLLS_PER_PASS,
    );
    let due = match due {
        Ok(due) => due,
        Err(error) => return note(&format!("listing integrations due for a poll: {error}")),
    };
    for integration in due {
        // Failures are recorded on the integration (and shown on the page); one never stops the others.
        let _ = poll_leased(state, &integration, now);
    }
}

/// Polls `integration`, whose poll lease this instance holds, and gives the lease back whatever happens: recording
/// the success or the failure releases it, and a poll that did not run leaves the stored state as it was.
pub fn poll_leased(state: &AppState, integration: &Integration, now: DateTime<Utc>) -> Result<Fetched, PollProblem> {
    let result = poll_integration(state, integration, now);
    let released = match &result {
        // `poll_integration` recorded it.
        Ok(_) => Ok(()),
        // Nothing was polled: the provider holds it back, or it cannot be polled as it is (not configured yet:
        // recording that would hold the first poll back after the user configures it).
        Err(PollProblem::HeldBack { .. } | PollProblem::Refused(_)) => release_lease(state, &integration.id),
        Err(problem) => {
            let failure = problem.message();
            note(&format!("polling {}: {failure}", integration.id));
            schedule::record(
                &mut *state.db.write(),
                &integration.id,
                Err(PollFailure::new(failure)),
                now,
            )
            .map(drop)
        }
    };
    if let Err(error) = released {
        note(&format!("recording the poll of {}: {error}", integration.id));
    }
    result
}

/// Gives back the poll lease on `id`, changing nothing else.
fn release_lease(state: &AppState, id: &str) -> Result<(), StoreError> {
    let mut store = state.db.write();
    let poll = store.poll_state(id)?;
    store.save_poll_state(id, &poll)
}
