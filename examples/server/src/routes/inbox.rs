//! The inbox API: kept deliveries of the signed-in user's integrations, retried one by one or derived again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use spark_integrations::store::{InboxQuery, InboxStatus, InboxStore};

use super::api::{owned_integration, owned_integrations};
use super::guard::Signed;
use super::{ApiError, blocking};
use crate::app::AppState;
use crate::inbox::{self, Mode, Processed};

/// The most deliveries one listing shows.
const MAX_LISTED: usize = 500;

/// The most deliveries one replay derives again; a replay of more is repeated with a later `since`.
const MAX_REPLAYED: usize = 10_000;

/// The ids of `user_id`'s integrations. Blocking.
fn own_integrations(state: &AppState, user_id: &str) -> Result<Vec<String>, ApiError> {
    let owned = owned_integrations(&*state.db.read(), user_id)?;
    Ok(owned.into_iter().map(|integration| integration.id).collect())
}

/// `GET /api/inbox?status=failed|pending|done&limit=N&bodies=true`: the user's kept deliveries, newest first;
/// bodies only when asked for.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::limit(&query, 50, MAX_LISTED)?;
    let status = match query.get("status") {
        None => None,
        Some(name) => Some(
            InboxStatus::parse(name)
                .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "`status` is `pending`, `done` or `failed`"))?,
        ),
    };
    let bodies = query.get("bodies").is_some_and(|value| value == "true");
    blocking(move || {
        let mut inbox_query = InboxQuery::new(limit).for_integrations(own_integrations(&state, &signed.user.id)?);
        if let Some(status) = status {
            inbox_query = inbox_query.with_status(status);
        }
        if bodies {
            inbox_query = inbox_query.with_bodies();
        }
        let records = state.db.read().list_inbox(&inbox_query).map_err(ApiError::internal)?;
        Ok(Json(Value::Array(records.iter().map(inbox::record_json).collect())))
    })
    .await
}

/// `POST /api/inbox/{id}/retry`: converts kept delivery `id` again with the current converter and stores it (an
/// event stored for it before is replaced in place). 200 with its new state.
pub async fn retry(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let missing = || ApiError::not_found(format!("no kept delivery {id}"));
        let record = state
            .db
            .read()
            .inbox_entry(id)
            .map_err(ApiError::internal)?
            .ok_or_else(missing)?;
        // Another user's delivery is as unknown as a missing one.
        owned_integration(&*state.db.read(), &record.delivery.integration_id, &signed.user.id)
            .map_err(|_| missing())?;
        let body = record.body.as_deref().unwrap_or_default();
        inbox::process(&state, id, &record.delivery, body, record.attempts, Mode::Rederive)
            .map_err(ApiError::internal)?;
        let record = state
            .db
            .read()
            .inbox_entry(id)
            .map_err(ApiError::internal)?
            .ok_or_else(missing)?;
        let mut shown = inbox::record_json(&record);
        if let Some(object) = shown.as_object_mut() {
            object.remove("body");
        }
        Ok(Json(shown))
    })
    .await
}

/// `POST /api/inbox/replay?since=RFC3339`: derives every kept delivery of the user's integrations received since
/// then again with the current converters, oldest first; events already stored are replaced in place, never
/// duplicated. 200 with the counts.
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let since = query
        .get("since")
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "give `since`, an RFC 3339 time"))?;
    let since: DateTime<Utc> = DateTime::parse_from_rfc3339(since)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("`since` is not RFC 3339: {error}")))?
        .with_timezone(&Utc);
    blocking(move || {
        let inbox_query = InboxQuery::new(MAX_REPLAYED)
            .for_integrations(own_integrations(&state, &signed.user.id)?)
            .since(since)
            .with_bodies();
        let mut records = state.db.read().list_inbox(&inbox_query).map_err(ApiError::internal)?;
        records.reverse();
        let (mut inserted, mut updated, mut failed, mut pending) = (0, 0, 0, 0);
        for record in &records {
            let body = record.body.as_deref().unwrap_or_default();
            match inbox::process(
                &state,
                record.id,
                &record.delivery,
                body,
                record.attempts,
                Mode::Rederive,
            )
            .map_err(ApiError::internal)?
            {
                Processed::Stored { report, .. } => {
                    inserted += report.inserted;
                    updated += report.updated;
                }
                Processed::Failed(_) => failed += 1,
                Processed::Retry(_) => pending += 1,
            }
        }
        Ok(Json(json!({
            "replayed": records.len(),
            "inserted": inserted,
            "updated": updated,
            "failed": failed,
            "pending": pending,
        })))
    })
    .await
}
