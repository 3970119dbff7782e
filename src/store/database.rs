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
