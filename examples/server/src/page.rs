//! `GET /`: one server-rendered HTML page, no JavaScript, every value HTML-escaped.
//!
//! The signed-in user's timeline: a chart of the last 30 days' events per day and service (inline SVG), filters
//! by integration, service and actor (query parameters `integration`, `service`, `actor`), then the events grouped
//! by day (UTC), newest first, each a sentence ("Ada reacted :thumbsup: to a message in #general"), paged with
//! `before` (the time of the last event shown) and `skip` (how many events at exactly that time were shown
//! already). Below: the plugins that can be connected and the user's integrations. Everything comes from the
//! registry and the stored events: no service is named here.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::Value;
use spark_integrations::Integration;
use spark_integrations::model::{Event, Object};
use spark_integrations::plugin::{Connection, Descriptor};
use spark_integrations::store::{ActivityStore, EventQuery, IntegrationStore, PollState, SkippedRow, StoredEvent};

use crate::app::AppState;
use crate::routes::api::{owned_integrations, report_skipped};
use crate::routes::guard::Signed;
use crate::routes::{ApiError, blocking};

/// The number of events a page shows.
pub const EVENTS_SHOWN: usize = 50;

/// The days the chart covers, today included.
pub const CHART_DAYS: i64 = 30;

/// The most events the chart counts per integration (older ones in the window are left out of it).
const CHART_MAX_EVENTS: usize = 10_000;

/// The colours of the chart's services, in the order of the registry.
const PALETTE: &[&str] = &[
    "#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem 1.5rem;max-width:64rem;color:#222;line-height:1.4}\
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}\
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem}\
header form p{margin:0}\
.error{color:#a00}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
.chart svg{width:100%;height:auto;display:block}\
.legend{list-style:none;padding:0;margin:.3rem 0;display:flex;flex-wrap:wrap;gap:.4rem 1rem;font-size:.9rem}\
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px;vertical-align:baseline}\
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:1rem 0;padding:.6rem;background:#f5f5f7;\
border-radius:6px}\
.filters label{display:flex;flex-direction:column;font-size:.85rem;gap:.15rem}\
.filters select{min-width:10rem;max-width:100%;font-size:1rem}\
.day{font-size:1rem;color:#555;border-bottom:1px solid #ddd;padding-bottom:.2rem}\
ol.events{list-style:none;padding:0;margin:0}\
.event{display:flex;gap:.75rem;padding:.5rem 0;border-bottom:1px solid #f0f0f0}\
.avatar{position:relative;flex:none;width:2.5rem;height:2.5rem;border-radius:50%;background:#c9d3e0;\
color:#334;font-weight:600;display:flex;align-items:center;justify-content:center;overflow:hidden}\
.avatar img{position:absolute;inset:0;width:100%;height:100%;object-fit:cover}\
.body{min-width:0;flex:1}.sentence{margin:0;overflow-wrap:anywhere}\
.meta{margin:.1rem 0 0;font-size:.8rem;color:#666}\
blockquote{margin:.3rem 0 0;padding:.1rem .6rem;border-left:3px solid #ddd;color:#444;overflow-wrap:anywhere}\
.pager{margin:1rem 0}\
@media (max-width:600px){body{padding:.6rem}.filters select{min-width:0;width:100%}.filters label{flex:1 1 100%}\
td,th{font-size:.85rem}}";

/// The page: the timeline with its chart and filters, the plugins and the integrations; an `?error=` from a failed
/// OAuth callback on top.
pub async fn index(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, ApiError> {
    blocking(move || {
        let now = state.clock.now();
        let store = state.db.read();
        let mut integrations = Vec::new();
        for integration in owned_integrations(&*store, &signed.user.id)? {
            let poll = store.poll_state(&integration.id).map_err(ApiError::internal)?;
            integrations.push((integration, poll));
        }
        let filters = Filters::from_query(&query);
        let timeline = Timeline::load(&*store, &integrations, &filters, now)?;
        drop(store);
        Ok(Html(render(
            &state,
            &signed,
            &query,
            &integrations,
            &filters,
            &timeline,
            now,
        )))
    })
    .await
}

/// What the query parameters ask for.
#[derive(Debug, Default)]
struct Filters {
    integration: Option<String>,
    service: Option<String>,
    actor: Option<String>,
    before: Option<DateTime<Utc>>,
    skip: usize,
}

impl Filters {
    fn from_query(query: &HashMap<String, String>) -> Self {
        let given = |name: &str| query.get(name).filter(|value| !value.is_empty()).cloned();
        Self {
            integration: given("integration"),
            service: given("service"),
            actor: given("actor"),
            before: given("before")
                .and_then(|before| DateTime::parse_from_rfc3339(&before).ok())
                .map(|before| before.with_timezone(&Utc)),
            skip: given("skip")
                .and_then(|skip| skip.parse().ok())
                .unwrap_or(0)
                .min(10_000),
        }
    }

    /// The filters as query parameters, with `extra` after them.
    fn href(&self, extra: &[(&str, String)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("integration", &self.integration),
            ("service", &self.service),
            ("actor", &self.actor),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        let query = query.finish();
        if query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{query}")
        }
    }

    fn query(&self, limit: usize) -> EventQuery {
        let mut query = EventQuery::latest(limit);
        if let Some(service) = &self.service {
            query = query.for_service(service.clone());
        }
        if let Some(actor) = &self.actor {
            query = query.for_actor(actor.clone());
        }
        query
    }
}

/// The events of a page, the chart's counts, and what the filters can offer.
#[derive(Debug, Default)]
struct Timeline {
    events: Vec<StoredEvent>,
    /// Where the next page starts: the time of the last event shown, and how many shown events have that time.
    next: Option<(DateTime<Utc>, usize)>,
    /// Events per (day, service) over the chart's days.
    counts: BTreeMap<(NaiveDate, String), usize>,
    /// Actors of the chart's events, most active first: key and name.
    actors: Vec<(String, String)>,
    /// Object titles by (workspace or account, provider id), to name the place of an event ("in #general").
    places: HashMap<(String, String), String>,
    /// Stored rows of the page that could not be read back.
    skipped: Vec<SkippedRow>,
}

impl Timeline {
    fn load<S: ActivityStore>(
        store: &S,
        integrations: &[(Integration, PollState)],
        filters: &Filters,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError>
    where
        S::Error: std::fmt::Display,
    {
        let ids: Vec<&str> = integrations
            .iter()
            .map(|(integration, _)| integration.id.as_str())
            .filter(|id| filters.integration.as_deref().is_none_or(|wanted| wanted == *id))
            .collect();
        let mut timeline = Self::default();

        // The page: the newest events up to `before`, past the `skip` already shown at that very time.
        let mut events = Vec::new();
        for id in &ids {
            let mut query = filters.query(filters.skip + EVENTS_SHOWN + 1).for_integration(*id);
            if let Some(before) = filters.before {
                query = query.until(before);
            }
            let listing = store.recent_events(&query).map_err(ApiError::internal)?;
            events.extend(listing.events);
            timeline.skipped.extend(listing.skipped);
        }
        report_skipped(&timeline.skipped);
        // Newest first; the sort is stable, so each integration's own order (by insertion) holds for equal times.
        events.sort_by(|a, b| {
            b.event
                .time
                .cmp(&a.event.time)
                .then_with(|| a.integration_id.cmp(&b.integration_id))
        });
        if let Some(before) = filters.before {
            let at_before = events.iter().take_while(|stored| stored.event.time == before).count();
            events.drain(..filters.skip.min(at_before));
        }
        let more = events.len() > EVENTS_SHOWN;
        events.truncate(EVENTS_SHOWN);
        if more && let Some(last) = events.last() {
            let time = last.event.time;
            let mut shown = events.iter().filter(|stored| stored.event.time == time).count();
            if filters.before == Some(time) {
                shown += filters.skip;
            }
            timeline.next = Some((time, shown));
        }

        // The chart: every event of the last days, counted per day and service.
        let first_day = now.date_naive() - Duration::days(CHART_DAYS - 1);
        let since = first_day.and_hms_opt(0, 0, 0).map_or(now, |start| start.and_utc());
        let mut actors: HashMap<String, (usize, String)> = HashMap::new();
        for id in &ids {
            let query = filters.query(CHART_MAX_EVENTS).for_integration(*id).since(since);
            // Rows the chart cannot read were reported with the page's own, or are older than it shows.
            for stored in store.recent_events(&query).map_err(ApiError::internal)?.events {
                let event = &stored.event;
                *timeline
                    .counts
                    .entry((event.time.date_naive(), event.service.to_string()))
                    .or_default() += 1;
                let actor = actors
                    .entry(event.actor.key.clone())
                    .or_insert_with(|| (0, name(&event.actor).to_owned()));
                actor.0 += 1;
                timeline.remember_places(event);
            }
        }
        for stored in &events {
            timeline.remember_places(&stored.event);
        }
        let mut actors: Vec<_> = actors.into_iter().collect();
        actors.sort_by(|(a_key, (a_count, a_name)), (b_key, (b_count, b_name))| {
            b_count.cmp(a_count).then(a_name.cmp(b_name)).then(a_key.cmp(b_key))
        });
        timeline.actors = actors
            .into_iter()
            .take(100)
            .map(|(key, (_, name))| (key, name))
            .collect();
        timeline.events = events;
        Ok(timeline)
    }

    /// Remembers the titles of an event's channel-like objects by (`team`, `id`) from their metadata, so that a
    /// message naming its `channel` can say where it was.
    fn remember_places(&mut self, event: &Event) {
        for object in [&event.actor, &event.target] {
            if object.concept != "channel" {
                continue;
            }
            if let (Some(title), Some(team), Some(id)) = (
                &object.title,
                text(&object.metadata, "team"),
                text(&object.metadata, "id"),
            ) {
                self.places.insert((team.to_owned(), id.to_owned()), title.clone());
            }
        }
    }

    /// Where a message-like target was posted: its channel's name when known.
    fn place_of(&self, target: &Object) -> Option<String> {
        let team = text(&target.metadata, "team")?;
        let channel = text(&target.metadata, "channel")?;
        Some(
            self.places
                .get(&(team.to_owned(), channel.to_owned()))
                .map_or_else(|| "a channel".to_owned(), |title| escape(title)),
        )
    }
}

fn text<'a>(metadata: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    metadata.get(name).and_then(Value::as_str)
}

fn render(
    state: &AppState,
    signed: &Signed,
    query: &HashMap<String, String>,
    integrations: &[(Integration, PollState)],
    filters: &Filters,
    timeline: &Timeline,
    now: DateTime<Utc>,
) -> String {
    let mut page = String::with_capacity(32 * 1024);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>spark-integrations</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>spark-integrations</h1>\n"
    );
    let _ = writeln!(
        page,
        "<form method=\"post\" action=\"/logout\"><p>Signed in as {} \
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></p></form>\n</header>",
        escape(&signed.user.name),
        escape(&signed.csrf().unwrap_or_default()),
    );
    if let Some(error) = query.get("error") {
        let _ = writeln!(page, "<p class=\"error\">Authorization failed: {}</p>", escape(error));
    }

    chart(&mut page, state, timeline, now);
    filter_form(&mut page, state, integrations, filters, timeline);
    events(&mut page, state, integrations, filters, timeline);
    plugins(&mut page, state);
    integration_table(&mut page, state, integrations);
    page.push_str("</body>\n</html>\n");
    page
}

/// The display name of a service, from the registry; its identifier when it is not registered.
fn service_name<'a>(state: &'a AppState, service: &'a str) -> &'a str {
    state
        .registry
        .get(service)
        .map_or(service, |plugin| plugin.display_name())
}

/// The services to chart and offer, in registry order, then any other found in the events.
fn services(state: &AppState, timeline: &Timeline) -> Vec<String> {
    let mut services: Vec<String> = state
        .registry
        .iter()
        .map(|plugin| plugin.identifier().to_owned())
        .collect();
    for (_, service) in timeline.counts.keys() {
        if !services.contains(service) {
            services.push(service.clone());
        }
    }
    services
}

/// The last [`CHART_DAYS`] days as stacked bars, one colour per service, each bar with a `<title>`.
fn chart(page: &mut String, state: &AppState, timeline: &Timeline, now: DateTime<Utc>) {
    const WIDTH: i64 = 600;
    const HEIGHT: i64 = 120;
    const SLOT: i64 = WIDTH / CHART_DAYS;
    let services = services(state, timeline);
    let colour = |service: &str| {
        let index = services.iter().position(|known| known == service).unwrap_or(0);
        PALETTE[index % PALETTE.len()]
    };
    let today = now.date_naive();
    let days: Vec<NaiveDate> = (0..CHART_DAYS).rev().map(|back| today - Duration::days(back)).collect();
    let per_day = |day: NaiveDate| -> usize {
        timeline
            .counts
            .range((day, String::new())..)
            .take_while(|((counted, _), _)| *counted == day)
            .map(|(_, count)| count)
            .sum()
    };
    let max = days.iter().map(|day| per_day(*day)).max().unwrap_or(0).max(1);
    let total: usize = timeline.counts.values().sum();
    let _ = writeln!(
        page,
        "<section class=\"chart\">\n<h2>Activity, last {CHART_DAYS} days</h2>\n\
         <svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{total} events in the last {CHART_DAYS} days, per day and service\">",
        HEIGHT + 20
    );
    let _ = writeln!(
        page,
        "<line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\" stroke=\"#999\" stroke-width=\"1\"/>"
    );
    for (slot, day) in (0_i64..).zip(&days) {
        let x = slot * SLOT + 2;
        let mut top = HEIGHT;
        for service in &services {
            let Some(&count) = timeline.counts.get(&(*day, service.clone())) else {
                continue;
            };
            let height = i64::try_from(count * usize::try_from(HEIGHT - 4).unwrap_or(0) / max)
                .unwrap_or(HEIGHT)
                .max(2);
            top -= height;
            let _ = writeln!(
                page,
                "<rect class=\"bar\" data-day=\"{day}\" data-service=\"{service_attr}\" data-count=\"{count}\" \
                 x=\"{x}\" y=\"{top}\" width=\"{}\" height=\"{height}\" fill=\"{}\"><title>{day}: {count} {} \
                 event{}</title></rect>",
                SLOT - 4,
                colour(service),
                escape(service_name(state, service)),
                if count == 1 { "" } else { "s" },
                service_attr = escape(service),
            );
        }
    }
    for (slot, anchor) in [(0, "start"), (CHART_DAYS / 2, "middle"), (CHART_DAYS - 1, "end")] {
        let Some(day) = days.get(usize::try_from(slot).unwrap_or(0)) else {
            continue;
        };
        let x = match anchor {
            "start" => 0,
            "end" => WIDTH,
            _ => slot * SLOT + SLOT / 2,
        };
        let _ = writeln!(
            page,
            "<text x=\"{x}\" y=\"{}\" font-size=\"14\" fill=\"#555\" text-anchor=\"{anchor}\">{}</text>",
            HEIGHT + 15,
            day.format("%-d %b")
        );
    }
    page.push_str("</svg>\n<ul class=\"legend\">\n");
    for service in &services {
        let count: usize = timeline
            .counts
            .iter()
            .filter(|((_, counted), _)| counted == service)
            .map(|(_, count)| count)
            .sum();
        let _ = writeln!(
            page,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{} ({count})</li>",
            colour(service),
            escape(service_name(state, service)),
        );
    }
    page.push_str("</ul>\n</section>\n");
}

/// The filters: a plain GET form, no script.
fn filter_form(
    page: &mut String,
    state: &AppState,
    integrations: &[(Integration, PollState)],
    filters: &Filters,
    timeline: &Timeline,
) {
    let select = |page: &mut String, name: &str, label: &str, options: &[(String, String)], chosen: Option<&str>| {
        let _ = write!(
            page,
            "<label>{label}<select name=\"{name}\"><option value=\"\">All</option>"
        );
        for (value, text) in options {
            let selected = if chosen == Some(value.as_str()) {
                " selected"
            } else {
                ""
            };
            let _ = write!(
                page,
                "<option value=\"{}\"{selected}>{}</option>",
                escape(value),
                escape(text)
            );
        }
        page.push_str("</select></label>\n");
    };
    page.push_str("<form class=\"filters\" method=\"get\" action=\"/\">\n");
    let integration_options: Vec<(String, String)> = integrations
        .iter()
        .map(|(integration, _)| {
            let account = account(integration).map_or_else(String::new, |account| format!(" ({account})"));
            (integration.id.clone(), format!("{}{account}", integration.display_name))
        })
        .collect();
    select(
        page,
        "integration",
        "Integration",
        &integration_options,
        filters.integration.as_deref(),
    );
    let service_options: Vec<(String, String)> = services(state, timeline)
        .into_iter()
        .map(|service| {
            let name = service_name(state, &service).to_owned();
            (service, name)
        })
        .collect();
    select(page, "service", "Service", &service_options, filters.service.as_deref());
    let mut actor_options = timeline.actors.clone();
    if let Some(actor) = &filters.actor
        && !actor_options.iter().any(|(key, _)| key == actor)
    {
        actor_options.push((actor.clone(), actor.clone()));
    }
    select(page, "actor", "Actor", &actor_options, filters.actor.as_deref());
    page.push_str("<button type=\"submit\">Filter</button> <a href=\"/\">Clear</a>\n</form>\n");
}

/// The events, grouped by day, and the link to older ones.
fn events(
    page: &mut String,
    state: &AppState,
    integrations: &[(Integration, PollState)],
    filters: &Filters,
    timeline: &Timeline,
) {
    page.push_str("<section class=\"timeline\">\n<h2>Events</h2>\n");
    if !timeline.skipped.is_empty() {
        let _ = writeln!(
            page,
            "<p class=\"notice\" role=\"status\">{} stored event(s) could not be read and are not shown; the \
             server log names them.</p>",
            timeline.skipped.len()
        );
    }
    if timeline.events.is_empty() {
        page.push_str("<p class=\"empty\">No events yet.</p>\n");
    }
    let mut day = None;
    for stored in &timeline.events {
        let event = &stored.event;
        let this_day = event.time.date_naive();
        if day != Some(this_day) {
            if day.is_some() {
                page.push_str("</ol>\n");
            }
            let _ = writeln!(
                page,
                "<h3 class=\"day\"><time datetime=\"{this_day}\">{}</time></h3>\n<ol class=\"events\">",
                this_day.format("%A %-d %B %Y")
            );
            day = Some(this_day);
        }
        // The account the event came through, when the integration knows it.
        let account = integrations
            .iter()
            .find(|(integration, _)| integration.id == stored.integration_id)
            .and_then(|(integration, _)| account(integration))
            .map_or_else(String::new, |account| format!(" · {}", escape(&account)));
        let _ = write!(
            page,
            "<li class=\"event\" data-service=\"{}\">{}<div class=\"body\"><p class=\"sentence\">{} {}</p>\
             <p class=\"meta\"><time datetime=\"{}\">{} UTC</time> · {}{account}</p>",
            escape(&event.service),
            avatar(&event.actor),
            actor_link(filters, &event.actor),
            sentence(event, timeline),
            escape(&event.time.to_rfc3339_opts(SecondsFormat::Micros, true)),
            event.time.format("%H:%M"),
            escape(service_name(state, &event.service)),
        );
        if let Some(content) = event
            .target
            .content
            .as_deref()
            .filter(|content| !content.trim().is_empty())
            && matches!(event.target.concept.as_str(), "message" | "comment")
        {
            let _ = write!(page, "<blockquote>{}</blockquote>", escape(&shorten(content, 280)));
        }
        page.push_str("</div></li>\n");
    }
    if day.is_some() {
        page.push_str("</ol>\n");
    }
    if let Some((before, skip)) = timeline.next {
        let href = filters.href(&[
            ("before", before.to_rfc3339_opts(SecondsFormat::Nanos, true)),
            ("skip", skip.to_string()),
        ]);
        let _ = writeln!(
            page,
            "<p class=\"pager\"><a rel=\"next\" href=\"{}\">Older events</a></p>",
            escape(&href)
        );
    }
    if filters.before.is_some() {
        let _ = writeln!(
            page,
            "<p class=\"pager\"><a href=\"{}\">Newest events</a></p>",
            escape(&filters.href(&[]))
        );
    }
    page.push_str("</section>\n");
}

fn plugins(page: &mut String, state: &AppState) {
    page.push_str(
        "<h2>Plugins</h2>\n<div class=\"scroll\"><table>\n\
         <tr><th>Name</th><th>Description</th><th>Type</th><th></th></tr>\n",
    );
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
    page.push_str("</table></div>\n");
}

fn integration_table(page: &mut String, state: &AppState, integrations: &[(Integration, PollState)]) {
    page.push_str(
        "<h2>Integrations</h2>\n<div class=\"scroll\"><table>\n<tr><th>Service</th><th>Account</th><th>Status</th>\
         <th>Webhook URL</th><th>Last poll error</th></tr>\n",
    );
    for (integration, poll) in integrations {
        let status = match (&integration.tokens, &integration.configuration) {
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
            escape(&account(integration).unwrap_or_default()),
            escape(&webhook_url),
            escape(poll.last_error.as_deref().unwrap_or("")),
        );
    }
    if integrations.is_empty() {
        page.push_str("<tr><td colspan=\"5\">None yet: connect a plugin above.</td></tr>\n");
    }
    page.push_str("</table></div>\n");
}

/// An object's name: its title, else its key.
fn name(object: &Object) -> &str {
    object.title.as_deref().unwrap_or(&object.key)
}

/// The actor's picture over its initial: when the picture cannot be shown, the initial shows through.
fn avatar(actor: &Object) -> String {
    let initial: String = name(actor)
        .trim_start_matches(['#', '@'])
        .chars()
        .next()
        .map(|first| first.to_uppercase().collect())
        .unwrap_or_default();
    let image = actor
        .image_url
        .as_deref()
        .filter(|url| url.starts_with("https://") || url.starts_with("data:image/"))
        .map_or_else(String::new, |url| {
            format!("<img src=\"{}\" alt=\"\" loading=\"lazy\">", escape(url))
        });
    format!(
        "<span class=\"avatar\" aria-hidden=\"true\">{}{image}</span>",
        escape(&initial)
    )
}

/// The actor's name, linking to the timeline filtered to that actor.
fn actor_link(filters: &Filters, actor: &Object) -> String {
    let filtered = Filters {
        integration: filters.integration.clone(),
        service: filters.service.clone(),
        actor: Some(actor.key.clone()),
        ..Filters::default()
    };
    format!(
        "<a class=\"actor\" href=\"{}\">{}</a>",
        escape(&filtered.href(&[])),
        escape(name(actor))
    )
}

/// An object's name, linked to its page when it has an http(s) URL.
fn object(object: &Object) -> String {
    let title = escape(name(object));
    match object.url.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            format!("<a class=\"target\" href=\"{}\">{title}</a>", escape(url))
        }
        _ => format!("<span class=\"target\">{title}</span>"),
    }
}

/// `value` in `unit`, in words: "3 commits", "1 commit", "2,048 bytes".
fn amount(event: &Event) -> Option<String> {
    let value = event.value?;
    let unit = event.value_unit.as_deref()?.replace('_', " ");
    let (shown, one) = if event.value_multiplier > 1 {
        #[allow(clippy::cast_precision_loss, reason = "shown to a person, not computed with")]
        let shown = value as f64 / event.value_multiplier as f64;
        (shown.to_string(), false)
    } else {
        (group_digits(value), value == 1)
    };
    let unit = match unit.strip_suffix('s') {
        Some(singular) if one => singular.to_owned(),
        _ if one || unit.ends_with('s') => unit,
        _ => format!("{unit}s"),
    };
    Some(format!("{shown} {unit}"))
}

fn group_digits(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 { format!("-{grouped}") } else { grouped }
}

/// The action as the rest of a sentence whose subject is the actor, HTML-escaped: "pushed 3 commits to
/// octo/hello", "reacted :thumbsup: to a message in #general". Built from the model's domains and actions, the
/// same for every service; an unknown pair reads "{action} {domain} {target}".
fn sentence(event: &Event, timeline: &Timeline) -> String {
    let target = object(&event.target);
    let action = escape(&event.action.replace('_', " "));
    let amount = amount(event).map(|amount| escape(&amount));
    let repository = text(&event.event_metadata, "repository_name").map(escape);
    let in_repository = repository.map_or_else(String::new, |name| format!(" in {name}"));
    let place = || {
        timeline
            .place_of(&event.target)
            .unwrap_or_else(|| "a channel".to_owned())
    };
    let unit = event.value_unit.as_deref().map(|unit| escape(&unit.replace('_', " ")));
    match (event.domain.as_str(), event.action.as_str()) {
        ("repository", "push") => match amount {
            Some(amount) => format!("pushed {amount} to {target}"),
            None => format!("pushed to {target}"),
        },
        ("repository", "created" | "deleted") => match unit {
            Some(unit) if unit != "repository" => format!("{action} {unit} {target}{in_repository}"),
            _ => format!("{action} {target}"),
        },
        ("repository", "publicized") => format!("made {target} public"),
        ("repository", _) => format!("{action} {target}"),
        ("pull_request" | "issue" | "release", _) => {
            format!(
                "{action} {} {target}{in_repository}",
                escape(&event.domain.replace('_', " "))
            )
        }
        ("pull_request_review", "submitted") => format!("reviewed {target}{in_repository}"),
        (domain, "created") if domain.ends_with("comment") => format!("commented on {target}{in_repository}"),
        (domain, _) if domain.ends_with("comment") => format!("{action} a comment on {target}{in_repository}"),
        ("wiki", _) => match amount {
            Some(amount) => format!("{action} {amount} of the wiki: {target}{in_repository}"),
            None => format!("{action} the wiki page {target}{in_repository}"),
        },
        ("member", _) => format!("{action} {target} as a member{in_repository}"),
        ("message", "sent") => format!("sent a message in {}", place()),
        ("message", "mentioned") => format!("mentioned the app in {}", place()),
        ("message", _) => format!("{action} a message in {}", place()),
        ("reaction", verb) => {
            let reaction = text(&event.event_metadata, "reaction")
                .map_or_else(String::new, |reaction| format!(" :{}:", escape(reaction)));
            let item = if event.target.concept == "message" {
                format!("a message in {}", place())
            } else {
                target
            };
            if verb == "removed" {
                format!("removed the reaction{reaction} from {item}")
            } else {
                format!("reacted{reaction} to {item}")
            }
        }
        ("channel", "joined") => format!("joined {target}"),
        ("channel", "left") => format!("left {target}"),
        ("channel", "topic_changed") => format!("changed the topic of {target}"),
        ("channel", "purpose_changed") => format!("changed the purpose of {target}"),
        ("channel", "renamed") => format!("renamed {target}"),
        ("file", "shared") => match amount.filter(|_| event.value_unit.as_deref() == Some("bytes")) {
            Some(size) => format!("shared the file {target} ({size})"),
            None => format!("shared the file {target}"),
        },
        (domain, _) => {
            let amount = amount.map_or_else(String::new, |amount| format!(" ({amount})"));
            format!(
                "{action} {} {target}{in_repository}{amount}",
                escape(&domain.replace('_', " "))
            )
        }
    }
}

/// `text` cut to at most `limit` characters, with an ellipsis when cut.
fn shorten(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
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

/// The account an integration connected, with its workspace where the service has one: `octocat`,
/// `U061F7AUR in T123ABC456` (Slack's user in its team).
fn account(integration: &Integration) -> Option<String> {
    let account = integration.account_id.as_deref()?;
    let team = integration.tokens.as_ref().and_then(|tokens| tokens.ids.get("team_id"));
    Some(match team {
        Some(team) => format!("{account} in {team}"),
        None => account.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    fn event(domain: &'static str, action: &'static str, target: Object) -> Event {
        let mut actor = Object::new("x:user:1", "user", "x_user");
        actor.title = Some("Ada".into());
        let time = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
        Event::builder()
            .source_id("1")
            .time(time)
            .service("x")
            .domain(domain)
            .action(action)
            .actor(actor)
            .target(target)
            .build()
            .expect("a complete event")
    }

    #[test]
    fn sentences_say_the_value_and_unit_and_escape_everything() {
        let mut repository = Object::new("x:repository:1", "repository", "x_repository");
        repository.title = Some("octo/<hello>".into());
        repository.url = Some("https://example.com/octo/hello".into());
        let mut push = event("repository", "push", repository);
        push.value = Some(3);
        push.value_unit = Some("commits".into());
        let timeline = Timeline::default();
        assert_eq!(
            sentence(&push, &timeline),
            "pushed 3 commits to <a class=\"target\" href=\"https://example.com/octo/hello\">octo/&lt;hello&gt;</a>"
        );
        push.value = Some(1);
        assert!(sentence(&push, &timeline).starts_with("pushed 1 commit to"));

        let mut channel = Object::new("x:T1:channel:C1", "channel", "x_channel");
        channel.title = Some("#general".into());
        channel.metadata.insert("team".into(), "T1".into());
        channel.metadata.insert("id".into(), "C1".into());
        let mut timeline = Timeline::default();
        timeline.remember_places(&event("channel", "joined", channel));
        let mut message = Object::new("x:T1:message:C1:1", "message", "x_message");
        message.metadata.insert("team".into(), "T1".into());
        message.metadata.insert("channel".into(), "C1".into());
        let mut reaction = event("reaction", "added", message);
        reaction.event_metadata.insert("reaction".into(), "thumbsup".into());
        assert_eq!(
            sentence(&reaction, &timeline),
            "reacted :thumbsup: to a message in #general"
        );
        assert_eq!(
            sentence(&reaction, &Timeline::default()),
            "reacted :thumbsup: to a message in a channel"
        );
        let mut file = Object::new("x:file:1", "file", "x_file");
        file.title = Some("report.pdf".into());
        let mut shared = event("file", "shared", file);
        shared.value = Some(2048);
        shared.value_unit = Some("bytes".into());
        assert_eq!(
            sentence(&shared, &timeline),
            "shared the file <span class=\"target\">report.pdf</span> (2,048 bytes)"
        );
    }

    #[test]
    fn avatars_show_only_https_or_inline_images() {
        let mut actor = Object::new("x:user:1", "user", "x_user");
        actor.title = Some("ada".into());
        actor.image_url = Some("javascript:alert(1)".into());
        assert_eq!(avatar(&actor), "<span class=\"avatar\" aria-hidden=\"true\">A</span>");
        actor.image_url = Some("https://example.com/a.png?x=\"1\"".into());
        assert!(avatar(&actor).contains("src=\"https://example.com/a.png?x=&quot;1&quot;\""));
    }
}
