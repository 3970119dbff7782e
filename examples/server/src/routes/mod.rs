//! The request handlers, one file per area, and the error answer they share.

pub mod account;
pub mod api;
pub mod guard;
pub mod inbox;
pub mod oauth;
pub mod webhook;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db::note;

/// An error answer: a status and a JSON body `{"error": message}`. Messages never hold a secret.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    /// A 500 whose detail goes to the log, not to the client.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        note(&format!("internal error: {error}"));
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Runs blocking work (SQLite, ureq) off the async workers.
pub async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

/// The `limit` query parameter: `default` when absent, else 1 to `max` (400 otherwise).
///
/// # Errors
///
/// 400 naming the range, for a value that is not a number in it.
pub fn limit(query: &std::collections::HashMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    match query.get("limit") {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, format!("`limit` must be 1 to {max}"))),
    }
}
