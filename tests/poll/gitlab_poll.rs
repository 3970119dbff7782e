//! The GitLab Events API poller against a scripted stand-in for GitLab: one request per project, pagination by
//! `Link` and `X-Next-Page`, the last seen id, gaps, rate limits, per-project errors, the kinds filter.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use spark_integrations::poll::{
    GapCause, PollContext, PollCursor, PollError, PollOutcome, PollRound, RateLimitKind, ResourceCursor, Step,
};
use spark_integrations::providers::gitlab::{GitlabPlugin, GitlabPoller, Instance};
use spark_integrations::{AccessToken, Configuration, Conversion, Plugin};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap()
}

/// An Events API item: an issue opened by user 1 in project 15.
fn item(id: u64) -> Value {
    json!({
        "id": id, "project_id": 15, "action_name": "opened", "target_type": "Issue", "target_id": 1000 + id,
        "author_id": 1, "author": {"id": 1, "username": "root"}, "created_at": "2025-01-01T12:00:00Z",
    })
}

/// A push item.
fn push(id: u64) -> Value {
    json!({
        "id": id, "project_id": 15, "action_name": "pushed to", "author_id": 1, "created_at": "2025-01-01T12:00:00Z",
        "push_data": {"commit_count": 2, "action": "pushed", "ref_type": "branch", "ref": "main"},
    })
}

/// Response headers to send: name and value.
type Headers = Vec<(&'static str, String)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Paging {
    Link,
    NextPage,
}

/// The stand-in: each project's feed (newest first), served `per_page` at a time.
struct Fake {
    feeds: BTreeMap<&'static str, Vec<Value>>,
    /// Status answered for a project instead of its feed.
    statuses: BTreeMap<&'static str, (u16, Headers)>,
    per_page: usize,
    paging: Paging,
    /// Extra headers on every 200.
    headers: Headers,
    requests: Vec<String>,
}

impl Fake {
    fn new(paging: Paging) -> Self {
        Self {
            feeds: BTreeMap::new(),
            statuses: BTreeMap::new(),
            per_page: 3,
            paging,
            headers: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn answer(&mut self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let url = url::Url::parse(&request.uri().to_string()).unwrap();
        self.requests.push(url.to_string());
        assert_eq!(request.headers()["authorization"], "Bearer glpat-test");
        assert_eq!(url.query_pairs().find(|(k, _)| k == "per_page").unwrap().1, "100");
        let encoded = url
            .path()
            .strip_prefix("/api/v4/projects/")
            .and_then(|rest| rest.strip_suffix("/events"))
            .expect("an events URL");
        let project = encoded.replace("%2F", "/");
        if let Some((status, headers)) = self.statuses.get(project.as_str()) {
            let mut response = http::Response::builder().status(*status);
            for (name, value) in headers {
                response = response.header(*name, value);
            }
            return response.body(br#"{"message":"403 Forbidden"}"#.to_vec()).unwrap();
        }
        let feed = self.feeds.get(project.as_str()).cloned().unwrap_or_default();
        let page: usize = url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .map_or(1, |(_, v)| v.parse().unwrap());
        let start = (page - 1) * self.per_page;
        let items: Vec<Value> = feed.iter().skip(start).take(self.per_page).cloned().collect();
        let more = start + self.per_page < feed.len();
        let mut response = http::Response::builder().status(200);
        match (self.paging, more) {
            (Paging::Link, true) => {
                let mut next = url.clone();
                next.query_pairs_mut()
                    .clear()
                    .append_pair("per_page", "100")
                    .append_pair("page", &(page + 1).to_string());
                response = response.header("link", format!("<{next}>; rel=\"next\""));
            }
            (Paging::NextPage, true) => response = response.header("x-next-page", (page + 1).to_string()),
            (Paging::NextPage, false) => response = response.header("x-next-page", ""),
            (Paging::Link, false) => {}
        }
        for (name, value) in &self.headers {
            response = response.header(*name, value);
        }
        response.body(serde_json::to_vec(&items).unwrap()).unwrap()
    }
}

fn poller(projects: &[&str]) -> GitlabPoller {
    GitlabPoller::new(Instance::gitlab_com(), projects.iter().copied(), Vec::<String>::new())
        .with_token(AccessToken::new("glpat-test"))
}

fn run(round: &mut dyn PollRound, fake: &mut Fake) {
    while let Step::Send(request) = round.step() {
        let response = fake.answer(&request);
        round.handle_response(response, now());
    }
}

fn poll(poller: &GitlabPoller, cursor: PollCursor, fake: &mut Fake) -> PollOutcome {
    let mut round: Box<dyn PollRound> = Box::new(poller.start(cursor, now()));
    run(round.as_mut(), fake);
    round.finish()
}

fn ids(outcome: &PollOutcome) -> Vec<&str> {
    outcome.items.iter().map(|item| item.id.as_str()).collect()
}

fn cursor_at(project: &str, id: &str) -> PollCursor {
    let mut cursor = PollCursor::default();
    cursor
        .resources
        .insert(project.into(), ResourceCursor::new().with_last_seen_id(id));
    cursor
}

#[test]
fn pages_by_link_or_x_next_page_until_the_last_seen_id() {
    for paging in [Paging::Link, Paging::NextPage] {
        let mut fake = Fake::new(paging);
        fake.feeds
            .insert("group/sub/project", (1..=8).rev().map(item).collect());
        let poller = poller(&["group/sub/project"]);

        let first = poll(&poller, PollCursor::default(), &mut fake);
        assert_eq!(ids(&first), ["8", "7", "6", "5", "4", "3", "2", "1"]);
        assert_eq!(first.stats.requests, 3);
        assert!(first.gaps.is_empty(), "no last seen id: nothing to miss");
        assert_eq!(
            fake.requests[0],
            "https://gitlab.com/api/v4/projects/group%2Fsub%2Fproject/events?per_page=100"
        );
        let cursor = first.cursor.clone();
        assert_eq!(cursor.resources["group/sub/project"].last_seen_id.as_deref(), Some("8"));

        // Four new events: the first page and one item of the second, then the last seen one stops the paging.
        fake.feeds
            .insert("group/sub/project", (1..=12).rev().map(item).collect());
        let second = poll(&poller, cursor, &mut fake);
        assert_eq!(ids(&second), ["12", "11", "10", "9"]);
        assert_eq!(second.stats.requests, 2);
        assert_eq!(
            second.cursor.resources["group/sub/project"].last_seen_id.as_deref(),
            Some("12")
        );
        assert_eq!(
            second.next_poll_at,
            now() + TimeDelta::seconds(60),
            "GitLab said nothing: the default"
        );
        for item in &second.items {
            assert!(matches!(item.conversion, Ok(Conversion::Converted(_))));
            assert_eq!(
                (item.resource.as_str(), item.kind.as_str()),
                ("group/sub/project", "opened")
            );
        }
    }
}

#[test]
fn a_deleted_last_seen_event_still_stops_the_paging() {
    let mut fake = Fake::new(Paging::NextPage);
    // Event 5 was seen, then deleted: ids are at most 5 below it, so the round stops at 4.
    fake.feeds
        .insert("a/b", [9, 8, 7, 6, 4, 3, 2, 1].into_iter().map(item).collect());
    let outcome = poll(&poller(&["a/b"]), cursor_at("a/b", "5"), &mut fake);
    assert_eq!(ids(&outcome), ["9", "8", "7", "6"]);
    assert!(outcome.gaps.is_empty());
}

#[test]
fn a_gap_is_reported_when_the_pages_end_or_the_cap_stops_before_the_last_seen_id() {
    let mut fake = Fake::new(Paging::Link);
    fake.feeds.insert("a/b", (20..=26).rev().map(item).collect());
    let outcome = poll(&poller(&["a/b"]), cursor_at("a/b", "10"), &mut fake);
    assert_eq!(outcome.gaps.len(), 1);
    assert_eq!(outcome.gaps[0].cause, GapCause::NoMorePages);
    assert_eq!(outcome.gaps[0].last_seen_id, "10");
    assert_eq!(outcome.gaps[0].oldest_fetched_id.as_deref(), Some("20"));
    assert_eq!(outcome.cursor.resources["a/b"].last_seen_id.as_deref(), Some("26"));

    let capped = poll(&poller(&["a/b"]).with_max_pages(2), cursor_at("a/b", "10"), &mut fake);
    assert_eq!(ids(&capped), ["26", "25", "24", "23", "22", "21"]);
    assert_eq!(capped.gaps[0].cause, GapCause::PageCap);
}

#[test]
fn a_missing_or_forbidden_project_does_not_stop_the_others() {
    let mut fake = Fake::new(Paging::Link);
    fake.statuses.insert("gone/project", (404, Vec::new()));
    fake.statuses.insert("secret/project", (403, Vec::new()));
    fake.feeds.insert("open/project", vec![item(3)]);
    let cursor = cursor_at("gone/project", "77");
    let outcome = poll(
        &poller(&["gone/project", "secret/project", "open/project"]),
        cursor,
        &mut fake,
    );
    assert_eq!(ids(&outcome), ["3"]);
    let errors: Vec<(&str, &PollError)> = outcome
        .errors
        .iter()
        .map(|error| (error.resource.as_str(), &error.error))
        .collect();
    assert_eq!(
        errors,
        [
            ("gone/project", &PollError::NotFound),
            (
                "secret/project",
                &PollError::Forbidden {
                    message: Some("403 Forbidden".into())
                }
            ),
        ]
    );
    assert_eq!(
        outcome.cursor.resources["gone/project"].last_seen_id.as_deref(),
        Some("77"),
        "a failing project keeps its cursor"
    );
    assert_eq!(outcome.stats.requests, 3);
}

#[test]
fn a_429_ends_the_round_for_as_long_as_gitlab_says() {
    let mut fake = Fake::new(Paging::Link);
    fake.statuses.insert("a/one", (429, vec![("retry-after", "30".into())]));
    fake.feeds.insert("a/two", vec![item(1)]);
    let outcome = poll(&poller(&["a/one", "a/two"]), PollCursor::default(), &mut fake);
    let limit = outcome.rate_limit.expect("rate limited");
    assert_eq!(limit.kind, RateLimitKind::RetryAfter(30));
    assert_eq!(
        outcome.next_poll_at,
        now() + TimeDelta::seconds(30),
        "sooner than the default too"
    );
    assert_eq!(outcome.deferred, ["a/one", "a/two"]);
    assert!(outcome.items.is_empty());
    assert_eq!(fake.requests.len(), 1);

    let reset = now().timestamp() + 600;
    fake.statuses.insert(
        "a/one",
        (
            429,
            vec![
                ("ratelimit-reset", reset.to_string()),
                ("ratelimit-remaining", "0".into()),
            ],
        ),
    );
    let outcome = poll(&poller(&["a/one", "a/two"]), PollCursor::default(), &mut fake);
    assert_eq!(outcome.rate_limit.unwrap().kind, RateLimitKind::Primary);
    assert_eq!(outcome.next_poll_at, now() + TimeDelta::seconds(600));

    fake.statuses.insert("a/one", (429, Vec::new()));
    let outcome = poll(&poller(&["a/one"]), PollCursor::default(), &mut fake);
    assert_eq!(outcome.rate_limit.unwrap().kind, RateLimitKind::Backoff(60));
}

#[test]
fn an_exhausted_quota_ends_the_round_after_the_page() {
    let mut fake = Fake::new(Paging::NextPage);
    fake.feeds.insert("a/one", (1..=5).rev().map(item).collect());
    fake.feeds.insert("a/two", vec![item(1)]);
    let reset = now().timestamp() + 120;
    fake.headers = vec![
        ("ratelimit-remaining", "0".into()),
        ("ratelimit-reset", reset.to_string()),
    ];
    let outcome = poll(&poller(&["a/one", "a/two"]), PollCursor::default(), &mut fake);
    assert_eq!(ids(&outcome), ["5", "4", "3"], "the page read is kept");
    assert_eq!(outcome.deferred, ["a/one", "a/two"]);
    assert!(
        !outcome.cursor.resources.contains_key("a/one"),
        "an unfinished project keeps its stored cursor"
    );
    assert_eq!(outcome.next_poll_at, now() + TimeDelta::seconds(120));

    fake.headers = vec![("ratelimit-remaining", "1999".into())];
    let outcome = poll(&poller(&["a/one", "a/two"]), PollCursor::default(), &mut fake);
    assert!(outcome.rate_limit.is_none());
    assert_eq!(outcome.items.len(), 6);
}

#[test]
fn a_next_page_link_elsewhere_is_refused() {
    let mut fake = Fake::new(Paging::Link);
    fake.feeds.insert("a/b", vec![item(1)]);
    let mut round = poller(&["a/b"]).start(PollCursor::default(), now());
    let Step::Send(request) = round.step() else {
        panic!("a request");
    };
    let mut response = fake.answer(&request);
    response.headers_mut().insert(
        "link",
        "<https://evil.example/api/v4/x?page=2>; rel=\"next\"".parse().unwrap(),
    );
    round.handle_response(response, now());
    assert!(matches!(round.step(), Step::Done));
    let outcome = round.finish();
    assert!(matches!(outcome.errors[0].error, PollError::ForeignLink { .. }));
}

#[test]
fn the_plugin_polls_the_configured_projects_keeping_the_configured_kinds() {
    let plugin = GitlabPlugin::with_base_url("https://gitlab.example.com").unwrap();
    let configuration: Configuration = serde_json::from_value(
        plugin
            .configuration_schema()
            .validate(&json!({"projects": ["group/project"], "events": ["repository"]}))
            .unwrap()
            .into_value(),
    )
    .unwrap();
    let token = AccessToken::new("glpat-test");
    let context = PollContext::new("int_7", &configuration).with_access_token(&token);
    let mut round = plugin
        .poller()
        .unwrap()
        .start(&context, PollCursor::default(), now())
        .unwrap();
    let mut fake = Fake::new(Paging::Link);
    let milestone = json!({"id": 5, "project_id": 15, "action_name": "closed", "target_type": "Milestone",
        "target_id": 7, "author_id": 1});
    fake.feeds
        .insert("group/project", vec![milestone, item(4), push(3), item(2), push(1)]);
    fake.per_page = 10;
    let mut sent = Vec::new();
    while let Step::Send(request) = round.step() {
        sent.push(request.uri().to_string());
        let response = fake.answer(&request);
        round.handle_response(response, now());
    }
    let outcome = round.finish();
    assert_eq!(
        sent,
        ["https://gitlab.example.com/api/v4/projects/group%2Fproject/events?per_page=100"]
    );
    assert_eq!(
        ids(&outcome),
        ["3", "1"],
        "only pushes (`repository`) are kept: no issue, no skipped milestone"
    );
    assert_eq!(outcome.stats.filtered, 3);
    let Ok(Conversion::Converted(events)) = &outcome.items[0].conversion else {
        panic!("converted");
    };
    assert_eq!(events[0].actor.key, "gitlab:gitlab.example.com:user:1");
    assert_eq!(
        (events[0].value, events[0].value_unit.as_deref()),
        (Some(2), Some("commits"))
    );
    assert_eq!(
        outcome.cursor.resources["group/project"].last_seen_id.as_deref(),
        Some("5")
    );
}

#[test]
fn invalid_project_paths_are_errors_of_their_own() {
    let mut fake = Fake::new(Paging::Link);
    fake.feeds.insert("a/b", vec![item(1)]);
    let outcome = poll(&poller(&["../etc", "a/b"]), PollCursor::default(), &mut fake);
    assert!(matches!(outcome.errors[0].error, PollError::InvalidResource { .. }));
    assert_eq!(ids(&outcome), ["1"]);
}
