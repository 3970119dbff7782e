//! An in-memory [`ActivityStore`], for tests, examples and hosts that keep nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use chrono::{DateTime, Utc};

use super::integration::routing_key;
use super::{ActivityStore, ActivityTransaction, EventQuery, IntegrationStore, ObjectChange, PollState, StoredEvent};
use crate::integration::{Integration, RoutingSecret};
use crate::model::{Block, Event, Object};

/// Keeps integrations and activity in memory. Activity transactions write through and keep an undo log that is
/// replayed when they are dropped without `commit`.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// Integrations in creation order, each with its polling state.
    integrations: Vec<(Integration, PollState)>,
    objects: BTreeMap<(String, String), Object>,
    /// Events in insertion order; the actor and target are resolved by key when listed.
    events: Vec<Row>,
    event_ids: BTreeSet<(String, String)>,
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

    fn recent_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, Infallible> {
        let mut rows: Vec<(usize, &Row)> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, row)| {
                query
                    .integration_id
                    .as_deref()
                    .is_none_or(|id| id == row.integration_id)
            })
            .collect();
        rows.sort_by(|(a_index, a), (b_index, b)| b.event.time.cmp(&a.event.time).then(b_index.cmp(a_index)));
        Ok(rows
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
            .collect())
    }
}

impl ActivityTransaction for MemoryTransaction<'_> {
    type Error = Infallible;
    type EventId = usize;

    fn upsert_object(&mut self, integration_id: &str, object: &Object) -> Result<ObjectChange, Infallible> {
        let key = (integration_id.to_owned(), object.key.clone());
        let previous = self.store.objects.insert(key.clone(), object.clone());
        let change = match &previous {
            None => ObjectChange::Created,
            Some(previous) if previous == object => ObjectChange::Unchanged,
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
    fn entry(&self, id: &str) -> Option<&(Integration, PollState)> {
        self.integrations.iter().find(|(integration, _)| integration.id == id)
    }

    fn entry_mut(&mut self, id: &str) -> Option<&mut (Integration, PollState)> {
        self.integrations
            .iter_mut()
            .find(|(integration, _)| integration.id == id)
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
        self.integrations.push((integration.clone(), PollState::default()));
        Ok(())
    }

    fn update_integration(&mut self, integration: &Integration) -> Result<bool, MemoryError> {
        Ok(match self.entry_mut(&integration.id) {
            Some((stored, _)) => {
                // Identity and routing never change after creation.
                let mut updated = integration.clone();
                updated.user_id.clone_from(&stored.user_id);
                updated.service.clone_from(&stored.service);
                updated.routing_secret.clone_from(&stored.routing_secret);
                *stored = updated;
                true
            }
            None => false,
        })
    }

    fn find_integration(&self, id: &str) -> Result<Option<Integration>, MemoryError> {
        Ok(self.entry(id).map(|(integration, _)| integration.clone()))
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
            .find(|(integration, _)| {
                integration.service == service
                    && integration
                        .routing_secret
                        .as_ref()
                        .is_some_and(|secret| routing_key(secret) == key)
            })
            .map(|(integration, _)| integration.clone()))
    }

    fn list_integrations(&self) -> Result<Vec<Integration>, MemoryError> {
        Ok(self
            .integrations
            .iter()
            .map(|(integration, _)| integration.clone())
            .collect())
    }

    fn poll_state(&self, id: &str) -> Result<PollState, MemoryError> {
        Ok(self.entry(id).map(|(_, state)| state.clone()).unwrap_or_default())
    }

    fn save_poll_state(&mut self, id: &str, state: &PollState) -> Result<(), MemoryError> {
        let (_, stored) = self
            .entry_mut(id)
            .ok_or_else(|| MemoryError::UnknownIntegration(id.to_owned()))?;
        stored.clone_from(state);
        Ok(())
    }

    fn due_for_polling(&self, services: &[&str], now: DateTime<Utc>) -> Result<Vec<Integration>, MemoryError> {
        let mut due: Vec<&(Integration, PollState)> = self
            .integrations
            .iter()
            .filter(|(integration, state)| services.contains(&integration.service.as_str()) && state.is_due(now))
            .collect();
        // Never-polled first, then by due time; the sort is stable, so ties keep creation order.
        due.sort_by_key(|(_, state)| state.next_poll_at);
        Ok(due.into_iter().map(|(integration, _)| integration.clone()).collect())
    }
}
