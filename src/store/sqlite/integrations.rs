//! [`IntegrationStore`] on SQLite: integration records, polling state, token versions and leases.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteError, SqliteStore, read_time, write_json, write_time};
use crate::integration::{Integration, RoutingSecret};
use crate::oauth::TokenSet;
use crate::oauth::{StateId, StateLedger};
use crate::store::integration::{TokenColumns, expired_before, lease_end, routing_key};
use crate::store::{IntegrationStore, PollState, RefreshClaim};

const INTEGRATION_COLUMNS: &str = "id, user_id, service, display_name, account_id, access_token, refresh_token, \
    expiry, refresh_expiry, configuration, routing_secret, token_details";

/// The token columns of `tokens`, with times as the store writes them.
fn token_columns(tokens: Option<&TokenSet>) -> Result<TokenColumns<'_>, SqliteError> {
    TokenColumns::of(tokens).map_err(|error| SqliteError::Corrupt {
        column: "integrations.token_details",
        message: error.to_string(),
    })
}

fn read_integration(row: &Row<'_>) -> Result<Integration, SqliteError> {
    let mut integration = Integration::new(
        row.get::<_, String>(0)?,
        row.get::<_, String>(1)?,
        row.get::<_, String>(2)?,
        row.get::<_, String>(3)?,
    );
    integration.account_id = row.get(4)?;
    let expiry = row
        .get::<_, Option<String>>(7)?
        .map(|time| read_time(time, "integrations.expiry"))
        .transpose()?;
    let refresh_expiry = row
        .get::<_, Option<String>>(8)?
        .map(|time| read_time(time, "integrations.refresh_expiry"))
        .transpose()?;
    let details = row.get::<_, Option<String>>(11)?;
    integration.tokens = TokenColumns::read(row.get(5)?, row.get(6)?, expiry, refresh_expiry, details.as_deref())
        .map_err(|error| SqliteError::Corrupt {
            column: "integrations.token_details",
            message: error.to_string(),
        })?;
    integration.configuration = row
        .get::<_, Option<String>>(9)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|error| SqliteError::Corrupt {
                column: "integrations.configuration",
                message: error.to_string(),
            })
        })
        .transpose()?;
    integration.routing_secret = row.get::<_, Option<String>>(10)?.map(RoutingSecret::new);
    Ok(integration)
}

impl SqliteStore {
    fn query_integrations(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Integration>, SqliteError> {
        let mut statement = self.connection.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            found.push(read_integration(row)?);
        }
        Ok(found)
    }
}

impl IntegrationStore for SqliteStore {
    type Error = SqliteError;

    fn create_integration(&mut self, integration: &Integration) -> Result<(), SqliteError> {
        let tokens = token_columns(integration.tokens.as_ref())?;
        self.connection
            .prepare_cached(
                "INSERT INTO integrations (id, user_id, service, display_name, account_id, access_token,
                                           refresh_token, expiry, refresh_expiry, configuration, routing_secret,
                                           routing_key, token_details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                integration.id,
                integration.user_id,
                integration.service,
                integration.display_name,
                integration.account_id,
                tokens.access_token,
                tokens.refresh_token,
                tokens.expiry.as_ref().map(write_time),
                tokens.refresh_expiry.as_ref().map(write_time),
                integration.configuration.as_ref().map(write_json).transpose()?,
                integration.routing_secret.as_ref().map(RoutingSecret::expose_secret),
                integration.routing_secret.as_ref().map(routing_key),
                tokens.details,
            ])?;
        Ok(())
    }

    fn update_integration(&mut self, integration: &Integration) -> Result<bool, SqliteError> {
        let tokens = token_columns(integration.tokens.as_ref())?;
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE integrations SET display_name = ?2, account_id = ?3, access_token = ?4, refresh_token = ?5,
                                         expiry = ?6, refresh_expiry = ?7, configuration = ?8, token_details = ?9,
                                         token_version = token_version + (access_token IS NOT ?4
                                             OR refresh_token IS NOT ?5 OR expiry IS NOT ?6
                                             OR refresh_expiry IS NOT ?7 OR token_details IS NOT ?9)
                 WHERE id = ?1",
            )?
            .execute(params![
                integration.id,
                integration.display_name,
                integration.account_id,
                tokens.access_token,
                tokens.refresh_token,
                tokens.expiry.as_ref().map(write_time),
                tokens.refresh_expiry.as_ref().map(write_time),
                integration.configuration.as_ref().map(write_json).transpose()?,
                tokens.details,
            ])?;
        Ok(changed > 0)
    }

    fn update_details(&mut self, integration: &Integration) -> Result<bool, SqliteError> {
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE integrations SET display_name = ?2, account_id = ?3, configuration = ?4 WHERE id = ?1",
            )?
            .execute(params![
                integration.id,
                integration.display_name,
                integration.account_id,
                integration.configuration.as_ref().map(write_json).transpose()?,
            ])?;
        Ok(changed > 0)
    }

    fn find_integration(&self, id: &str) -> Result<Option<Integration>, SqliteError> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = ?1");
        Ok(self.query_integrations(&sql, [id])?.pop())
    }

    fn find_by_routing_secret(
        &self,
        service: &str,
        routing_secret: &RoutingSecret,
    ) -> Result<Option<Integration>, SqliteError> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE routing_key = ?1 AND service = ?2");
        Ok(self
            .query_integrations(&sql, params![routing_key(routing_secret), service])?
            .pop())
    }

    fn list_integrations(&self) -> Result<Vec<Integration>, SqliteError> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM integrations ORDER BY seq");
        self.query_integrations(&sql, [])
    }

    fn poll_state(&self, id: &str) -> Result<PollState, SqliteError> {
        let row = self
            .connection
            .prepare_cached(
                "SELECT poll_cursor, next_poll_at, last_polled_at, last_poll_error FROM integrations WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })
            .optional()?;
        let Some((cursor, next_poll_at, last_polled_at, last_error)) = row else {
            return Ok(PollState::default());
        };
        Ok(PollState {
            cursor: cursor
                .map(|text| {
                    serde_json::from_str(&text).map_err(|error| SqliteError::Corrupt {
                        column: "integrations.poll_cursor",
                        message: error.to_string(),
                    })
                })
                .transpose()?,
            next_poll_at: next_poll_at
                .map(|time: String| read_time(time, "integrations.next_poll_at"))
                .transpose()?,
            last_polled_at: last_polled_at
                .map(|time: String| read_time(time, "integrations.last_polled_at"))
                .transpose()?,
            last_error,
        })
    }

    fn save_poll_state(&mut self, id: &str, state: &PollState) -> Result<(), SqliteError> {
        self.connection
            .prepare_cached(
                "UPDATE integrations SET poll_cursor = ?2, next_poll_at = ?3, last_polled_at = ?4,
                                         last_poll_error = ?5, poll_holder = NULL, poll_lease_until = NULL
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                state.cursor.as_ref().map(write_json).transpose()?,
                state.next_poll_at.as_ref().map(write_time),
                state.last_polled_at.as_ref().map(write_time),
                state.last_error,
            ])?;
        Ok(())
    }

    fn due_for_polling(&self, services: &[&str], now: DateTime<Utc>) -> Result<Vec<Integration>, SqliteError> {
        let services = write_json(&services)?;
        let sql = format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations
             WHERE service IN (SELECT value FROM json_each(?1)) AND (next_poll_at IS NULL OR next_poll_at <= ?2)
             ORDER BY next_poll_at IS NOT NULL, next_poll_at, seq"
        );
        self.query_integrations(&sql, params![services, write_time(&now)])
    }

    fn acquire_due_for_polling(
        &mut self,
        services: &[&str],
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Integration>, SqliteError> {
        let services = write_json(&services)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let until = write_time(&lease_end(now, lease));
        let now = write_time(&now);
        // SQLite has one writer at a time: an immediate transaction makes the pick and the lease one step.
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let sql = format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations
             WHERE service IN (SELECT value FROM json_each(?1)) AND (next_poll_at IS NULL OR next_poll_at <= ?2)
               AND (poll_lease_until IS NULL OR poll_lease_until <= ?2)
             ORDER BY next_poll_at IS NOT NULL, next_poll_at, seq
             LIMIT ?3"
        );
        let mut acquired = Vec::new();
        {
            let mut statement = transaction.prepare_cached(&sql)?;
            let mut rows = statement.query(params![services, now, limit])?;
            while let Some(row) = rows.next()? {
                acquired.push(read_integration(row)?);
            }
            let mut take = transaction
                .prepare_cached("UPDATE integrations SET poll_holder = ?2, poll_lease_until = ?3 WHERE id = ?1")?;
            for integration in &acquired {
                take.execute(params![integration.id, holder, until])?;
            }
        }
        transaction.commit()?;
        Ok(acquired)
    }

    fn acquire_poll_lease(
        &mut self,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Integration>, SqliteError> {
        let sql = format!(
            "UPDATE integrations SET poll_holder = ?2, poll_lease_until = ?3
             WHERE id = ?1 AND (poll_lease_until IS NULL OR poll_lease_until <= ?4)
             RETURNING {INTEGRATION_COLUMNS}"
        );
        let until = write_time(&lease_end(now, lease));
        Ok(self
            .query_integrations(&sql, params![id, holder, until, write_time(&now)])?
            .pop())
    }

    fn token_version(&self, id: &str) -> Result<Option<i64>, SqliteError> {
        Ok(self
            .connection
            .prepare_cached("SELECT token_version FROM integrations WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?)
    }

    fn try_begin_refresh(
        &mut self,
        id: &str,
        seen_version: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<RefreshClaim, SqliteError> {
        let until = lease_end(now, ttl);
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found: Option<(i64, Option<String>)> = transaction
            .prepare_cached("SELECT token_version, refresh_lease_until FROM integrations WHERE id = ?1")?
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((version, lease_until)) = found else {
            return Ok(RefreshClaim::Missing);
        };
        if version != seen_version {
            return Ok(RefreshClaim::Superseded { version });
        }
        if let Some(lease_until) = lease_until {
            let lease_until = read_time(lease_until, "integrations.refresh_lease_until")?;
            if lease_until > now {
                return Ok(RefreshClaim::Busy { until: lease_until });
            }
        }
        transaction
            .prepare_cached("UPDATE integrations SET refresh_holder = ?2, refresh_lease_until = ?3 WHERE id = ?1")?
            .execute(params![id, holder, write_time(&until)])?;
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = ?1");
        let integration = transaction
            .prepare_cached(&sql)?
            .query_row([id], |row| Ok(read_integration(row)))??;
        transaction.commit()?;
        Ok(RefreshClaim::Granted(Box::new(integration)))
    }

    fn replace_tokens(&mut self, id: &str, expected_version: i64, tokens: &TokenSet) -> Result<bool, SqliteError> {
        let tokens = token_columns(Some(tokens))?;
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE integrations SET access_token = ?3, refresh_token = ?4, expiry = ?5, refresh_expiry = ?6,
                                         token_details = ?7, token_version = token_version + 1,
                                         refresh_holder = NULL, refresh_lease_until = NULL
                 WHERE id = ?1 AND token_version = ?2",
            )?
            .execute(params![
                id,
                expected_version,
                tokens.access_token,
                tokens.refresh_token,
                tokens.expiry.as_ref().map(write_time),
                tokens.refresh_expiry.as_ref().map(write_time),
                tokens.details,
            ])?;
        Ok(changed > 0)
    }

    fn release_refresh(&mut self, id: &str, holder: &str) -> Result<(), SqliteError> {
        self.connection
            .prepare_cached(
                "UPDATE integrations SET refresh_holder = NULL, refresh_lease_until = NULL
                 WHERE id = ?1 AND refresh_holder = ?2",
            )?
            .execute(params![id, holder])?;
        Ok(())
    }
}

/// The ledger of accepted OAuth `state`s, in the `oauth_states` table: a state is accepted once across every
/// connection to the database. Entries that expired before the state being recorded was issued are deleted on the
/// way.
impl StateLedger for SqliteStore {
    type Error = SqliteError;

    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, SqliteError> {
        let transaction = self.connection.transaction()?;
        transaction
            .prepare_cached("DELETE FROM oauth_states WHERE expires_at < ?1")?
            .execute([write_time(&expired_before(expires_at))])?;
        let inserted = transaction
            .prepare_cached("INSERT INTO oauth_states (state_id, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![id.as_str(), write_time(&expires_at)])?;
        transaction.commit()?;
        Ok(inserted == 1)
    }
}
