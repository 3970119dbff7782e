//! The JSON API: plugins, integrations, configuration, events, and polling on demand.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use spark_integrations::Integration;
use spark_integrations::plugin::Descriptor;
use spark_integrations::store::{ActivityStore, EventQuery, IntegrationStore, SkippedRow, StoredEvent};

use super::guard::Signed;
use super::{ApiError, blocking};
use crate::app::{AppState, integration_id};
use crate::db::note;
use crate::poller::{self, PollProblem};

/// The most events `GET /api/events` lists at once.
pub const MAX_EVENTS: usize = 500;

/// `GET /api/plugins`: what can be connected, with each configuration form.
pub async fn plugins(State(state): State<Arc<AppState>>) -> Json<Value> {
    let plugins: Vec<Value> = state
        .registry
        .iter()
        .map(|plugin| json!(Descriptor::of(plugin.as_ref())))
        .collect();
    Json(Value::Array(plugins))
}

/// `GET /api/integrations`: the signed-in user's integrations, without tokens.
pub async fn integrations(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let store = state.db.read();
        let mut list = Vec::new();
        for integration in owned_integrations(&*store, &signed.user.id)? {
            let poll = store.poll_state(&integration.id).map_err(ApiError::internal)?;
            list.push(state.integration_json(&integration, Some(&poll)));
        }
        Ok(Json(Value::Array(list)))
    })
    .await
}

/// `POST /api/integrations/{service}`: the user's integration of `service`, created if there is none (201), else
/// the existing one (200).
pub async fn create_integration(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let (integration, created) = find_or_create(&state, &service, &signed.user.id)?;
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Ok((status, Json(state.integration_json(&integration, None))).into_response())
    })
    .await
}

/// The user's integration of `service` and whether it was just created. One per service and user: the id is
/// derived from both, so of two requests (on one instance or two) creating it at once, one inserts and the other
/// finds the row it wrote.
pub fn find_or_create(state: &AppState, service: &str, user_id: &str) -> Result<(Integration, bool), ApiError> {
    if state.registry.get(service).is_none() {
        return Err(ApiError::not_found(format!("unknown service `{service}`")));
    }
    let mut store = state.db.write();
    let existing = store
        .find_integration(&integration_id(service, user_id))
        .map_err(ApiError::internal)?;
    if let Some(integration) = existing {
        return Ok((integration, false));
    }
    let integration = state
        .new_integration(service, user_id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("unknown service `{service}`")))?;
    match store.create_integration(&integration) {
        Ok(()) => Ok((integration, true)),
        Err(error) => match store.find_integration(&integration.id).map_err(ApiError::internal)? {
            Some(created) => Ok((created, false)),
            None => Err(ApiError::internal(error)),
        },
    }
}

/// `PUT /api/integrations/{id}/configuration`: validates the body against the plugin's schema. 200 with the stored
/// configuration, or 422 with every field error.
pub async fn configure(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let submitted: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("the body is not JSON: {error}")))?;
    blocking(move || {
        let mut store = state.db.write();
        let mut integration = owned_integration(&*store, &id, &signed.user.id)?;
        let plugin = state
            .registry
            .get(&integration.service)
            .ok_or_else(|| ApiError::internal(format!("integration `{id}` has an unregistered service")))?;
        let configuration = match plugin.configuration_schema().validate(&submitted) {
            Ok(configuration) => configuration,
            Err(errors) => {
                let errors: Vec<Value> = errors
                    .errors()
                    .iter()
                    .map(|error| json!({"path": error.path(), "message": error.to_string()}))
                    .collect();
                let body = json!({"error": "invalid configuration", "errors": errors});
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
            }
        };
        integration.configuration = Some(configuration);
        // Not `update_integration`: the tokens read above may have been refreshed meanwhile by another instance.
        store.update_details(&integration).map_err(ApiError::internal)?;
        Ok(Json(json!(integration.configuration)).into_response())
    })
    .await
}

/// `GET /api/events?integration=ID&limit=N`: the latest events, newest first, as the model's JSON. Stored rows
/// that could not be read back are left out, logged, and counted in the `Spark-Skipped-Rows` header.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = super::limit(&query, 50, MAX_EVENTS)?;
    let integration = query.get("integration").cloned();
    blocking(move || {
        let store = state.db.read();
        let (events, skipped) = user_events(&*store, &signed.user.id, integration.as_deref(), limit)?;
        let events: Vec<Value> = events
            .iter()
            .map(|stored| serde_json::to_value(&stored.event).map_err(ApiError::internal))
            .collect::<Result<_, _>>()?;
        let mut response = Json(Value::Array(events)).into_response();
        if !skipped.is_empty() {
            response
                .headers_mut()
                .insert(SKIPPED_ROWS, HeaderValue::from(skipped.len()));
        }
        Ok(response)
    })
    .await
}

/// The header that counts the stored rows a listing left out because they could not be read back.
pub const SKIPPED_ROWS: &str = "spark-skipped-rows";

/// Logs the stored rows a listing could not read back: each is data that needs repair.
pub fn report_skipped(skipped: &[SkippedRow]) {
    for row in skipped {
        note(&format!(
            "skipped an unreadable stored event (integration {}, source id {}): {}",
            row.integration_id.as_deref().unwrap_or("?"),
            row.source_id.as_deref().unwrap_or("?"),
            row.reason
        ));
    }
}

/// `POST /api/integrations/{id}/fetch`: polls now. Only the provider's own limits hold it back (429 with
/// `Retry-After` until then), or a poll of the same integration running here or on another instance (409).
pub async fn fetch(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || {
        // Another user's integration is as unknown as a missing one.
        owned_integration(&*state.db.read(), &id, &signed.user.id)?;
        let now = state.clock.now();
        let leased = state
            .db
            .write()
            .acquire_poll_lease(&id, &state.instance, now, poller::POLL_LEASE)
            .map_err(ApiError::internal)?;
        let Some(integration) = leased else {
            let exists = state
                .db
                .read()
                .find_integration(&id)
                .map_err(ApiError::internal)?
                .is_some();
            return Err(if exists {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "a poll of this integration is running; try again shortly",
                )
            } else {
                ApiError::not_found(format!("no integration `{id}`"))
            });
        };
        match poller::poll_leased(&state, &integration, now) {
            Ok(fetched) => Ok(Json(json!({
                "inserted": fetched.inserted,
                "duplicates": fetched.duplicates,
                "next_poll_at": fetched.next_poll_at,
                "errors": fetched.errors,
            }))
            .into_response()),
            Err(PollProblem::HeldBack { until }) => {
                let wait = (until - now).num_seconds().max(1);
                let body = json!({"error": "the provider asks to wait", "next_poll_at": until});
                let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait));
                Ok(response)
            }
            Err(PollProblem::Refused(message)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
            Err(PollProblem::Failed(message)) => Err(ApiError::new(StatusCode::BAD_GATEWAY, message)),
            Err(PollProblem::Internal(message)) => Err(ApiError::internal(message)),
        }
    })
    .await
}

/// The integrations of `user_id`.
pub fn owned_integrations<S: IntegrationStore>(store: &S, user_id: &str) -> Result<Vec<Integration>, ApiError>
where
    S::Error: std::fmt::Display,
{
    let all = store.list_integrations().map_err(ApiError::internal)?;
    Ok(all
        .into_iter()
        .filter(|integration| integration.user_id == user_id)
        .collect())
}

/// The integration `id` if it belongs to `user_id`; 404 otherwise, whether it is missing or another user's.
pub fn owned_integration<S: IntegrationStore>(store: &S, id: &str, user_id: &str) -> Result<Integration, ApiError>
where
    S::Error: std::fmt::Display,
{
    store
        .find_integration(id)
        .map_err(ApiError::internal)?
        .filter(|integration| integration.user_id == user_id)
        .ok_or_else(|| ApiError::not_found(format!("no integration `{id}`")))
}

/// The latest `limit` events of `user_id`'s integrations (of `integration` only, when given and the user's), newest
/// first, and the stored rows left out because they could not be read back (logged here).
pub fn user_events<S: IntegrationStore + ActivityStore>(
    store: &S,
    user_id: &str,
    integration: Option<&str>,
    limit: usize,
) -> Result<(Vec<StoredEvent>, Vec<SkippedRow>), ApiError>
where
    <S as IntegrationStore>::Error: std::fmt::Display,
    <S as ActivityStore>::Error: std::fmt::Display,
{
    let ids: Vec<String> = match integration {
        Some(id) => vec![owned_integration(store, id, user_id)?.id],
        None => owned_integrations(store, user_id)?
            .into_iter()
            .map(|integration| integration.id)
            .collect(),
    };
    // One integration per service and user: a handful of queries, merged.
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    for id in ids {
        let query = EventQuery::latest(limit).for_integration(id);
        let listing = store.recent_events(&query).map_err(ApiError::internal)?;
        events.extend(listing.events);
        skipped.extend(listing.skipped);
    }
    report_skipped(&skipped);
    events.sort_by_key(|stored| std::cmp::Reverse(stored.event.time));
    events.truncate(limit);
    Ok((events, skipped))
}
