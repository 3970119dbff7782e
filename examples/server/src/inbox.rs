//! The host's use of the library's inbox: every verified delivery is kept before it is acknowledged, then converted
//! and ingested from the kept copy; failures are kept, transient ones retried with backoff, and kept deliveries can be
//! derived again with the current converters.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use spark_integrations::convert::{Conversion, ConvertContext, Payload};
use spark_integrations::store::{
    InboxDelivery, InboxOrigin, InboxRecord, InboxStatus, InboxStore, IngestReport, IntegrationStore, RecordedOutcome,
    ingest_batch, ingest_conversion, rederive, routing_key,
};
use spark_integrations::{Configuration, Integration};
use tokio::sync::oneshot;

use crate::app::AppState;
use crate::db::note;
use crate::routing::Route;
use crate::store::{Store, StoreError};

/// What processing a kept delivery gave.
#[derive(Debug, Clone)]
pub enum Processed {
    /// Converted and stored (or skipped with a reason).
    Stored {
        /// What the store did.
        report: IngestReport,
        /// Why nothing was converted, when the payload was skipped.
        skipped: Option<String>,
        /// The challenge to answer with, when the payload was one (Slack's `url_verification`): nothing is stored.
        challenge: Option<String>,
    },
    /// The conversion failed: kept as failed, not retried by itself.
    Failed(String),
    /// Storing failed: kept as pending, retried with backoff.
    Retry(String),
}

/// How to store what a kept delivery converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As new: events already stored for the same source are duplicates.
    Ingest,
    /// Again, with the current converters: events already stored for the same source are replaced in place.
    Rederive,
}

/// The wait before retry `attempts` + 1 of a delivery that could not be stored: 5 s, doubling, at most an hour.
fn backoff(attempts: u32) -> TimeDelta {
    TimeDelta::seconds((5_i64 << attempts.min(10)).min(3600))
}

/// Converts kept delivery `id` (`delivery`, tried `attempts` times before) with its plugin's current converter, stores
/// the result, and records the outcome in the inbox. Blocking.
///
/// # Errors
///
/// When recording the outcome fails (the delivery stays pending and is tried again later).
pub fn process(
    state: &AppState,
    id: i64,
    delivery: &InboxDelivery,
    body: &[u8],
    attempts: u32,
    mode: Mode,
) -> Result<Processed, StoreError> {
    let now = state.clock.now();
    let processed = convert_and_store(state, delivery, body, mode);
    let outcome = outcome_of(id, &processed, attempts, now);
    state
        .db
        .write()
        .record_outcome(id, outcome.status, &outcome.outcome, outcome.next_attempt_at, now)?;
    Ok(processed)
}

fn convert_and_store(state: &AppState, delivery: &InboxDelivery, body: &[u8], mode: Mode) -> Processed {
    let conversion = match configuration_of(state, &delivery.integration_id)
        .and_then(|configuration| convert(state, delivery, body, configuration.as_ref()))
    {
        Ok(conversion) => conversion,
        Err(processed) => return processed,
    };
    let mut store = state.db.write();
    let stored = match mode {
        Mode::Ingest => ingest_conversion(&mut *store, &delivery.integration_id, &conversion),
        Mode::Rederive => rederive(&mut *store, &delivery.integration_id, &conversion),
    };
    match stored {
        Ok(report) => stored_as(report, &conversion),
        Err(error) => Processed::Retry(error.to_string()),
    }
}

/// What storing `conversion` with `report` gave.
fn stored_as(report: IngestReport, conversion: &Conversion) -> Processed {
    Processed::Stored {
        report,
        skipped: match conversion {
            Conversion::Skipped(reason) => Some(reason.to_string()),
            _ => None,
        },
        challenge: match conversion {
            Conversion::Challenge(challenge) => Some(challenge.clone()),
            _ => None,
        },
    }
}

/// The integration's selection (which event types to record) as it stands now; the `Err` is what to record when it
/// cannot be read.
fn configuration_of(state: &AppState, integration_id: &str) -> Result<Option<Configuration>, Processed> {
    match state.db.read().find_integration(integration_id) {
        Ok(Some(integration)) => Ok(integration.configuration),
        Ok(None) => Err(Processed::Failed(format!("integration `{integration_id}` is gone"))),
        Err(error) => Err(Processed::Retry(error.to_string())),
    }
}

/// Converts a kept delivery with its plugin's current converter and its integration's `configuration`; the `Err` is
/// what to record when that is impossible.
fn convert(
    state: &AppState,
    delivery: &InboxDelivery,
    body: &[u8],
    configuration: Option<&Configuration>,
) -> Result<Conversion, Processed> {
    let Some(plugin) = state.registry.get(&delivery.service) else {
        return Err(Processed::Failed(format!(
            "service `{}` is not offered here",
            delivery.service
        )));
    };
    let Some(converter) = plugin.converter() else {
        return Err(Processed::Failed(format!(
            "service `{}` converts nothing",
            delivery.service
        )));
    };
    let payload = match delivery.origin {
        InboxOrigin::Polled => Payload::Polled { body },
        _ => Payload::Webhook {
            event: delivery.event.as_deref(),
            delivery_id: delivery.delivery_id.as_deref(),
            body,
        },
    };
    // The time it was received, every time: converting again gives the same events.
    let context = ConvertContext::new(delivery.received_at)
        .with_integration(&delivery.integration_id)
        .with_configuration(configuration);
    converter
        .convert(payload, &context)
        .map_err(|error| Processed::Failed(error.to_string()))
}

/// The record of what processing gave, for the inbox.
fn outcome_of(id: i64, processed: &Processed, attempts: u32, now: DateTime<Utc>) -> RecordedOutcome {
    match processed {
        Processed::Stored { report, skipped, .. } => RecordedOutcome::new(
            id,
            InboxStatus::Done,
            json!({
                "inserted": report.inserted,
                "duplicates": report.duplicates,
                "updated": report.updated,
                "skipped": skipped,
            }),
            None,
        ),
        Processed::Failed(error) => RecordedOutcome::new(id, InboxStatus::Failed, json!({ "error": error }), None),
        Processed::Retry(error) => RecordedOutcome::new(
            id,
            InboxStatus::Pending,
            json!({ "error": error }),
            Some(now + backoff(attempts)),
        ),
    }
}

/// New deliveries, kept and stored in groups: each group pays one commit that keeps its deliveries, stores their
/// events and records their outcomes ([`InboxStore::keep_and_ingest`]), however many deliveries it holds (group
/// commit). A group is whatever queued while the previous one was written, at most [`MAX_GROUP`]: under light load a
/// group is one delivery and waits for nobody; under heavy load the commits are shared.
#[derive(Debug, Default)]
pub struct Batcher {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether the writer thread runs; without it, each delivery is written on its own.
    running: bool,
    stopping: bool,
}

#[derive(Debug)]
struct Job {
    delivery: InboxDelivery,
    /// The URL it came to, checked again against its integration before it is kept.
    route: Route,
    /// What it converted to ahead, with the configuration it was converted with (used if that is still the one).
    ahead: Option<(Option<Configuration>, Result<Conversion, Processed>)>,
    reply: oneshot::Sender<Result<(i64, Processed), NotKept>>,
}

/// Why a delivery was not kept: nothing of it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotKept {
    /// The store refused the write (or could not be read): the provider should send it again later.
    Unavailable,
    /// The URL it came to no longer routes to its integration (gone, or its routing secret changed).
    UnknownRoute,
}

/// The most deliveries written as one group.
pub const MAX_GROUP: usize = 128;

/// The largest body [`Batcher::submit`] converts on its caller's thread (an async worker): larger ones are
/// converted by the group writer.
const CONVERT_AHEAD_LEN: usize = 256 * 1024;

impl Batcher {
    /// Keeps `delivery`, which came to the webhook URL `route`, converts it with its integration's current
    /// configuration and stores the result, sharing the commits with the deliveries arriving beside it; answers its
    /// inbox id and what processing gave.
    ///
    /// A body of usual size is converted here, on the caller's thread, with `configuration` (the integration's as
    /// last seen), so that the group writer's one thread only stores; the writer converts it again if the
    /// integration's configuration is no longer that one.
    ///
    /// # Errors
    ///
    /// [`NotKept`] when it was not kept: nothing of it is stored.
    pub async fn submit(
        &self,
        state: &AppState,
        delivery: InboxDelivery,
        route: Route,
        configuration: Option<Configuration>,
    ) -> Result<(i64, Processed), NotKept> {
        let ahead = (delivery.body.len() <= CONVERT_AHEAD_LEN).then(|| {
            let converted = convert(state, &delivery, &delivery.body, configuration.as_ref());
            (configuration, converted)
        });
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if !queue.running {
                drop(queue);
                return Err(NotKept::Unavailable);
            }
            queue.jobs.push(Job {
                delivery,
                route,
                ahead,
                reply,
            });
        }
        self.ready.notify_one();
        answer.await.unwrap_or(Err(NotKept::Unavailable))
    }

    /// Opens the queue: call it before [`run`](Self::run) is started on its thread, so that no delivery arriving
    /// in between is refused.
    pub fn open(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.running = true;
        queue.stopping = false;
    }

    /// Runs the writer on this thread until [`stop`](Self::stop). Blocking.
    pub fn run(&self, state: &AppState) {
        loop {
            let jobs = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                while queue.jobs.is_empty() && !queue.stopping {
                    queue = self.ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
                }
                if queue.jobs.is_empty() {
                    queue.running = false;
                    return;
                }
                let take = queue.jobs.len().min(MAX_GROUP);
                queue.jobs.drain(..take).collect::<Vec<_>>()
            };
            write_group(state, jobs);
        }
    }

    /// Stops the writer once the queued deliveries are written.
    pub fn stop(&self) {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).stopping = true;
        self.ready.notify_all();
    }
}

/// Keeps, converts, stores and records one group of deliveries, on one connection, in one commit (one flush to disk
/// on PostgreSQL), or in three when the store cannot or the group fails (see [`write_group_in_steps`]).
fn write_group(state: &AppState, jobs: Vec<Job>) {
    // Each integration of the group read once, now: whether the URL a delivery came to still routes to it (the
    // handler may have answered from memory), and the configuration to convert with.
    let integrations = match integrations_of(state, &jobs) {
        Ok(integrations) => integrations,
        Err(error) => {
            note(&format!(
                "reading the integrations of {} deliveries: {error}",
                jobs.len()
            ));
            for job in jobs {
                let _ = job.reply.send(Err(NotKept::Unavailable));
            }
            return;
        }
    };
    // Converted before the connection to write with is taken.
    let mut deliveries = Vec::with_capacity(jobs.len());
    let mut converted = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        let integration = integrations
            .get(&job.delivery.integration_id)
            .and_then(Option::as_ref)
            .filter(|integration| routes_to(integration, &job.route));
        let Some(integration) = integration else {
            state.known_routes.forget(&job.route);
            let _ = job.reply.send(Err(NotKept::UnknownRoute));
            continue;
        };
        converted.push(match job.ahead {
            Some((configuration, conversion)) if configuration == integration.configuration => conversion,
            _ => convert(
                state,
                &job.delivery,
                &job.delivery.body,
                integration.configuration.as_ref(),
            ),
        });
        deliveries.push(job.delivery);
        replies.push(job.reply);
    }
    if deliveries.is_empty() {
        return;
    }
    let mut store = state.db.write();
    // One commit for the group where the store can: kept, stored and recorded together.
    let now = state.clock.now();
    let conversions: Vec<Option<&Conversion>> = converted.iter().map(|conversion| conversion.as_ref().ok()).collect();
    // What each delivery gave, in order, as the store asks for its outcome.
    let mut processed = Vec::with_capacity(deliveries.len());
    let mut outcome = |index: usize, id: i64, report: Option<&IngestReport>| {
        let done = match (&converted[index], report) {
            (Ok(conversion), Some(report)) => stored_as(*report, conversion),
            (Err(failed), _) => failed.clone(),
            (Ok(_), None) => Processed::Retry("not stored".to_owned()),
        };
        let recorded = outcome_of(id, &done, 0, now);
        processed.push(done);
        recorded
    };
    match store.keep_and_ingest(&deliveries, &conversions, &mut outcome, now) {
        Ok(Some((ids, _))) => {
            drop(store);
            for ((reply, id), processed) in replies.into_iter().zip(ids).zip(processed) {
                let _ = reply.send(Ok((id, processed)));
            }
            return;
        }
        Ok(None) => {}
        // Nothing of the group was kept: kept alone below, then stored one by one if storing them together fails.
        Err(error) => note(&format!(
            "keeping and storing {} deliveries together: {error}",
            deliveries.len()
        )),
    }
    write_group_in_steps(state, &mut store, deliveries, converted, replies);
}

/// [`write_group`] in three commits: keeps the deliveries, stores their events (one by one when storing them
/// together fails), records the outcomes.
///
/// Only keeping the deliveries must be durable before they are acknowledged: their events and outcomes can be
/// derived again from the kept copies (pending ones are processed again at start, idempotently). So on PostgreSQL
/// this pays one flush to disk, for keeping them; storing and recording commit without waiting for theirs.
fn write_group_in_steps(
    state: &AppState,
    store: &mut Store,
    deliveries: Vec<InboxDelivery>,
    converted: Vec<Result<Conversion, Processed>>,
    replies: Vec<oneshot::Sender<Result<(i64, Processed), NotKept>>>,
) {
    let kept = store.append_deliveries(&deliveries);
    let ids = match kept {
        Ok(ids) => ids,
        Err(error) => {
            note(&format!("keeping {} deliveries: {error}", deliveries.len()));
            for reply in replies {
                let _ = reply.send(Err(NotKept::Unavailable));
            }
            return;
        }
    };
    if let Err(error) = store.set_synchronous_commit(false) {
        note(&format!("relaxing the commits of derived writes: {error}"));
    }
    let batch: Vec<(&str, &Conversion)> = deliveries
        .iter()
        .zip(&converted)
        .filter_map(|(delivery, conversion)| Some((delivery.integration_id.as_str(), conversion.as_ref().ok()?)))
        .collect();
    let mut reports = match ingest_batch(store, &batch) {
        Ok(reports) => reports.into_iter().map(Ok).collect::<Vec<_>>(),
        // One of them (or the store) fails: store them one by one, so that the others are not held back by it.
        Err(_) => batch
            .iter()
            .map(|(integration, conversion)| {
                ingest_conversion(store, integration, conversion).map_err(|error| error.to_string())
            })
            .collect(),
    }
    .into_iter();
    let processed: Vec<Processed> = converted
        .into_iter()
        .map(|conversion| match conversion {
            Ok(conversion) => match reports.next() {
                Some(Ok(report)) => stored_as(report, &conversion),
                Some(Err(error)) => Processed::Retry(error),
                None => Processed::Retry("not stored".to_owned()),
            },
            Err(processed) => processed,
        })
        .collect();
    let now = state.clock.now();
    let outcomes: Vec<RecordedOutcome> = ids
        .iter()
        .zip(&processed)
        .map(|(id, processed)| outcome_of(*id, processed, 0, now))
        .collect();
    if let Err(error) = store.record_outcomes(&outcomes, now) {
        // Kept and stored; the outcomes stay pending and are processed again (as duplicates) by the retry task.
        note(&format!("recording {} outcomes: {error}", outcomes.len()));
    }
    if let Err(error) = store.set_synchronous_commit(true) {
        note(&format!("restoring durable commits: {error}"));
    }
    for ((reply, id), processed) in replies.into_iter().zip(ids).zip(processed) {
        let _ = reply.send(Ok((id, processed)));
    }
}

/// The integrations the deliveries of `jobs` are for, as stored now (`None`: gone), each read once.
fn integrations_of(state: &AppState, jobs: &[Job]) -> Result<HashMap<String, Option<Integration>>, StoreError> {
    let store = state.db.read();
    let mut integrations = HashMap::new();
    for job in jobs {
        let id = &job.delivery.integration_id;
        if !integrations.contains_key(id) {
            integrations.insert(id.clone(), store.find_integration(id)?);
        }
    }
    Ok(integrations)
}

/// Whether the webhook URL `route` leads to `integration`.
fn routes_to(integration: &Integration, route: &Route) -> bool {
    integration.service == route.service
        && integration
            .routing_secret
            .as_ref()
            .is_some_and(|secret| routing_key(secret) == route.key)
}

/// Processes kept deliveries that are due, oldest first, until none is left (at start: before anything new) or
/// `max` were tried. Answers how many were tried. Blocking.
pub fn process_due(state: &AppState, max: usize) -> usize {
    let mut tried = 0;
    while tried < max {
        let now = state.clock.now();
        let due = match state.db.read().due_deliveries(now, 50.min(max - tried)) {
            Ok(due) => due,
            Err(error) => {
                note(&format!("reading the inbox: {error}"));
                return tried;
            }
        };
        if due.is_empty() {
            break;
        }
        for record in &due {
            tried += 1;
            let body = record.body.as_deref().unwrap_or_default();
            if let Err(error) = process(state, record.id, &record.delivery, body, record.attempts, Mode::Ingest) {
                note(&format!("recording inbox delivery {}: {error}", record.id));
                return tried;
            }
        }
    }
    tried
}

/// Keeps a polled item whose conversion failed, as failed, with its raw JSON, so that it can be converted again once
/// the converter is fixed. Blocking.
///
/// # Errors
///
/// When the store fails.
pub fn keep_failed_item(
    state: &AppState,
    integration_id: &str,
    service: &str,
    kind: &str,
    item_id: &str,
    raw: &[u8],
    error: &str,
) -> Result<i64, StoreError> {
    let now = state.clock.now();
    let mut delivery = InboxDelivery::new(integration_id, service, now, raw.to_vec()).polled();
    if !kind.is_empty() {
        delivery = delivery.with_event(kind);
    }
    if !item_id.is_empty() {
        delivery = delivery.with_delivery_id(item_id);
    }
    let mut store = state.db.write();
    let id = store.append_delivery(&delivery)?;
    store.record_outcome(id, InboxStatus::Failed, &json!({ "error": error }), None, now)?;
    Ok(id)
}

/// Every few seconds, processes the kept deliveries that are due (retries with backoff), and prunes done ones older
/// than `--inbox-keep-days` once an hour. Runs until aborted.
pub async fn run(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(5));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<DateTime<Utc>> = None;
    loop {
        interval.tick().await;
        let state = Arc::clone(&state);
        let now = state.clock.now();
        let prune = last_prune.is_none_or(|at| now - at >= TimeDelta::hours(1));
        if prune {
            last_prune = Some(now);
        }
        let work = tokio::task::spawn_blocking(move || {
            process_due(&state, 500);
            if prune {
                let before = state.clock.now() - TimeDelta::days(i64::from(state.config.inbox_keep_days));
                if let Err(error) = state.db.write().prune_inbox(before) {
                    note(&format!("pruning the inbox: {error}"));
                }
            }
        });
        if let Err(error) = work.await {
            note(&format!("the inbox task failed: {error}"));
        }
    }
}

/// A kept delivery as the API shows it: the body only when asked for, as text when it is UTF-8.
pub fn record_json(record: &InboxRecord) -> Value {
    let delivery = &record.delivery;
    let mut value = json!({
        "id": record.id,
        "integration": delivery.integration_id,
        "service": delivery.service,
        "origin": delivery.origin.as_str(),
        "event": delivery.event,
        "delivery_id": delivery.delivery_id,
        "received_at": delivery.received_at,
        "status": record.status.as_str(),
        "attempts": record.attempts,
        "outcome": record.outcome,
        "next_attempt_at": record.next_attempt_at,
        "updated_at": record.updated_at,
    });
    if let (Some(body), Some(object)) = (&record.body, value.as_object_mut()) {
        object.insert("body".into(), json!(String::from_utf8_lossy(body)));
    }
    value
}
