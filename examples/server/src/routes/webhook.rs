//! `POST /webhook/{service}/{routing_secret}`: verify, convert, ingest.
//!
//! The routing secret only says which integration a delivery is for; authenticity comes from the provider's
//! signature, checked by the plugin's verifier with the app-level secrets its entry in `services.rs` read from the
//! command line. Nothing is stored for a refused request. A redelivery (the same delivery or event id) is a success
//! with `"duplicates":1`: events are unique per integration and source id.

use std::sync::Arc;

use axum::Json;
use axum::body::to_bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use spark_integrations::convert::Payload;
use spark_integrations::plugin::intake_for;
use spark_integrations::store::{InboxDelivery, IntegrationStore};
use spark_integrations::webhook::WebhookSecret;

use super::guard::close;
use super::{ApiError, blocking};
use crate::app::{AppState, MAX_WEBHOOK_BODY, routing_secret};
use crate::db::note;
use crate::inbox::{NotKept, Processed};
use crate::routing::Route;

/// The secrets a service's provider signs this host's deliveries with, as its entry in `services.rs` configured
/// them.
fn signing_secrets<'a>(state: &'a AppState, service: &str) -> &'a [WebhookSecret] {
    state
        .signing_secrets
        .get(service)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Whether `service` is a registered plugin that accepts webhooks.
fn accepts_webhooks(state: &AppState, service: &str) -> bool {
    state
        .registry
        .get(service)
        .is_some_and(|plugin| plugin.webhook_verifier().is_some())
}

/// The handler. 200 `{"status":"ok","inserted":N,"duplicates":M}`, or 200 with the challenge a verification
/// request asks to echo; 401 for a bad or missing signature, 404 for an unknown service or routing secret, 413 over 25 MB.
pub async fn deliver(
    State(state): State<Arc<AppState>>,
    Path((service, secret)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    if !accepts_webhooks(&state, &service) {
        return Ok(close(StatusCode::NOT_FOUND, "no webhooks for this service"));
    }
    // The routing secret first, before a byte of the body is read: a URL found known lately is taken from memory
    // (the group writer checks it again before keeping anything), an unknown one costs one indexed lookup.
    let route = Route::new(&service, &routing_secret(&secret));
    let (integration_id, configuration) = match state.known_routes.get(&route) {
        Some(known) => known,
        None => {
            let lookup = Arc::clone(&state);
            let (looked_up_service, looked_up_secret) = (service.clone(), secret.clone());
            let known = blocking(move || {
                lookup
                    .db
                    .read()
                    .find_by_routing_secret(&looked_up_service, &routing_secret(&looked_up_secret))
                    .map_err(ApiError::internal)
            })
            .await?;
            let Some(integration) = known else {
                return Ok(close(StatusCode::NOT_FOUND, "unknown webhook URL"));
            };
            state
                .known_routes
                .remember(route.clone(), &integration.id, integration.configuration.as_ref());
            (integration.id, integration.configuration)
        }
    };
    // Refuse by the announced length before reading anything; then read with the same cap (chunked bodies), within
    // the read timeout.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_WEBHOOK_BODY as u64) {
        return Ok(close(StatusCode::PAYLOAD_TOO_LARGE, "the body is over the limit"));
    }
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(state.config.read_timeout, to_bytes(body, MAX_WEBHOOK_BODY)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Ok(close(StatusCode::PAYLOAD_TOO_LARGE, "the body is over the limit")),
        Err(_) => return Ok(close(StatusCode::REQUEST_TIMEOUT, "the body took too long")),
    };

    let verifying = Arc::clone(&state);
    let kept_for = integration_id.clone();
    let verify = move || {
        let state = verifying;
        let now = state.clock.now();
        let plugin = state
            .registry
            .get(&service)
            .ok_or_else(|| ApiError::not_found("no such service"))?;
        let secrets = signing_secrets(&state, &service);
        let delivery = match intake_for(plugin.as_ref(), secrets, &parts.headers, &body, now) {
            Ok(delivery) => delivery,
            Err(error) => {
                note(&format!("webhook for {kept_for} refused: {error}"));
                return Err(ApiError::new(error.status(), error.to_string()));
            }
        };
        let Payload::Webhook { event, delivery_id, .. } = delivery.payload else {
            return Err(ApiError::internal("a verified delivery is a webhook payload"));
        };
        let mut kept = InboxDelivery::new(&kept_for, &service, now, body.to_vec());
        kept.event = event.map(str::to_owned);
        kept.delivery_id = delivery_id.map(str::to_owned);
        Ok(kept)
    };
    // Checking a signature is a hash over the body: on the async worker for the bodies providers usually send (a
    // thread hop costs more than the hash), on a blocking thread for large ones.
    let kept = if declared.is_some_and(|len| len <= INLINE_VERIFY_LEN) {
        verify()?
    } else {
        blocking(verify).await?
    };
    // Kept durably, with its events and outcome (and the deliveries arriving beside it, in one commit), before
    // anything is answered: from here on, a crash loses nothing the provider was told is safe.
    let (id, processed) = match state.batcher.submit(&state, kept, route, configuration).await {
        Ok(kept) => kept,
        Err(NotKept::UnknownRoute) => return Ok(close(StatusCode::NOT_FOUND, "unknown webhook URL")),
        Err(NotKept::Unavailable) => return Ok(unavailable()),
    };
    Ok(match processed {
        // A verification request (Slack's `url_verification`): the converter read its challenge; echo it.
        Processed::Stored {
            challenge: Some(challenge),
            ..
        } => ([(header::CONTENT_TYPE, "text/plain")], challenge).into_response(),
        Processed::Stored { report, skipped, .. } => {
            let mut answer = json!({"status": "ok", "inserted": report.inserted, "duplicates": report.duplicates});
            if let (Some(reason), Some(object)) = (skipped, answer.as_object_mut()) {
                object.insert("skipped".into(), json!(reason));
            }
            Json(answer).into_response()
        }
        // A conversion that fails will fail the same way on a redelivery: the provider must not retry it.
        Processed::Failed(error) => {
            note(&format!(
                "inbox delivery {id} for {integration_id} kept as failed: {error}"
            ));
            let answer = json!({"status": "failed", "inbox_id": id, "error": error});
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
        // Kept, and retried here: the provider need not send it again.
        Processed::Retry(_) => {
            (StatusCode::ACCEPTED, Json(json!({"status": "pending", "inbox_id": id}))).into_response()
        }
    })
}

/// The largest body verified on the async worker itself (see [`deliver`]).
const INLINE_VERIFY_LEN: u64 = 256 * 1024;

/// 503 with `Retry-After`: the delivery could not be kept, so nothing of it is stored; the provider should send it
/// again later.
fn unavailable() -> Response {
    let mut response =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable; retry later").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
