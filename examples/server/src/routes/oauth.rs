//! `GET /integrations/{service}/oauth` and `.../callback`: the OAuth authorization-code flow with PKCE.
//!
//! The pending authorization travels in a cookie (`HttpOnly`, `SameSite=Lax`, `Path=/integrations`, 10 minutes).
//! Its `state` is an HMAC over the provider, integration, user, expiry and nonce, so an edited cookie fails the
//! check; the cookie is not encrypted, so nothing in it is relied on being secret from its holder (the PKCE
//! verifier only proves that the token request comes from whoever started the flow). Single use is enforced by the
//! ledger in the database (the store's `oauth_states` table) before the token request is released, so with a shared
//! `--state-key` any instance on the database can finish a flow, and each flow finishes once.

use std::error::Error;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use spark_integrations::oauth::{
    CallbackError, Driver, DriverError, OAuthClient, PendingAuth, StateId, StateLedger, TokenSet,
};
use spark_integrations::store::IntegrationStore;

use super::api::find_or_create;
use super::guard::{Signed, cookie, signed_in};
use super::{ApiError, blocking};
use crate::app::{AppState, random};
use crate::db::{Db, note};
use crate::store::StoreError;

/// The cookie that holds a service's pending authorization.
fn cookie_name(service: &str) -> String {
    format!("spark_oauth_{service}")
}

/// `GET /integrations/{service}/oauth`: creates the integration if missing, then 302 to the provider with `state`
/// and a PKCE challenge; the pending authorization goes into the cookie.
pub async fn start(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let client = client(&state, &service)?;
        let user = signed.user.id;
        let (integration, _) = find_or_create(&state, &service, &user)?;
        let random = random::<32>().map_err(ApiError::internal)?;
        let authorize = client.start(&integration.id, &user, state.clock.now(), &random);
        let pending = serde_json::to_vec(&authorize.pending).map_err(ApiError::internal)?;
        let secure = if state.config.base_url.scheme() == "https" {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{}={}; Path=/integrations; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
            cookie_name(&service),
            URL_SAFE_NO_PAD.encode(pending)
        );
        let mut response = redirect(&authorize.url)?;
        response
            .headers_mut()
            .insert(header::SET_COOKIE, header_value(&cookie)?);
        Ok(response)
    })
    .await
}

/// `GET /integrations/{service}/callback?code&state`: checks the state, exchanges the code, stores the tokens and
/// the account, 302 to `/`. A bad, reused or expired state answers 400 and sends nothing; a provider error
/// redirects to `/?error=...` and stores no token.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pending = cookie(&headers, &cookie_name(&service))
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "no authorization in progress: start it again"))?;
    let pending: PendingAuth = URL_SAFE_NO_PAD
        .decode(pending)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable authorization cookie: start it again",
            )
        })?;
    let query = query.unwrap_or_default();
    // The pending authorization is spent whatever happens next.
    let expired = format!(
        "{}=; Path=/integrations; HttpOnly; SameSite=Lax; Max-Age=0",
        cookie_name(&service)
    );
    let request_headers = headers.clone();
    let mut response = blocking(move || {
        let client = client(&state, &service)?;
        // The flow is bound to the user who started it: the signed state names them, and the one finishing it must
        // be signed in as them.
        let Some(signed) = signed_in(&state, &request_headers)? else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "sign in as the user who started this authorization",
            ));
        };
        let now = state.clock.now();
        let mut ledger = DbLedger(&state.db);
        let driver = Driver::new(client, |request| state.http.send(request));
        let integration_id = pending.integration_id().to_owned();
        let persist = |tokens: &TokenSet| store_tokens(&state, &integration_id, tokens);
        match driver.finish(pending, &query, &signed.user.id, now, &mut ledger, persist) {
            Ok(connected) => {
                let mut store = state.db.write();
                let mut integration = store
                    .find_integration(&integration_id)
                    .map_err(ApiError::internal)?
                    .ok_or_else(|| ApiError::not_found("the integration was removed"))?;
                integration.account_id = Some(connected.account.id);
                store.update_details(&integration).map_err(ApiError::internal)?;
                redirect("/")
            }
            Err(error) => callback_failure(&error),
        }
    })
    .await
    .unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, header_value(&expired)?);
    Ok(response)
}

/// The answer to a failed callback: 400 for a refused `state`, a redirect with the reason for the provider's
/// refusals, 502 when the provider could not be reached.
fn callback_failure(error: &DriverError) -> Result<Response, ApiError> {
    note(&format!("oauth callback failed: {error}"));
    match error {
        DriverError::Callback(CallbackError::AccessDenied { .. }) => redirect("/?error=access_denied"),
        DriverError::Callback(CallbackError::Provider { code, .. }) => redirect(&error_page(code)),
        DriverError::Callback(error) => Err(ApiError::new(StatusCode::BAD_REQUEST, error.to_string())),
        DriverError::Token(_) | DriverError::Account(_) | DriverError::Reauthorize => {
            redirect(&error_page(&error.to_string()))
        }
        DriverError::Transport(_) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the provider could not be reached",
        )),
        _ => Err(ApiError::internal(error)),
    }
}

fn error_page(message: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", message)
        .finish();
    format!("/?{query}")
}

/// Stores the tokens of a new authorization on the integration, before they are used.
pub fn store_tokens(
    state: &AppState,
    integration_id: &str,
    tokens: &TokenSet,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut store = state.db.write();
    let mut integration = store
        .find_integration(integration_id)?
        .ok_or("the integration to store tokens on does not exist")?;
    integration.tokens = Some(tokens.clone());
    // A new authorization: `update_integration` stores the tokens and moves their version, so that a refresh in
    // flight elsewhere cannot overwrite them.
    store.update_integration(&integration)?;
    Ok(())
}

/// The ledger of accepted states: the database, shared by every instance on it. Takes a connection only for the
/// insert itself, never across the token request.
struct DbLedger<'a>(&'a Db);

impl StateLedger for DbLedger<'_> {
    type Error = StoreError;

    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.0.write().mark_used(id, expires_at)
    }
}

fn client<'a>(state: &'a AppState, service: &str) -> Result<&'a OAuthClient, ApiError> {
    if state.registry.get(service).is_none() {
        return Err(ApiError::not_found(format!("unknown service `{service}`")));
    }
    state.oauth.get(service).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no OAuth app is configured for `{service}`"),
        )
    })
}

fn redirect(location: &str) -> Result<Response, ApiError> {
    Ok((StatusCode::FOUND, [(header::LOCATION, header_value(location)?)]).into_response())
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(ApiError::internal)
}
