//! [`DatabaseError`]: what goes wrong in the stores that sit on a database driver (SQLite, PostgreSQL).

/// What goes wrong in a store on a database: the driver's own error, a stored value that does not hold what the
/// schema promises, or a database written by a newer version of this crate.
///
/// One shape for every database store; [`SqliteError`](super::SqliteError) and
/// [`PostgresError`](super::PostgresError) name it with their driver's error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError<E> {
    /// The database, or the connection to it, reported an error.
    #[error("database: {0}")]
    Driver(#[from] E),
    /// A stored column did not hold what the schema promises.
    #[error("corrupt column `{column}`: {message}")]
    Corrupt {
        /// The table and column, as `table.column`.
        column: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// The database was written by a newer version of this crate.
    #[error("database schema version {found} is newer than this crate understands ({supported})")]
    UnsupportedVersion {
        /// The version found in the database.
        found: i64,
        /// The newest version this crate can read.
        supported: i64,
    },
}

/// A listing as a database store decodes it, row by row: the events read, their blocks grouped by event, and the
/// rows that did not decode. Shared by the SQLite and PostgreSQL `recent_events`, so that both skip and report the
/// same way.
pub(crate) struct ListingRows<E> {
    events: Vec<(i64, super::StoredEvent)>,
    blocks: std::collections::HashMap<i64, Result<Vec<crate::model::Block>, E>>,
    skipped: Vec<super::SkippedRow>,
}

impl<E: std::fmt::Display> ListingRows<E> {
    pub(crate) fn new() -> Self {
        Self {
            events: Vec::new(),
            blocks: std::collections::HashMap::new(),
            skipped: Vec::new(),
        }
    }

    /// One event row, decoded (with its row id) or not; `integration_id` and `source_id` name it if it did not.
    pub(crate) fn event(
        &mut self,
        decoded: Result<(i64, super::StoredEvent), E>,
        integration_id: Option<String>,
        source_id: Option<String>,
    ) {
        match decoded {
            Ok(found) => self.events.push(found),
            Err(error) => self
                .skipped
                .push(super::SkippedRow::new(integration_id, source_id, &error)),
        }
    }

    /// The row ids of the events read, whose blocks to look up.
    pub(crate) fn event_ids(&self) -> Vec<i64> {
        self.events.iter().map(|(id, _)| *id).collect()
    }

    /// One block row of event `event_id`, in the event's order, decoded or not. An event with a block that does not
    /// decode is skipped as a whole.
    pub(crate) fn block(&mut self, event_id: i64, decoded: Result<crate::model::Block, E>) {
        let blocks = self.blocks.entry(event_id).or_insert_with(|| Ok(Vec::new()));
        if let Ok(found) = blocks {
            match decoded {
                Ok(block) => found.push(block),
                Err(error) => *blocks = Err(error),
            }
        }
    }

    /// The listing: every event read with its blocks, in the order read, and every row skipped.
    pub(crate) fn finish(mut self) -> super::EventListing {
        let mut events = Vec::with_capacity(self.events.len());
        for (id, mut stored) in self.events {
            match self.blocks.remove(&id).unwrap_or(Ok(Vec::new())) {
                Ok(blocks) => {
                    stored.event.blocks = blocks;
                    events.push(stored);
                }
                Err(error) => self.skipped.push(super::SkippedRow::new(
                    Some(stored.integration_id),
                    Some(stored.event.source_id),
                    &error,
                )),
            }
        }
        super::EventListing::new(events, self.skipped)
    }
}
