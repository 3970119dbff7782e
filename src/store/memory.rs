//! An in-memory [`ActivityStore`], for tests, examples and hosts that keep nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use super::{ActivityStore, ActivityTransaction, EventQuery, ObjectChange, StoredEvent};
use crate::model::{Block, Event, Object};

/// Keeps activity in memory. Transactions write through and keep an undo log that is replayed when they are dropped
/// without `commit`.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
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
