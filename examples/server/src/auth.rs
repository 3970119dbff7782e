//! Users, their API tokens and browser sessions, kept in tables of the host's own beside the library's.
//!
//! A user has a name and an API token: 256 bits from the operating system's generator, shown once when the user is
//! created, stored only as its SHA-256. The built-in `admin` user's token comes from `--admin-token`, or is drawn
//! (and printed once) when a fresh database has none. Signing in on the page trades the token for a session: a
//! second random token in an `HttpOnly`, `SameSite=Lax` cookie, also stored only as its SHA-256, expiring after
//! [`SESSION_LIFETIME`]. Every instance on a shared database sees the same users and sessions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest as _, Sha256};

use crate::store::{Store, StoreError};

/// The id (and name) of the built-in administrator.
pub const ADMIN: &str = "admin";

/// How long a browser session lasts.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::days(7);

/// The host's tables; the same SQL runs on SQLite and PostgreSQL.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spark_host_users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_sha256 TEXT NOT NULL UNIQUE,
        admin BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS spark_host_sessions (
        token_sha256 TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES spark_host_users (id) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL
    );";

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id: integrations belong to it.
    pub id: String,
    /// The name shown.
    pub name: String,
    /// Whether the user may manage users.
    pub admin: bool,
}

/// A fresh secret token: `spk_` and 32 random bytes, base64url. Shown once; stored only as [`token_hash`].
///
/// # Errors
///
/// When the operating system's generator fails.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("spk_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The SHA-256 of a token, in hex: what is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of the forms of a session: derived from the session token, so nothing more is stored, and
/// useless to anyone who does not hold the session.
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(&Sha256::digest(format!("spark-host csrf\0{session_token}").as_bytes())[..16])
}

/// A value bound to an SQL parameter.
enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

fn sqlite_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a dyn rusqlite_types::ToSql> {
    params
        .iter()
        .map(|param| match param {
            Param::Text(text) => text as &dyn rusqlite_types::ToSql,
            Param::Int(int) => int as &dyn rusqlite_types::ToSql,
        })
        .collect()
}

fn postgres_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn postgres_types::ToSql + Sync)> {
    params
        .iter()
        .map(|param| match param {
            Param::Text(text) => text as &(dyn postgres_types::ToSql + Sync),
            Param::Int(int) => int as &(dyn postgres_types::ToSql + Sync),
        })
        .collect()
}

/// Runs `sql` (parameters `$1`, `$2`, ... in order) and returns the number of rows changed.
fn execute(store: &Store, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
    match store {
        Store::Sqlite(sqlite) => {
            let values = sqlite_params(params);
            let changed = sqlite
                .connection()
                .execute(sql, values.as_slice())
                .map_err(spark_integrations::store::SqliteError::from)?;
            Ok(changed as u64)
        }
        Store::Postgres(postgres) => postgres.with_client(|client| {
            let values = postgres_params(params);
            client
                .execute(sql, &values)
                .map_err(|error| StoreError::from(spark_integrations::store::PostgresError::from(error)))
        }),
    }
}

/// Runs a query whose columns are `id`, `name`, `admin` of `spark_host_users`.
fn query_users(store: &Store, sql: &str, params: &[Param<'_>]) -> Result<Vec<User>, StoreError> {
    match store {
        Store::Sqlite(sqlite) => {
            let values = sqlite_params(params);
            let read = || -> Result<Vec<User>, spark_integrations::store::rusqlite::Error> {
                let connection = sqlite.connection();
                let mut statement = connection.prepare_cached(sql)?;
                let rows = statement.query_map(values.as_slice(), |row| {
                    Ok(User {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        admin: row.get::<_, i64>(2)? != 0,
                    })
                })?;
                rows.collect()
            };
            Ok(read().map_err(spark_integrations::store::SqliteError::from)?)
        }
        Store::Postgres(postgres) => postgres.with_client(|client| {
            let values = postgres_params(params);
            let mut read = || -> Result<Vec<User>, spark_integrations::store::postgres::Error> {
                client
                    .query(sql, &values)?
                    .iter()
                    .map(|row| {
                        Ok(User {
                            id: row.try_get(0)?,
                            name: row.try_get(1)?,
                            admin: row.try_get::<_, i64>(2)? != 0,
                        })
                    })
                    .collect()
            };
            read().map_err(|error| StoreError::from(spark_integrations::store::PostgresError::from(error)))
        }),
    }
}

// The driver crates' parameter traits, through the library's re-exports.
use spark_integrations::store::postgres::types as postgres_types;
use spark_integrations::store::rusqlite::types as rusqlite_types;

/// Creates the host's tables if they are missing. Idempotent; instances may run it together.
///
/// # Errors
///
/// When the database fails.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    // Instances starting together would race on `CREATE TABLE IF NOT EXISTS` (PostgreSQL checks the name only when
    // it commits): one at a time, under an advisory lock ("SPKH").
    let postgres = matches!(store, Store::Postgres(_));
    if postgres {
        execute(store, "SELECT pg_advisory_lock(1397771080)", &[])?;
    }
    let created = SCHEMA
        .split(';')
        .map(str::trim)
        .filter(|sql| !sql.is_empty())
        .try_for_each(|statement| execute(store, statement, &[]).map(drop));
    if postgres {
        execute(store, "SELECT pg_advisory_unlock(1397771080)", &[])?;
    }
    created
}

/// Sets the administrator's token (creating the administrator if needed): `--admin-token`.
///
/// # Errors
///
/// When the database fails.
pub fn set_admin_token(store: &Store, token: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    execute(
        store,
        "INSERT INTO spark_host_users (id, name, token_sha256, admin, created_at) VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (id) DO UPDATE SET token_sha256 = excluded.token_sha256",
        &[
            Param::Text(ADMIN),
            Param::Text(ADMIN),
            Param::Text(&token_hash(token)),
            Param::Int(now.timestamp()),
        ],
    )
    .map(drop)
}

/// Creates the administrator with `token` unless one exists; whether it was created (so the token must be shown).
///
/// # Errors
///
/// When the database fails.
pub fn create_admin_if_missing(store: &Store, token: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let created = execute(
        store,
        "INSERT INTO spark_host_users (id, name, token_sha256, admin, created_at) VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT DO NOTHING",
        &[
            Param::Text(ADMIN),
            Param::Text(ADMIN),
            Param::Text(&token_hash(token)),
            Param::Int(now.timestamp()),
        ],
    )?;
    Ok(created == 1)
}

/// Creates a user `name` with `token`; `false` when the name is taken.
///
/// # Errors
///
/// When the database fails.
pub fn create_user(store: &Store, user: &User, token: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let created = execute(
        store,
        "INSERT INTO spark_host_users (id, name, token_sha256, admin, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
        &[
            Param::Text(&user.id),
            Param::Text(&user.name),
            Param::Text(&token_hash(token)),
            Param::Int(i64::from(user.admin)),
            Param::Int(now.timestamp()),
        ],
    )?;
    Ok(created == 1)
}

/// Every user, by name.
///
/// # Errors
///
/// When the database fails.
pub fn list_users(store: &Store) -> Result<Vec<User>, StoreError> {
    query_users(store, "SELECT id, name, admin FROM spark_host_users ORDER BY name", &[])
}

/// The user whose API token is `token`.
///
/// # Errors
///
/// When the database fails.
pub fn user_by_token(store: &Store, token: &str) -> Result<Option<User>, StoreError> {
    let found = query_users(
        store,
        "SELECT id, name, admin FROM spark_host_users WHERE token_sha256 = $1",
        &[Param::Text(&token_hash(token))],
    )?;
    Ok(found.into_iter().next())
}

/// Starts a session for `user_id`, identified by `session_token`.
///
/// # Errors
///
/// When the database fails.
pub fn create_session(store: &Store, session_token: &str, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    // Expired sessions go as new ones come: the table stays as small as the sessions in use.
    execute(
        store,
        "DELETE FROM spark_host_sessions WHERE expires_at <= $1",
        &[Param::Int(now.timestamp())],
    )?;
    execute(
        store,
        "INSERT INTO spark_host_sessions (token_sha256, user_id, expires_at) VALUES ($1, $2, $3)",
        &[
            Param::Text(&token_hash(session_token)),
            Param::Text(user_id),
            Param::Int((now + SESSION_LIFETIME).timestamp()),
        ],
    )
    .map(drop)
}

/// The user of the unexpired session `session_token`.
///
/// # Errors
///
/// When the database fails.
pub fn session_user(store: &Store, session_token: &str, now: DateTime<Utc>) -> Result<Option<User>, StoreError> {
    let found = query_users(
        store,
        "SELECT u.id, u.name, u.admin FROM spark_host_sessions s JOIN spark_host_users u ON u.id = s.user_id
         WHERE s.token_sha256 = $1 AND s.expires_at > $2",
        &[Param::Text(&token_hash(session_token)), Param::Int(now.timestamp())],
    )?;
    Ok(found.into_iter().next())
}

/// Ends the session `session_token`.
///
/// # Errors
///
/// When the database fails.
pub fn end_session(store: &Store, session_token: &str) -> Result<(), StoreError> {
    execute(
        store,
        "DELETE FROM spark_host_sessions WHERE token_sha256 = $1",
        &[Param::Text(&token_hash(session_token))],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_and_stored_hashed() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(csrf_token(&a), csrf_token(&b));
    }
}
