//! [`IntegrationStore`] on PostgreSQL: integration records, polling state, token versions and leases.

use chrono::{DateTime, Duration, Utc};
use postgres::Row;
use postgres::types::{Json, ToSql};

use super::{Inner, PostgresError, PostgresStore, column};
use crate::integration::Configuration;
use crate::integration::{Integration, RoutingSecret};
use crate::oauth::TokenSet;
use crate::oauth::{StateId, StateLedger};
use crate::store::integration::{TokenColumns, expired_before, lease_end, routing_key};
use crate::store::{IntegrationStore, PollState, RefreshClaim};

/// The columns [`read_integration`] reads, in its order.
macro_rules! integration_columns {
    () => {
        "id, user_id, service, display_name, account_id, access_token, refresh_token, expiry, refresh_expiry, \
         configuration, routing_secret, token_details"
    };
}

/// The token columns of `tokens`.
fn token_columns(tokens: Option<&TokenSet>) -> Result<TokenColumns<'_>, PostgresError> {
    TokenColumns::of(tokens).map_err(|error| PostgresError::Corrupt {
        column: "integrations.token_details",
        message: error.to_string(),
    })
}

/// The integration in the columns of [`integration_columns`] from `first` on.
fn read_integration(row: &Row, first: usize) -> Result<Integration, PostgresError> {
    let mut integration = Integration::new(
        column::<String>(row, first)?,
        column::<String>(row, first + 1)?,
        column::<String>(row, first + 2)?,
        column::<String>(row, first + 3)?,
    );
    integration.account_id = column(row, first + 4)?;
    let details = column::<Option<String>>(row, first + 11)?;
    integration.tokens = TokenColumns::read(
        column(row, first + 5)?,
        column(row, first + 6)?,
        column(row, first + 7)?,
        column(row, first + 8)?,
        details.as_deref(),
    )
    .map_err(|error| PostgresError::Corrupt {
        column: "integrations.token_details",
        message: error.to_string(),
    })?;
    integration.configuration = column::<Option<Json<Configuration>>>(row, first + 9)?.map(|json| json.0);
    integration.routing_secret = column::<Option<String>>(row, first + 10)?.map(RoutingSecret::new);
    Ok(integration)
}

impl Inner {
    fn query_integrations(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Integration>, PostgresError> {
        let statement = self.statements.get(&mut self.client, sql)?;
        self.client
            .query(&statement, params)?
            .iter()
            .map(|row| read_integration(row, 0))
            .collect()
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, PostgresError> {
        let statement = self.statements.get(&mut self.client, sql)?;
        Ok(self.client.execute(&statement, params)?)
    }
}

impl IntegrationStore for PostgresStore {
    type Error = PostgresError;

    fn create_integration(&mut self, integration: &Integration) -> Result<(), PostgresError> {
        let tokens = token_columns(integration.tokens.as_ref())?;
        self.inner_mut().execute(
            "INSERT INTO integrations (id, user_id, service, display_name, account_id, access_token, refresh_token,
                                       expiry, refresh_expiry, configuration, routing_secret, routing_key,
                                       token_details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &integration.id,
                &integration.user_id,
                &integration.service,
                &integration.display_name,
                &integration.account_id,
                &tokens.access_token,
                &tokens.refresh_token,
                &tokens.expiry,
                &tokens.refresh_expiry,
                &integration.configuration.as_ref().map(Json),
                &integration.routing_secret.as_ref().map(RoutingSecret::expose_secret),
                &integration.routing_secret.as_ref().map(routing_key),
                &tokens.details,
            ],
        )?;
        Ok(())
    }

    fn update_integration(&mut self, integration: &Integration) -> Result<bool, PostgresError> {
        let tokens = token_columns(integration.tokens.as_ref())?;
        let changed = self.inner_mut().execute(
            "UPDATE integrations SET display_name = $2, account_id = $3, access_token = $4, refresh_token = $5,
                                     expiry = $6, refresh_expiry = $7, configuration = $8, token_details = $9,
                                     token_version = token_version + CASE
                                         WHEN access_token IS DISTINCT FROM $4 OR refresh_token IS DISTINCT FROM $5
                                           OR expiry IS DISTINCT FROM $6 OR refresh_expiry IS DISTINCT FROM $7
                                           OR token_details IS DISTINCT FROM $9
                                         THEN 1 ELSE 0 END
             WHERE id = $1",
            &[
                &integration.id,
                &integration.display_name,
                &integration.account_id,
                &tokens.access_token,
                &tokens.refresh_token,
                &tokens.expiry,
                &tokens.refresh_expiry,
                &integration.configuration.as_ref().map(Json),
                &tokens.details,
            ],
        )?;
        Ok(changed > 0)
    }

    fn update_details(&mut self, integration: &Integration) -> Result<bool, PostgresError> {
        let changed = self.inner_mut().execute(
            "UPDATE integrations SET display_name = $2, account_id = $3, configuration = $4 WHERE id = $1",
            &[
                &integration.id,
                &integration.display_name,
                &integration.account_id,
                &integration.configuration.as_ref().map(Json),
            ],
        )?;
        Ok(changed > 0)
    }

    fn find_integration(&self, id: &str) -> Result<Option<Integration>, PostgresError> {
        Ok(self
            .lock()
            .query_integrations(
                concat!("SELECT ", integration_columns!(), " FROM integrations WHERE id = $1"),
                &[&id],
            )?
            .pop())
    }

    fn find_by_routing_secret(
        &self,
        service: &str,
        routing_secret: &RoutingSecret,
    ) -> Result<Option<Integration>, PostgresError> {
        Ok(self
            .lock()
            .query_integrations(
                concat!(
                    "SELECT ",
                    integration_columns!(),
                    " FROM integrations WHERE routing_key = $1 AND service = $2"
                ),
                &[&routing_key(routing_secret), &service],
            )?
            .pop())
    }

    fn list_integrations(&self) -> Result<Vec<Integration>, PostgresError> {
        self.lock().query_integrations(
            concat!("SELECT ", integration_columns!(), " FROM integrations ORDER BY seq"),
            &[],
        )
    }

    fn poll_state(&self, id: &str) -> Result<PollState, PostgresError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let statement = inner.statements.get(
            &mut inner.client,
            "SELECT poll_cursor, next_poll_at, last_polled_at, last_poll_error FROM integrations WHERE id = $1",
        )?;
        let Some(row) = inner.client.query_opt(&statement, &[&id])? else {
            return Ok(PollState::default());
        };
        Ok(PollState {
            cursor: column(&row, 0)?,
            next_poll_at: column(&row, 1)?,
            last_polled_at: column(&row, 2)?,
            last_error: column(&row, 3)?,
        })
    }

    fn save_poll_state(&mut self, id: &str, state: &PollState) -> Result<(), PostgresError> {
        self.inner_mut().execute(
            "UPDATE integrations SET poll_cursor = $2, next_poll_at = $3, last_polled_at = $4, last_poll_error = $5,
                                     poll_holder = NULL, poll_lease_until = NULL
             WHERE id = $1",
            &[
                &id,
                &state.cursor.as_ref().map(Json),
                &state.next_poll_at,
                &state.last_polled_at,
                &state.last_error,
            ],
        )?;
        Ok(())
    }

    fn due_for_polling(&self, services: &[&str], now: DateTime<Utc>) -> Result<Vec<Integration>, PostgresError> {
        self.lock().query_integrations(
            concat!(
                "SELECT ",
                integration_columns!(),
                " FROM integrations
                  WHERE service = ANY($1) AND (next_poll_at IS NULL OR next_poll_at <= $2)
                  ORDER BY next_poll_at ASC NULLS FIRST, seq"
            ),
            &[&services, &now],
        )
    }

    fn acquire_due_for_polling(
        &mut self,
        services: &[&str],
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Integration>, PostgresError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let until = lease_end(now, lease);
        // Rows another scheduler is leasing right now are skipped, not waited for; a row leased and committed in
        // the meantime is checked again against the lease condition after it is locked.
        let inner = self.inner_mut();
        let statement = inner.statements.get(
            &mut inner.client,
            concat!(
                "WITH picked AS (
                    SELECT seq FROM integrations
                    WHERE service = ANY($1) AND (next_poll_at IS NULL OR next_poll_at <= $2)
                      AND (poll_lease_until IS NULL OR poll_lease_until <= $2)
                    ORDER BY next_poll_at ASC NULLS FIRST, seq
                    LIMIT $5
                    FOR UPDATE SKIP LOCKED
                 )
                 UPDATE integrations SET poll_holder = $3, poll_lease_until = $4
                 FROM picked WHERE integrations.seq = picked.seq
                 RETURNING integrations.seq, integrations.next_poll_at, ",
                integration_columns!()
            ),
        )?;
        let rows = inner
            .client
            .query(&statement, &[&services, &now, &holder, &until, &limit])?;
        let mut acquired = Vec::with_capacity(rows.len());
        for row in &rows {
            let order: (Option<DateTime<Utc>>, i64) = (column(row, 1)?, column(row, 0)?);
            acquired.push((order, read_integration(row, 2)?));
        }
        // `RETURNING` keeps no order: never polled first, then earliest due, then creation order.
        acquired.sort_by_key(|((next, seq), _)| (next.is_some(), *next, *seq));
        Ok(acquired.into_iter().map(|(_, integration)| integration).collect())
    }

    fn acquire_poll_lease(
        &mut self,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Integration>, PostgresError> {
        // One statement: the row lock it takes makes a concurrent taker wait, then see the lease and take nothing.
        Ok(self
            .inner_mut()
            .query_integrations(
                concat!(
                    "UPDATE integrations SET poll_holder = $2, poll_lease_until = $3
                     WHERE id = $1 AND (poll_lease_until IS NULL OR poll_lease_until <= $4)
                     RETURNING ",
                    integration_columns!()
                ),
                &[&id, &holder, &lease_end(now, lease), &now],
            )?
            .pop())
    }

    fn token_version(&self, id: &str) -> Result<Option<i64>, PostgresError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let statement = inner.statements.get(
            &mut inner.client,
            "SELECT token_version FROM integrations WHERE id = $1",
        )?;
        inner
            .client
            .query_opt(&statement, &[&id])?
            .map(|row| column(&row, 0))
            .transpose()
    }

    fn try_begin_refresh(
        &mut self,
        id: &str,
        seen_version: i64,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<RefreshClaim, PostgresError> {
        let inner = self.inner_mut();
        let mut transaction = inner.client.transaction()?;
        // The row lock makes the check and the lease one step for every instance.
        let statement = inner.statements.get(
            &mut transaction,
            concat!(
                "SELECT token_version, refresh_lease_until, ",
                integration_columns!(),
                " FROM integrations WHERE id = $1 FOR UPDATE"
            ),
        )?;
        let Some(row) = transaction.query_opt(&statement, &[&id])? else {
            return Ok(RefreshClaim::Missing);
        };
        let version: i64 = column(&row, 0)?;
        if version != seen_version {
            return Ok(RefreshClaim::Superseded { version });
        }
        let lease_until: Option<DateTime<Utc>> = column(&row, 1)?;
        if let Some(until) = lease_until.filter(|until| *until > now) {
            return Ok(RefreshClaim::Busy { until });
        }
        let integration = read_integration(&row, 2)?;
        let statement = inner.statements.get(
            &mut transaction,
            "UPDATE integrations SET refresh_holder = $2, refresh_lease_until = $3 WHERE id = $1",
        )?;
        transaction.execute(&statement, &[&id, &holder, &lease_end(now, ttl)])?;
        transaction.commit()?;
        Ok(RefreshClaim::Granted(Box::new(integration)))
    }

    fn replace_tokens(&mut self, id: &str, expected_version: i64, tokens: &TokenSet) -> Result<bool, PostgresError> {
        let tokens = token_columns(Some(tokens))?;
        let changed = self.inner_mut().execute(
            "UPDATE integrations SET access_token = $3, refresh_token = $4, expiry = $5, refresh_expiry = $6,
                                     token_details = $7, token_version = token_version + 1,
                                     refresh_holder = NULL, refresh_lease_until = NULL
             WHERE id = $1 AND token_version = $2",
            &[
                &id,
                &expected_version,
                &tokens.access_token,
                &tokens.refresh_token,
                &tokens.expiry,
                &tokens.refresh_expiry,
                &tokens.details,
            ],
        )?;
        Ok(changed > 0)
    }

    fn release_refresh(&mut self, id: &str, holder: &str) -> Result<(), PostgresError> {
        self.inner_mut().execute(
            "UPDATE integrations SET refresh_holder = NULL, refresh_lease_until = NULL
             WHERE id = $1 AND refresh_holder = $2",
            &[&id, &holder],
        )?;
        Ok(())
    }
}

/// The ledger of accepted OAuth `state`s, in the `oauth_states` table: a state is accepted once across every
/// instance on the database (`ON CONFLICT DO NOTHING` on its id). Entries that expired before the state being
/// recorded was issued are deleted on the way.
impl StateLedger for PostgresStore {
    type Error = PostgresError;

    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, PostgresError> {
        let inner = self.inner_mut();
        inner.execute(
            "DELETE FROM oauth_states WHERE expires_at < $1",
            &[&expired_before(expires_at)],
        )?;
        let inserted = inner.execute(
            "INSERT INTO oauth_states (state_id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id.as_str(), &expires_at],
        )?;
        Ok(inserted == 1)
    }
}
