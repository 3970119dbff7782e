//! Names in the background: every `--poll-every` seconds, the objects that events named by id only are looked up
//! with their plugin's enricher ([`run`]); [`enrich_all`] is one pass.
//!
//! Per integration, a pass takes the next [`BATCH`] untitled objects (in key order, from where the last pass
//! stopped, starting over at the end), leaves out those whose lookup failed recently, runs one round through the
//! host's HTTP client and stores the names in place. A failed object keeps its id and is tried again after a
//! backoff (a minute, doubling up to [`MAX_BACKOFF`]); a provider's rate limit holds the integration back until it
//! ends. What a pass remembers lives in [`Enrichment`], owned by the task: a restart starts over, which costs at
//! most one more lookup of what keeps failing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use spark_integrations::enrich::{EnrichContext, Step};
use spark_integrations::store::{ActivityStore, IntegrationStore, UntitledQuery, store_names};

use crate::app::AppState;
use crate::db::note;

/// The most objects one round looks up per integration.
pub const BATCH: usize = 50;

/// The longest wait before a failed lookup is tried again.
pub const MAX_BACKOFF: TimeDelta = TimeDelta::hours(6);

/// What the background task remembers between passes.
#[derive(Debug, Default)]
pub struct Enrichment {
    integrations: HashMap<String, Progress>,
}

#[derive(Debug, Default)]
struct Progress {
    /// Where the next pass continues (the last key listed), `None` to start at the beginning.
    after_key: Option<String>,
    /// The provider asked to stay away until then.
    held_until: Option<DateTime<Utc>>,
    /// Failed objects: how many times in a row, and when to try again.
    failed: HashMap<String, (u32, DateTime<Utc>)>,
}

/// What one pass did, summed over the integrations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Requests sent.
    pub looked_up: usize,
    /// Objects named and stored.
    pub named: usize,
    /// Objects whose lookup failed.
    pub failed: usize,
    /// Integrations held back by a rate limit this pass.
    pub rate_limited: usize,
}

/// One pass over every integration whose plugin has an enricher and that holds a token. Blocking.
pub fn enrich_all(state: &AppState, memory: &mut Enrichment) -> PassReport {
    let mut report = PassReport::default();
    let integrations = match state.db.read().list_integrations() {
        Ok(integrations) => integrations,
        Err(error) => {
            note(&format!("listing integrations to name objects: {error}"));
            return report;
        }
    };
    for integration in integrations {
        let Some(plugin) = state.registry.get(&integration.service) else {
            continue;
        };
        let Some(enricher) = plugin.enricher() else {
            continue;
        };
        if integration.tokens.is_none() {
            continue;
        }
        let now = state.clock.now();
        let progress = memory.integrations.entry(integration.id.clone()).or_default();
        if progress.held_until.is_some_and(|until| until > now) {
            continue;
        }
        let mut query = UntitledQuery::new(&integration.id, enricher.kinds().iter().copied(), BATCH);
        if let Some(after) = &progress.after_key {
            query = query.after(after.clone());
        }
        let listed = match state.db.read().untitled_objects(&query) {
            Ok(listed) => listed,
            Err(error) => {
                note(&format!("listing objects to name of {}: {error}", integration.id));
                continue;
            }
        };
        let started_after = progress.after_key.take();
        if listed.len() == BATCH {
            progress.after_key = listed.last().map(|object| object.key.clone());
        }
        let due: Vec<_> = listed
            .into_iter()
            .filter(|object| {
                progress
                    .failed
                    .get(&object.key)
                    .is_none_or(|(_, retry_at)| *retry_at <= now)
            })
            .collect();
        if due.is_empty() {
            continue;
        }
        let token = match crate::poller::fresh_token(state, &integration, now) {
            Ok(Some(token)) => token,
            Ok(None) => continue,
            Err(problem) => {
                note(&format!("naming objects of {}: {problem:?}", integration.id));
                continue;
            }
        };
        let context = EnrichContext::new(&integration.id).with_access_token(&token);
        let mut round = enricher.start(&context, due);
        while let Step::Send(request) = round.step() {
            report.looked_up += 1;
            match state.http.send(request) {
                Ok(response) => round.handle_response(response, state.clock.now()),
                Err(error) => round.handle_transport_error(&error),
            }
        }
        let outcome = round.finish();
        match store_names(&mut *state.db.write(), &integration.id, &outcome.updated) {
            Ok(_) => report.named += outcome.updated.len(),
            Err(error) => note(&format!("storing names of {}: {error}", integration.id)),
        }
        for object in &outcome.updated {
            progress.failed.remove(&object.key);
        }
        for failure in &outcome.failed {
            let attempts = progress.failed.get(&failure.key).map_or(0, |(attempts, _)| *attempts);
            let backoff = TimeDelta::minutes(1)
                .checked_mul(1 << attempts.min(16))
                .map_or(MAX_BACKOFF, |backoff| backoff.min(MAX_BACKOFF));
            progress
                .failed
                .insert(failure.key.clone(), (attempts.saturating_add(1), now + backoff));
            note(&format!("{failure} (of {}; retried later)", integration.id));
        }
        report.failed += outcome.failed.len();
        if let Some(limit) = outcome.rate_limit {
            report.rate_limited += 1;
            progress.held_until = Some(limit.until);
            // The deferred objects come again: the same page next time.
            progress.after_key = started_after;
        }
    }
    report
}

/// Every `--poll-every` seconds, names what the events stored since named by id only, beginning shortly after the
/// start. Runs until aborted.
pub async fn run(state: Arc<AppState>) {
    let period = state.config.poll_every;
    let start = tokio::time::Instant::now() + period.min(std::time::Duration::from_secs(5));
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let memory = Arc::new(std::sync::Mutex::new(Enrichment::default()));
    loop {
        interval.tick().await;
        let state = Arc::clone(&state);
        let memory = Arc::clone(&memory);
        let pass = tokio::task::spawn_blocking(move || {
            let mut memory = memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            enrich_all(&state, &mut memory)
        });
        if let Err(error) = pass.await {
            note(&format!("the naming task failed: {error}"));
        }
    }
}
