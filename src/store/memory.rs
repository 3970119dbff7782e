//! An in-memory [`ActivityStore`], for tests, examples and hosts that keep nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use chrono::{DateTime, Duration, Utc};

use super::integration::{expired_before, lease_end, routing_key};
use super::{
    ActivityStore, ActivityTransaction, EventListing, EventQuery, InboxDelivery, InboxQuery, InboxRecord, InboxStatus,
    InboxStore, IntegrationStore, ObjectChange, PollState, RefreshClaim, StoredEvent, UntitledQuery, keep_name,
};
use crate::integration::{Integration, RoutingSecret};
use crate::model::{Block, Event, Object};
use crate::oauth::{StateId, StateLedger, TokenSet, UsedStates};

/// Keeps integrations and activity in memory. Activity transactions write through and keep an undo log that is
/// replayed when they are dropped without `commit`.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// Integrations in creation order, each with its polling state and leases.
    integrations: Vec<Entry>,
    objects: BTreeMap<(String, String), Object>,
    /// Events in insertion order; the actor and target are resolved by key when listed.
    events: Vec<Row>,
    event_ids: BTreeSet<(String, String)>,
    /// OAuth states already accepted.
    used_states: UsedStates,
    /// Kept deliveries; a delivery's id is its index plus one.
    inbox: Vec<InboxRecord>,
}

#[derive(Debug, Clone)]
struct Entry {
    integration: Integration,
    poll: PollState,
    token_version: i64,
    /// Who holds the refresh lease, and until when.
    refresh_lease: Option<(String, DateTime<Utc>)>,
    /// Who holds the poll lease, and until when.
    poll_lease: Option<(String, DateTime<Utc>)>,
}

/// Whether `lease` is free at `now`: none, or expired. A holder asking again is refused too, so that two threads
/// sharing a holder id still never work on one integration at once.
fn lease_free(lease: Option<&(String, DateTime<Utc>)>, now: DateTime<Utc>) -> bool {
    lease.is_none_or(|(_, until)| *until <= now)
}

#[derive(Debug, Clone)]
struct Row {
    integration_id: String,
    event: Event,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A transaction of [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryTransaction<'a> {
    store: &'a mut MemoryStore,
    undo: Vec<Undo>,
}

#[derive(Debug)]
enum Undo {
    /// Put back what was stored under this key before (nothing, if `None`).
    Object((String, String), Option<Box<Object>>),
    /// Remove the last event row and its id.
    Event,
    /// Put back the event row at this index as it was before it was replaced.
    Replaced(usize, Box<Row>),
}

impl ActivityStore for MemoryStore {
    type Error = Infallible;
    type Transaction<'a> = MemoryTransaction<'a>;

    fn begin(&mut self) -> Result<MemoryTransaction<'_>, Infallible> {
        Ok(MemoryTransaction {
            store: self,
            undo: Vec::new(),
        })
    }

    /// Never skips a row: the memory store keeps typed values, which always read back.
    fn recent_events(&self, query: &EventQuery) -> Result<EventListing, Infallible> {
        let mut rows: Vec<(usize, &Row)> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, row)| query.matches(&row.integration_id, &row.event))
            .collect();
        rows.sort_by(|(a_index, a), (b_index, b)| b.event.time.cmp(&a.event.time).then(b_index.cmp(a_index)));
        let events = rows
            .into_iter()
            .take(query.limit)
            .map(|(_, row)| {
                let mut event = row.event.clone();
                for object in [&mut event.actor, &mut event.target] {
                    if let Some(stored) = self.objects.get(&(row.integration_id.clone(), object.key.clone())) {
                        object.clone_from(stored);
                    }
                }
                StoredEvent {
                    integration_id: row.integration_id.clone(),
                    event,
                }
            })
            .collect();
        Ok(EventListing {
            events,
            skipped: Vec::new(),
        })
    }
    fn untitled_objects(&self, query: &UntitledQuery) -> Result<Vec<Object>, Infallible> {
        // Keys sort by integration, then key: the objects of one integration come in key order.
        Ok(self
            .objects
            .iter()
            .filter(|((integration_id, _), object)| query.matches(integration_id, object))
            .take(query.limit)
            .map(|(_, object)| object.clone())
            .collect())
    }
}

impl ActivityTransaction for MemoryTransaction<'_> {
    type Error = Infallible;
    type EventId = usize;

    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, Infallible> {
        let key = (integration_id.to_owned(), object.key.clone());
        let object = match self.store.objects.get(&key) {
            Some(stored) => keep_name(stored, object),
            None => object.clone(),
        };
        let previous = self.store.objects.insert(key.clone(), object.clone());
        let change = match &previous {
            None => ObjectChange::Created,
            Some(previous) if *previous == object => ObjectChange::Unchanged,
            Some(_) => ObjectChange::Updated,
        };
        self.undo.push(Undo::Object(key, previous.map(Box::new)));
        Ok(change)
    }

    fn insert_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<usize>, Infallible> {
        if !self
            .store
            .event_ids
            .insert((integration_id.to_owned(), event.source_id.clone()))
        {
            return Ok(None);
        }
        let mut event = event.clone();
        event.blocks.clear();
        self.store.events.push(Row {
            integration_id: integration_id.to_owned(),
            event,
        });
        self.undo.push(Undo::Event);
        Ok(Some(self.store.events.len() - 1))
    }

    fn replace_event(&mut self, integration_id: &str, event: &Event) -> Result<Option<usize>, Infallible> {
        let found = self
            .store
            .events
            .iter()
            .position(|row| row.integration_id == integration_id && row.event.source_id == event.source_id);
        let Some(index) = found else {
            return Ok(None);
        };
        let mut replacement = event.clone();
        replacement.blocks.clear();
        let previous = std::mem::replace(&mut self.store.events[index].event, replacement);
        self.undo.push(Undo::Replaced(
            index,
            Box::new(Row {
                integration_id: integration_id.to_owned(),
                event: previous,
            }),
        ));
        Ok(Some(index))
    }

    fn insert_blocks(&mut self, event: usize, blocks: &[Block]) -> Result<(), Infallible> {
        // Blocks belong to an event inserted in this transaction: undoing the event removes them with it.
        if let Some(row) = self.store.events.get_mut(event) {
            row.event.blocks.extend_from_slice(blocks);
        }
        Ok(())
    }

    fn commit(mut self) -> Result<(), Infallible> {
        self.undo.clear();
        Ok(())
    }
}

impl Drop for MemoryTransaction<'_> {
    fn drop(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Object(key, Some(previous)) => {
                    self.store.objects.insert(key, *previous);
                }
                Undo::Object(key, None) => {
                    self.store.objects.remove(&key);
                }
                Undo::Event => {
                    if let Some(row) = self.store.events.pop() {
                        self.store.event_ids.remove(&(row.integration_id, row.event.source_id));
                    }
                }
                Undo::Replaced(index, previous) => {
                    if let Some(row) = self.store.events.get_mut(index) {
                        *row = *previous;
                    }
                }
            }
        }
    }
}

/// What goes wrong in [`MemoryStore`]'s [`IntegrationStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// An integration with this id exists already.
    #[error("an integration with id `{0}` exists already")]
    DuplicateIntegration(String),
    /// An integration with the same routing secret exists already.
    #[error("another integration of `{0}` has the same routing secret")]
    DuplicateRoutingSecret(String),
    /// No integration has this id.
    #[error("no integration with id `{0}`")]
    UnknownIntegration(String),
}

impl MemoryStore {
    fn entry(&self, id: &str) -> Option<&Entry> {
        self.integrations.iter().find(|entry| entry.integration.id == id)
    }

    fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.integrations.iter_mut().find(|entry| entry.integration.id == id)
    }

    fn due(&self, services: &[&str], now: DateTime<Utc>) -> Vec<usize> {
        let mut due: Vec<usize> = (0..self.integrations.len())
            .filter(|&index| {
                self.integrations.get(index).is_some_and(|entry| {
                    services.contains(&entry.integration.service.as_str()) && entry.poll.is_due(now)
                })
            })
            .collect();
        // Never-polled first, then by due time; the sort is stable, so ties keep creation order.
        due.sort_by_key(|&index| self.integrations.get(index).and_then(|entry| entry.poll.next_poll_at));
        due
    }
}

impl IntegrationStore for MemoryStore {
    type Error = MemoryError;

    fn create_integration(&mut self, integration: &Integration) -> Result<(), MemoryError> {
        if self.entry(&integration.id).is_some() {
            return Err(MemoryError::DuplicateIntegration(integration.id.clone()));
        }
        if let Some(secret) = &integration.routing_secret
            && self.find_by_routing_secret(&integration.service, secret)?.is_some()
        {
            return Err(MemoryError::DuplicateRoutingSecret(integration.service.clone()));
        }
        self.integrations.push(Entry {
            integration: integration.clone(),
            poll: PollState::default(),
            token_version: 0,
            refresh_lease: None,
            poll_lease: None,
        });
        Ok(())
    }

    fn update_integration(&mut self, integration: &Integration) -> Result<bool, MemoryError> {
        Ok(match self.entry_mut(&integration.id) {
            Some(entry) => {
                // Identity and routing never change after creation.
                let stored = &mut entry.integration;
                let mut updated = integration.clone();
                updated.user_id.clone_from(&stored.user_id);
                updated.service.clone_from(&stored.service);
                updated.routing_secret.clone_from(&stored.routing_secret);
                if stored.tokens != updated.tokens {
                    entry.token_version += 1;
                }
                *stored = updated;
                true
            }
            None => false,
        })
    }

    fn update_details(&mut self, integration: &Integration) -> Result<bool, MemoryError> {
        Ok(match self.entry_mut(&integration.id) {
            Some(entry) => {
                let stored = &mut entry.integration;
                stored.display_name.clone_from(&integration.display_name);
                stored.account_id.clone_from(&integration.account_id);
                stored.configuration.clone_from(&integration.configuration);
                true
            }
            None => false,
        })
    }

    fn find_integration(&self, id: &str) -> Result<Option<Integration>, MemoryError> {
        Ok(self.entry(id).map(|entry| entry.integration.clone()))
    }

    fn find_by_routing_secret(
        &self,
        service: &str,
        routing_secret: &RoutingSecret,
    ) -> Result<Option<Integration>, MemoryError> {
        let key = routing_key(routing_secret);
        Ok(self
            .integrations
            .iter()
            .find(|entry| {
                entry.integration.service == service
                    && entry
                        .integration
                        .routing_secret
                        .as_ref()
                        .is_some_and(|secret| routing_key(secret) == key)
            })
            .map(|entry| entry.integration.clone()))
    }

    fn list_integrations(&self) -> Result<Vec<Integration>, MemoryError> {
        Ok(self
            .integrations
            .iter()
            .map(|entry| entry.integration.clone())
            .collect())
    }

    fn poll_state(&self, id: &str) -> Result<PollState, MemoryError> {
        Ok(self.entry(id).map(|entry| entry.poll.clone()).unwrap_or_default())
    }

    fn save_poll_state(&mut self, id: &str, state: &PollState) -> Result<(), MemoryError> {
        let entry = self
            .entry_mut(id)
            .ok_or_else(|| MemoryError::UnknownIntegration(id.to_owned()))?;
        entry.poll.clone_from(state);
        entry.poll_lease = None;
        Ok(())
    }

    fn due_for_polling(&self, services: &[&str], now: DateTime<Utc>) -> Result<Vec<Integration>, MemoryError> {
        Ok(self
            .due(services, now)
            .into_iter()
            .filter_map(|index| self.integrations.get(index))
            .map(|entry| entry.integration.clone())
            .collect())
    }

    fn acquire_due_for_polling(
        &mut self,
        services: &[&str],
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Integration>, MemoryError> {
        let mut acquired = Vec::new();
        for index in self.due(services, now) {
            if acquired.len() >= limit {
                break;
            }
            if let Some(entry) = self.integrations.get_mut(index)
                && lease_free(entry.poll_lease.as_ref(), now)
            {
                entry.poll_lease = Some((holder.to_owned(), lease_end(now, lease)));
                acquired.push(entry.integration.clone());
            }
        }
        Ok(acquired)
    }

    fn acquire_poll_lease(
        &mut self,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Integration>, MemoryError> {
        Ok(self
            .entry_mut(id)
            .filter(|entry| lease_free(entry.poll_lease.as_ref(), now))
            .map(|entry| {
                entry.poll_lease = Some((holder.to_owned(), lease_end(now, lease)));
                entry.integration.clone()
            }))
    }

    fn token_version(&self, id: &str) -> Result<Option<i64>, MemoryError> {
        Ok(self.entry(id).map(|entry| entry.token_version))
    }

    fn try_begin_refresh(
        &mut self,
        id: &str,
        seen_version: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<RefreshClaim, MemoryError> {
        let Some(entry) = self.entry_mut(id) else {
            return Ok(RefreshClaim::Missing);
        };
        if entry.token_version != seen_version {
            return Ok(RefreshClaim::Superseded {
                version: entry.token_version,
            });
        }
        if let Some((_, until)) = entry
            .refresh_lease
            .as_ref()
            .filter(|lease| !lease_free(Some(lease), now))
        {
            return Ok(RefreshClaim::Busy { until: *until });
        }
        entry.refresh_lease = Some((holder.to_owned(), lease_end(now, ttl)));
        Ok(RefreshClaim::Granted(Box::new(entry.integration.clone())))
    }

    fn replace_tokens(&mut self, id: &str, expected_version: i64, tokens: &TokenSet) -> Result<bool, MemoryError> {
        let Some(entry) = self
            .entry_mut(id)
            .filter(|entry| entry.token_version == expected_version)
        else {
            return Ok(false);
        };
        let stored = &mut entry.integration;
        stored.tokens = Some(tokens.clone());
        entry.token_version += 1;
        entry.refresh_lease = None;
        Ok(true)
    }

    fn release_refresh(&mut self, id: &str, holder: &str) -> Result<(), MemoryError> {
        if let Some(entry) = self.entry_mut(id)
            && entry.refresh_lease.as_ref().is_some_and(|(by, _)| by == holder)
        {
            entry.refresh_lease = None;
        }
        Ok(())
    }
}

/// The ledger of accepted OAuth `state`s, beside the integrations (as the database stores keep it): entries that
/// expired before the state being recorded was issued are forgotten on the way.
impl StateLedger for MemoryStore {
    type Error = MemoryError;

    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, MemoryError> {
        self.used_states.prune(expired_before(expires_at));
        Ok(self
            .used_states
            .mark_used(id, expires_at)
            .unwrap_or_else(|never| match never {}))
    }
}

impl InboxStore for MemoryStore {
    type Error = Infallible;

    fn append_delivery(&mut self, delivery: &InboxDelivery) -> Result<i64, Infallible> {
        let id = i64::try_from(self.inbox.len()).unwrap_or(i64::MAX - 1) + 1;
        self.inbox.push(InboxRecord {
            id,
            delivery: delivery.clone(),
            body: None,
            status: InboxStatus::Pending,
            attempts: 0,
            outcome: None,
            next_attempt_at: None,
            updated_at: delivery.received_at,
        });
        Ok(id)
    }

    fn record_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        outcome: &serde_json::Value,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, Infallible> {
        let Some(record) = self.inbox.iter_mut().find(|record| record.id == id) else {
            return Ok(false);
        };
        record.status = status;
        record.attempts = record.attempts.saturating_add(1);
        record.outcome = Some(outcome.clone());
        record.next_attempt_at = next_attempt_at;
        record.updated_at = now;
        Ok(true)
    }

    fn inbox_entry(&self, id: i64) -> Result<Option<InboxRecord>, Infallible> {
        Ok(self
            .inbox
            .iter()
            .find(|record| record.id == id)
            .map(|record| shown(record, true)))
    }

    fn list_inbox(&self, query: &InboxQuery) -> Result<Vec<InboxRecord>, Infallible> {
        Ok(self
            .inbox
            .iter()
            .rev()
            .filter(|record| query.matches(&record.delivery, record.status))
            .take(query.limit)
            .map(|record| shown(record, query.with_bodies))
            .collect())
    }

    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<InboxRecord>, Infallible> {
        Ok(self
            .inbox
            .iter()
            .filter(|record| record.status == InboxStatus::Pending && record.next_attempt_at.is_none_or(|at| at <= now))
            .take(limit)
            .map(|record| shown(record, true))
            .collect())
    }

    fn prune_inbox(&mut self, before: DateTime<Utc>) -> Result<usize, Infallible> {
        let kept = self.inbox.len();
        self.inbox
            .retain(|record| record.status != InboxStatus::Done || record.updated_at >= before);
        Ok(kept - self.inbox.len())
    }
}

/// `record` as a listing shows it: the body moved out of the delivery into `body` when asked for, else dropped.
fn shown(record: &InboxRecord, with_body: bool) -> InboxRecord {
    let mut shown = record.clone();
    let body = std::mem::take(&mut shown.delivery.body);
    shown.body = with_body.then_some(body);
    shown
}
