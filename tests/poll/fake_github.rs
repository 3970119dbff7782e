//! A scripted in-memory stand-in for GitHub's Events API, for the poller tests: it replays recorded events on a
//! simulated clock, serves pages with `ETag`, `Link` and `X-Poll-Interval` like GitHub, checks each request, and
//! can be told to answer the next request with anything (a rate limit, a broken header).

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;
use spark_integrations::AccessToken;
use spark_integrations::poll::{PollCursor, PollOutcome, PolledItem, ResourceCursor, Step};
use spark_integrations::providers::github::{API_VERSION, GithubPoller};

pub(crate) const BASE: &str = "https://github.test/api/v3";
pub(crate) const TOKEN: &str = "ghu_test_token";
pub(crate) const USER_AGENT: &str = "poll-test/1.0";

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap()
}

pub(crate) fn seconds(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// One recorded event: its bytes and the two fields the tests look at.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) repo: String,
    pub(crate) raw: String,
}

pub(crate) fn recorded(lines: &str) -> Vec<Recorded> {
    lines
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            Recorded {
                id: value["id"].as_str().unwrap().to_owned(),
                kind: value["type"].as_str().unwrap().to_owned(),
                repo: value["repo"]["name"].as_str().unwrap().to_owned(),
                raw: line.to_owned(),
            }
        })
        .collect()
}

/// A repository's feed: recorded events (oldest first) and, for those that have arrived, when.
pub(crate) struct Feed {
    pub(crate) name: String,
    pub(crate) id: u64,
    pub(crate) events: Vec<Recorded>,
    pub(crate) arrived_at: Vec<DateTime<Utc>>,
}

impl Feed {
    /// What the Events API shows at `now`: the newest 300 arrived events of the last 90 days, newest first.
    pub(crate) fn visible(&self, now: DateTime<Utc>) -> Vec<&Recorded> {
        let arrived = self.arrived_at.len();
        self.events[..arrived]
            .iter()
            .zip(&self.arrived_at)
            .rev()
            .filter(|(_, at)| **at > now - TimeDelta::days(90))
            .map(|(event, _)| event)
            .take(300)
            .collect()
    }
}

/// A response the test forces for the next request.
pub(crate) struct Forced {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
}

/// A request as the stand-in saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) uri: String,
    pub(crate) if_none_match: Option<String>,
}

/// A scripted in-memory GitHub: serves `/repos/{owner}/{repo}/events` and the `/repositories/{id}/events` pages its
/// `Link` headers point to, checking each request.
pub(crate) struct FakeGithub {
    pub(crate) now: DateTime<Utc>,
    pub(crate) feeds: Vec<Feed>,
    pub(crate) poll_interval: u64,
    pub(crate) forced: VecDeque<Forced>,
    pub(crate) seen: Vec<Seen>,
}

impl FakeGithub {
    pub(crate) fn new(feeds: impl IntoIterator<Item = (&'static str, Vec<Recorded>)>) -> Self {
        Self {
            now: t0(),
            feeds: feeds
                .into_iter()
                .enumerate()
                .map(|(index, (name, events))| Feed {
                    name: name.to_owned(),
                    id: 1000 + index as u64,
                    events,
                    arrived_at: Vec::new(),
                })
                .collect(),
            poll_interval: 60,
            forced: VecDeque::new(),
            seen: Vec::new(),
        }
    }

    pub(crate) fn feed(&mut self, name: &str) -> &mut Feed {
        self.feeds.iter_mut().find(|feed| feed.name == name).unwrap()
    }

    /// `count` more recorded events of `repo` arrive now.
    pub(crate) fn arrive(&mut self, repo: &str, count: usize) {
        let now = self.now;
        let feed = self.feed(repo);
        assert!(
            feed.arrived_at.len() + count <= feed.events.len(),
            "the fixture has too few events"
        );
        feed.arrived_at.extend(std::iter::repeat_n(now, count));
    }

    /// Makes the next request get this answer instead of the feed.
    pub(crate) fn force(&mut self, status: u16, headers: &[(&'static str, &str)], body: &str) {
        self.forced.push_back(Forced {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned()))
                .collect(),
            body: body.to_owned(),
        });
    }

    pub(crate) fn serve(&mut self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(header("accept").as_deref(), Some("application/vnd.github+json"));
        assert_eq!(header("x-github-api-version").as_deref(), Some(API_VERSION));
        assert_eq!(header("user-agent").as_deref(), Some(USER_AGENT));
        assert_eq!(header("authorization"), Some(format!("Bearer {TOKEN}")));
        assert!(request.body().is_empty());
        let uri = request.uri().to_string();
        let if_none_match = header("if-none-match");
        self.seen.push(Seen {
            uri: uri.clone(),
            if_none_match: if_none_match.clone(),
        });

        let path = request.uri().path();
        let query = request.uri().query().unwrap_or_default();
        let page: usize = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("page="))
            .map_or(1, |page| page.parse().unwrap());
        assert!(query.split('&').any(|pair| pair == "per_page=100"), "{uri}");
        if page > 1 {
            assert_eq!(if_none_match, None, "only the first page is conditional");
        }

        if let Some(forced) = self.forced.pop_front() {
            let mut response = http::Response::builder().status(forced.status);
            for (name, value) in forced.headers {
                response = response.header(name, value);
            }
            return response.body(forced.body.into_bytes()).unwrap();
        }

        let rest = path
            .strip_prefix("/api/v3/")
            .unwrap_or_else(|| panic!("outside the API base: {uri}"));
        let feed_index = if let Some(repo) = rest.strip_prefix("repos/").and_then(|r| r.strip_suffix("/events")) {
            assert_eq!(page, 1, "later pages come from the Link header");
            self.feeds.iter().position(|feed| feed.name == repo)
        } else {
            let id = rest
                .strip_prefix("repositories/")
                .and_then(|r| r.strip_suffix("/events"))
                .unwrap();
            self.feeds.iter().position(|feed| feed.id.to_string() == id)
        };
        let Some(feed_index) = feed_index else {
            let body = r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#;
            return http::Response::builder()
                .status(404)
                .body(body.as_bytes().to_vec())
                .unwrap();
        };
        let feed = &self.feeds[feed_index];
        let visible = feed.visible(self.now);
        let etag = format!(
            "W/\"{}-{}\"",
            visible.len(),
            visible.first().map_or("none", |e| e.id.as_str())
        );
        let response = http::Response::builder()
            .header("etag", &etag)
            .header("x-poll-interval", self.poll_interval.to_string())
            .header("x-ratelimit-remaining", "4999");
        if page == 1 && if_none_match.as_deref() == Some(etag.as_str()) {
            return response.status(304).body(Vec::new()).unwrap();
        }
        let last_page = visible.len().div_ceil(100).max(1);
        let link = |page: usize| format!("<{BASE}/repositories/{}/events?per_page=100&page={page}>", feed.id);
        let mut links = Vec::new();
        if page < last_page {
            links.push(format!("{}; rel=\"next\"", link(page + 1)));
            links.push(format!("{}; rel=\"last\"", link(last_page)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", link(page - 1)));
            links.push(format!("{}; rel=\"first\"", link(1)));
        }
        let response = if links.is_empty() {
            response
        } else {
            response.header("link", links.join(", "))
        };
        let items: Vec<&str> = visible
            .iter()
            .skip((page - 1) * 100)
            .take(100)
            .map(|e| e.raw.as_str())
            .collect();
        let body = format!("[{}]", items.join(","));
        response.status(200).body(body.into_bytes()).unwrap()
    }
}

// Driving the poller against the stand-in.

pub(crate) fn poller(repositories: &[&str], types: &[&str]) -> GithubPoller {
    GithubPoller::new(repositories.iter().copied(), types.iter().copied())
        .with_api_base(BASE)
        .unwrap()
        .with_token(AccessToken::new(TOKEN))
        .with_user_agent(USER_AGENT)
}

/// Runs one round at the stand-in's current time; `before_request(n, github)` runs before the n-th request (from 0)
/// is served, so a test can make events arrive mid-round.
pub(crate) fn run(
    poller: &GithubPoller,
    state: PollCursor,
    github: &mut FakeGithub,
    mut before_request: impl FnMut(usize, &mut FakeGithub),
) -> PollOutcome {
    let mut round = poller.start(state, github.now);
    let mut served = 0;
    loop {
        match round.step() {
            Step::Send(request) => {
                before_request(served, github);
                served += 1;
                let response = github.serve(&request);
                round.handle_response(response, github.now);
            }
            Step::Done => break,
            _ => unreachable!(),
        }
    }
    let outcome = round.finish();
    assert_eq!(outcome.stats.requests, served);
    outcome
}

pub(crate) fn round(poller: &GithubPoller, state: PollCursor, github: &mut FakeGithub) -> PollOutcome {
    run(poller, state, github, |_, _| {})
}

pub(crate) fn ids(items: &[PolledItem]) -> Vec<&str> {
    items.iter().map(|item| item.id.as_str()).collect()
}

/// The ids of `events[range]`, newest first (the order the poller fetches them in).
pub(crate) fn newest_first(events: &[Recorded], range: std::ops::Range<usize>) -> Vec<&str> {
    events[range].iter().rev().map(|event| event.id.as_str()).collect()
}

pub(crate) fn cursor<'a>(outcome: &'a PollOutcome, repo: &str) -> &'a ResourceCursor {
    &outcome.cursor.resources[repo]
}

pub(crate) fn state_with(repo: &str, cursor: ResourceCursor) -> PollCursor {
    let mut state = PollCursor::default();
    state.resources.insert(repo.to_owned(), cursor);
    state
}
