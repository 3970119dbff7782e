//! `GET /`: one server-rendered HTML page, no JavaScript, every value HTML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Html;
use spark_integrations::model::Object;
use spark_integrations::plugin::{Connection, Descriptor};
use spark_integrations::store::{IntegrationStore, StoredEvent};

use crate::app::AppState;
use crate::routes::api::user_events;
use crate::routes::guard::Signed;
use crate::routes::{ApiError, blocking};

/// The number of events the page shows.
const EVENTS_SHOWN: usize = 50;

/// The page: plugins, integrations, and the latest events; an `?error=` from a failed OAuth callback on top.
pub async fn index(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, ApiError> {
    blocking(move || {
        let store = state.db.read();
        let mut integrations = Vec::new();
        for integration in store.list_integrations().map_err(ApiError::internal)? {
            if integration.user_id != signed.user.id {
                continue;
            }
            let poll = store.poll_state(&integration.id).map_err(ApiError::internal)?;
            integrations.push((integration, poll));
        }
        let events = user_events(&*store, &signed.user.id, None, EVENTS_SHOWN)?;
        drop(store);

        let mut page = String::with_capacity(16 * 1024);
        page.push_str(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>spark-integrations</title>\n<style>body{font-family:sans-serif;margin:2em}\
             table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
             .error{color:#a00}</style>\n</head>\n<body>\n<h1>spark-integrations</h1>\n",
        );
        let _ = writeln!(
            page,
            "<form method=\"post\" action=\"/logout\"><p>Signed in as {} \
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></p></form>",
            escape(&signed.user.name),
            escape(&signed.csrf().unwrap_or_default()),
        );
        if let Some(error) = query.get("error") {
            let _ = writeln!(page, "<p class=\"error\">Authorization failed: {}</p>", escape(error));
        }

        page.push_str("<h2>Plugins</h2>\n<table>\n<tr><th>Name</th><th>Description</th><th>Type</th><th></th></tr>\n");
        for plugin in &state.registry {
            let descriptor = Descriptor::of(plugin.as_ref());
            let kinds: Vec<&str> = descriptor.connections.iter().map(Connection::as_str).collect();
            let connect = if state.oauth.contains_key(descriptor.identifier) {
                format!(
                    "<a href=\"/integrations/{0}/oauth\">Connect</a>",
                    escape(descriptor.identifier)
                )
            } else {
                "no OAuth app configured".to_owned()
            };
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{connect}</td></tr>",
                escape(descriptor.display_name),
                escape(descriptor.description),
                escape(&kinds.join(", ")),
            );
        }
        page.push_str("</table>\n");

        page.push_str(
            "<h2>Integrations</h2>\n<table>\n<tr><th>Service</th><th>Account</th><th>Status</th>\
             <th>Webhook URL</th><th>Last poll error</th></tr>\n",
        );
        for (integration, poll) in &integrations {
            let status = match (&integration.access_token, &integration.configuration) {
                (None, _) => "not connected",
                (Some(_), None) => "connected, not configured",
                (Some(_), Some(_)) => "active",
            };
            let webhook_url = integration
                .webhook_url(&state.config.base_url)
                .map(String::from)
                .unwrap_or_default();
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{status}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape(&integration.display_name),
                escape(integration.account_id.as_deref().unwrap_or("")),
                escape(&webhook_url),
                escape(poll.last_error.as_deref().unwrap_or("")),
            );
        }
        if integrations.is_empty() {
            page.push_str("<tr><td colspan=\"5\">None yet: connect a plugin above.</td></tr>\n");
        }
        page.push_str("</table>\n");

        let _ = writeln!(
            page,
            "<h2>Latest events</h2>\n<table>\n<tr><th>Time</th><th>Actor</th><th>Action</th><th>Target</th></tr>"
        );
        for StoredEvent { event, .. } in &events {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&spark_integrations::model::format_time(&event.time)),
                object(&event.actor),
                escape(&format!("{} {}", event.domain, event.action)),
                object(&event.target),
            );
        }
        if events.is_empty() {
            page.push_str("<tr><td colspan=\"4\">No events yet.</td></tr>\n");
        }
        page.push_str("</table>\n</body>\n</html>\n");
        Ok(Html(page))
    })
    .await
}

/// An object's title (its key when it has none), linked to its URL when that is an http(s) URL.
fn object(object: &Object) -> String {
    let title = escape(object.title.as_deref().unwrap_or(&object.key));
    match object.url.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            format!("<a href=\"{}\">{title}</a>", escape(url))
        }
        _ => title,
    }
}

/// `text` with the five HTML-special characters escaped: safe in element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
