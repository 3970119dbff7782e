//! Signing in and out, users, and the health check.
//!
//! `GET /login` shows a form whose `token` field takes a user's API token; `POST /login` checks it and sets the
//! session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when `--base-url` is https). The sign-in form is protected
//! from cross-site posts by a double-submit token (a random value in a short-lived cookie and in the form); once
//! signed in, forms carry the session's CSRF token. `POST /api/users` and `GET /api/users` are the administrator's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use spark_integrations::Secret;

use super::guard::{SESSION_COOKIE, Signed, cookie};
use super::{ApiError, blocking};
use crate::app::{AppState, random};
use crate::auth::{self, SESSION_LIFETIME, User};
use crate::page::escape;

/// The cookie holding the sign-in form's double-submit token.
const LOGIN_COOKIE: &str = "spark_login";

/// `GET /healthz`: 200 `ok` while the process serves; no sign-in, no database.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /login`: the sign-in form.
pub async fn login_form(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    login_page(&state, StatusCode::OK, None)
}

/// The form, with a fresh double-submit token in the form and in a cookie.
fn login_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Result<Response, ApiError> {
    let csrf = hex::encode(random::<16>().map_err(ApiError::internal)?);
    let error = error.map_or_else(String::new, |error| {
        format!("<p class=\"error\">{}</p>\n", escape(error))
    });
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Sign in</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}.error{{color:#a00}}</style>\n</head>\n<body>\n\
         <h1>Sign in</h1>\n{error}<form method=\"post\" action=\"/login\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label>API token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n</body>\n</html>\n"
    );
    let cookie = format!(
        "{LOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=600{}",
        secure_attribute(state)
    );
    let mut response = (status, Html(page)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, header_value(&cookie)?);
    Ok(response)
}

/// `POST /login` (form `token`, `csrf`): a session for the token's user and a 303 to `/`, or the form again with
/// 401 (wrong token) or 403 (the form's token does not match its cookie).
pub async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let field = |name: &str| {
        url::form_urlencoded::parse(&body)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let (token, csrf) = (field("token").unwrap_or_default(), field("csrf").unwrap_or_default());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if csrf.is_empty() || Secret::new(csrf) != Secret::new(expected) {
        return login_page(&state, StatusCode::FORBIDDEN, Some("The form expired: sign in again."));
    }
    let session = auth::new_token().map_err(ApiError::internal)?;
    let lookup = Arc::clone(&state);
    let new_session = session.clone();
    let signed_in = blocking(move || {
        let store = lookup.db.write();
        let Some(user) = auth::user_by_token(&store, &token).map_err(ApiError::internal)? else {
            return Ok(None);
        };
        auth::create_session(&store, &new_session, &user.id, lookup.clock.now()).map_err(ApiError::internal)?;
        Ok(Some(user))
    })
    .await?;
    if signed_in.is_none() {
        return login_page(&state, StatusCode::UNAUTHORIZED, Some("Unknown token."));
    }
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_LIFETIME.num_seconds(),
        secure_attribute(&state)
    );
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, header_value(&cookie)?);
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_static("spark_login=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// `POST /logout` (its CSRF token checked on the way in): ends the session, clears the cookie, 303 to `/login`.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
) -> Result<Response, ApiError> {
    if let Some(session) = signed.session {
        blocking(move || auth::end_session(&state.db.write(), session.expose_secret()).map_err(ApiError::internal))
            .await?;
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("spark_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

/// `POST /api/users {"name": ...}` (administrator only): 201 `{"id","name","token"}`, the token shown this once.
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&signed)?;
    let submitted: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("the body is not JSON: {error}")))?;
    let name = submitted["name"].as_str().unwrap_or_default().to_owned();
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'));
    if !valid {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`name` must be 1 to 64 of `A-Z`, `a-z`, `0-9`, `_`, `-` and `.`",
        ));
    }
    let user = User {
        id: format!("u-{}", hex::encode(random::<8>().map_err(ApiError::internal)?)),
        name,
        admin: false,
    };
    let token = auth::new_token().map_err(ApiError::internal)?;
    blocking(move || {
        let created =
            auth::create_user(&state.db.write(), &user, &token, state.clock.now()).map_err(ApiError::internal)?;
        if !created {
            return Err(ApiError::new(StatusCode::CONFLICT, "a user with this name exists"));
        }
        let body = json!({"id": user.id, "name": user.name, "token": token});
        Ok((StatusCode::CREATED, Json(body)).into_response())
    })
    .await
}

/// `GET /api/users` (administrator only): every user's id, name and role; never a token.
pub async fn list_users(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&signed)?;
    blocking(move || {
        let users = auth::list_users(&state.db.read()).map_err(ApiError::internal)?;
        let users: Vec<Value> = users
            .into_iter()
            .map(|user| json!({"id": user.id, "name": user.name, "admin": user.admin}))
            .collect();
        Ok(Json(Value::Array(users)))
    })
    .await
}

fn require_admin(signed: &Signed) -> Result<(), ApiError> {
    if signed.user.admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only the administrator manages users",
        ))
    }
}

/// `; Secure` when the host is reached over https.
pub fn secure_attribute(state: &AppState) -> &'static str {
    if state.config.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(ApiError::internal)
}
