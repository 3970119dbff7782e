//! What every request passes through: the `Host` check, bounded and timed body reads, sign-in, CSRF, and the
//! security headers of every answer.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use spark_integrations::Secret;

use super::ApiError;
use crate::app::AppState;
use crate::auth::{self, User};

/// The session cookie.
pub const SESSION_COOKIE: &str = "spark_session";

/// The largest body of a request that is not a webhook delivery (a configuration, a sign-in form).
pub const MAX_FORM_BODY: usize = 1024 * 1024;

/// Who made a request, and how.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The user.
    pub user: User,
    /// The session token, when the request came with the session cookie rather than a bearer token.
    pub session: Option<Secret>,
}

impl Signed {
    /// The CSRF token the session's forms carry; `None` for bearer-token requests, which need none.
    pub fn csrf(&self) -> Option<String> {
        self.session
            .as_ref()
            .map(|session| auth::csrf_token(session.expose_secret()))
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The user the request is signed in as: `Authorization: Bearer <token>`, else the session cookie. Blocking.
///
/// # Errors
///
/// When the database fails.
pub fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<Signed>, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let store = state.db.read();
    if let Some(token) = bearer {
        let user = auth::user_by_token(&store, token).map_err(ApiError::internal)?;
        return Ok(user.map(|user| Signed { user, session: None }));
    }
    let Some(session) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let user = auth::session_user(&store, session, state.clock.now()).map_err(ApiError::internal)?;
    Ok(user.map(|user| Signed {
        user,
        session: Some(Secret::new(session)),
    }))
}

/// The refusal of a request without a (valid) sign-in: 401 with a JSON error on `/api/`, a 303 to `/login` for
/// pages.
fn unauthenticated(path: &str) -> Response {
    if path.starts_with("/api/") {
        ApiError::new(StatusCode::UNAUTHORIZED, "sign in: `Authorization: Bearer <token>`").into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response()
    }
}

/// Lets only signed-in users through, with [`Signed`] in the request's extensions. A session-cookie request that
/// changes something must carry the session's CSRF token: the `x-csrf-token` header, or a `csrf` form field.
pub async fn require_user(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let lookup = Arc::clone(&state);
    let signed = match super::blocking(move || signed_in(&lookup, &headers)).await {
        Ok(Some(signed)) => signed,
        Ok(None) => return unauthenticated(parts.uri.path()),
        Err(error) => return error.into_response(),
    };
    let mut body = body;
    if let Some(expected) = signed.csrf()
        && !matches!(parts.method, Method::GET | Method::HEAD)
    {
        let in_header = parts.headers.get("x-csrf-token").and_then(|value| value.to_str().ok());
        let given = match in_header {
            Some(token) => Some(token.to_owned()),
            None => {
                // A form: read it (the body was bounded and timed by `harden`), find the field, put it back.
                let Ok(bytes) = to_bytes(body, MAX_FORM_BODY).await else {
                    return ApiError::new(StatusCode::BAD_REQUEST, "unreadable body").into_response();
                };
                let field = url::form_urlencoded::parse(&bytes)
                    .find(|(key, _)| key == "csrf")
                    .map(|(_, value)| value.into_owned());
                body = Body::from(bytes);
                field
            }
        };
        let valid = given.is_some_and(|given| Secret::new(given) == Secret::new(expected));
        if !valid {
            return ApiError::new(StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
        }
    }
    parts.extensions.insert(signed);
    next.run(Request::from_parts(parts, body)).await
}

/// Every request: refuses a `Host` other than `--base-url`'s (DNS rebinding), reads bodies other than webhook
/// deliveries whole within the size cap and the read timeout, and adds the security headers to every answer.
pub async fn harden(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let expected = authority(&state.config.base_url);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if host.is_none_or(|host| !host.eq_ignore_ascii_case(&expected)) {
        return (StatusCode::MISDIRECTED_REQUEST, "unknown host").into_response();
    }
    let request = if request.uri().path().starts_with("/webhook/") {
        // The webhook route checks its routing secret before it reads anything, then reads with this timeout.
        request
    } else {
        let (parts, body) = request.into_parts();
        match tokio::time::timeout(state.config.read_timeout, to_bytes(body, MAX_FORM_BODY)).await {
            Ok(Ok(bytes)) => Request::from_parts(parts, Body::from(bytes)),
            Ok(Err(_)) => {
                return secured(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large").into_response());
            }
            Err(_) => return close(StatusCode::REQUEST_TIMEOUT, "the body took too long"),
        }
    };
    secured(next.run(request).await)
}

/// An answer that closes the connection (after a stalled or refused body, whose rest must not be read).
pub fn close(status: StatusCode, message: &str) -> Response {
    let mut response = secured(ApiError::new(status, message).into_response());
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `host[:port]` of `url`, the port left out when it is the scheme's default, as a `Host` header has it.
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// `response` with the headers every answer gets: HTML may run no script and be framed by nobody, JSON is never
/// cached, and nothing is sniffed or referred.
pub fn secured(mut response: Response) -> Response {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if content_type.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
