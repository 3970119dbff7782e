//! Polling: one integration on demand ([`poll_integration`]), and the background task that polls every due
//! integration every `--poll-every` seconds ([`run`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use spark_integrations::Integration;
use spark_integrations::oauth::{Driver, TokenSet};
use spark_integrations::poll::{PollCursor, Step};
use spark_integrations::providers::github::{self, GithubPoller};
use spark_integrations::schedule::{self, PollFailure, PollSuccess};
use spark_integrations::store::{IntegrationStore, ingest_conversion};
use spark_integrations::{AccessToken, plugin::Connection};

use crate::app::AppState;
use crate::db::note;
use crate::routes::oauth::store_tokens;

/// The `User-Agent` of the poller's requests (GitHub asks for the application's name).
const USER_AGENT: &str = "spark-integrations-example-server";

/// What one poll did.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) inserted: usize,
    pub(crate) duplicates: usize,
    pub(crate) next_poll_at: DateTime<Utc>,
    /// Repositories that failed this round (the others were polled regardless).
    pub(crate) errors: Vec<String>,
}

/// Why a poll did not run or did not finish.
#[derive(Debug)]
pub(crate) enum PollProblem {
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

/// Polls `integration` now, unless the provider's own limits say to wait: runs the poller through the real
/// client, stores the events, then the cursor. Blocking.
pub(crate) fn poll_integration(
    state: &AppState,
    integration: &Integration,
    now: DateTime<Utc>,
) -> Result<Fetched, PollProblem> {
    let polls = state
        .registry
        .get(&integration.service)
        .is_some_and(|plugin| plugin.connections().contains(Connection::Polling));
    if !polls || integration.service != github::SERVICE {
        return Err(PollProblem::Refused(format!(
            "{} integrations are not polled",
            integration.service
        )));
    }
    let Some(configuration) = &integration.configuration else {
        return Err(PollProblem::Refused("configure the integration first".to_owned()));
    };
    let poll_state = state.db.read().poll_state(&integration.id).map_err(internal)?;
    if let Some(until) = poll_state.next_poll_at.filter(|until| *until > now) {
        return Err(PollProblem::HeldBack { until });
    }

    let mut poller = GithubPoller::new(configuration.strings("repositories"), configuration.strings("events"))
        .with_api_base(&state.config.github_api_url)
        .map_err(|error| PollProblem::Refused(error.to_string()))?
        .with_user_agent(USER_AGENT)
        .with_integration(&integration.id);
    if let Some(token) = fresh_token(state, integration, now)? {
        poller = poller.with_token(token);
    }
    // A cursor this version cannot read starts over; stored events are deduplicated, so nothing is doubled.
    let cursor: PollCursor = poll_state
        .cursor
        .and_then(|cursor| serde_json::from_value(cursor).ok())
        .unwrap_or_default();

    let mut round = poller.start(cursor, now);
    // `Step` is non-exhaustive: anything but `Send` ends the round.
    while let Step::Send(request) = round.step() {
        match state.http.send(request) {
            Ok(response) => round.handle_response(response, state.clock.now()),
            Err(error) => round.handle_transport_error(error),
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
            Err(error) => fetched
                .errors
                .push(format!("event {} of `{}`: {error}", item.id, item.resource)),
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

/// The integration's access token, refreshed (and the new tokens stored) first when it is due.
fn fresh_token(
    state: &AppState,
    integration: &Integration,
    now: DateTime<Utc>,
) -> Result<Option<AccessToken>, PollProblem> {
    let Some(access_token) = integration.access_token.clone() else {
        return Ok(None);
    };
    let Some(client) = state.oauth.get(integration.service.as_str()) else {
        return Ok(Some(access_token));
    };
    let mut tokens = TokenSet::new(access_token);
    tokens.expires_at = integration.expiry;
    tokens.refresh_token = integration.refresh_token.clone();
    tokens.refresh_expires_at = integration.refresh_expiry;
    if !client.refresh_due(&tokens, now) {
        return Ok(Some(tokens.access_token));
    }
    let driver = Driver::new(client, |request| state.http.send(request));
    let fresh = driver
        .refresh(&tokens, now, |tokens: &TokenSet| {
            store_tokens(state, &integration.id, tokens)
        })
        .map_err(|error| PollProblem::Failed(format!("refreshing the token: {error}")))?;
    Ok(Some(fresh.access_token))
}

/// Every `--poll-every` seconds, polls the integrations that are due. Runs until aborted.
pub(crate) async fn run(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(state.config.poll_every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let state = Arc::clone(&state);
        if let Err(error) = tokio::task::spawn_blocking(move || poll_due(&state)).await {
            note(&format!("the poll task failed: {error}"));
        }
    }
}

/// One scheduler pass: each due integration is polled; one failing never stops the others.
fn poll_due(state: &AppState) {
    let now = state.clock.now();
    let due = match schedule::due(&*state.db.read(), &state.registry, now) {
        Ok(due) => due,
        Err(error) => return note(&format!("listing integrations due for a poll: {error}")),
    };
    for integration in due {
        let failure = match poll_integration(state, &integration, now) {
            Ok(_) | Err(PollProblem::HeldBack { .. }) => continue,
            Err(problem) => problem.message(),
        };
        note(&format!("polling {}: {failure}", integration.id));
        let result = schedule::record(
            &mut *state.db.write(),
            &integration.id,
            Err(PollFailure::new(failure)),
            now,
        );
        if let Err(error) = result {
            note(&format!("recording the poll of {}: {error}", integration.id));
        }
    }
}
