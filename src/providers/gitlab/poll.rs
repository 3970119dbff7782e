//! Polling GitLab's Events API (`GET /api/v4/projects/:id/events`) for the projects of an integration.

mod round;

use std::collections::BTreeSet;

use chrono::TimeDelta;
use url::Url;

use super::GitlabConverter;
use super::instance::Instance;
use crate::poll::PollError;
use crate::secret::AccessToken;

pub use round::GitlabPollRound;

/// Events per page requested (`per_page`), the API's maximum.
const PER_PAGE: u32 = 100;

/// The default cap on pages per project and round (1,000 events).
pub const DEFAULT_MAX_PAGES: usize = 10;

/// The wait between rounds when GitLab said nothing about it (no rate limit reached).
pub const DEFAULT_POLL_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// The wait after a 429 that carries neither `Retry-After` nor `RateLimit-Reset`.
const DEFAULT_RETRY: TimeDelta = TimeDelta::seconds(60);

/// Polls the Events API of an integration's projects: builds the requests, reads the responses, converts the new
/// events with [`GitlabConverter`], and says when to poll again.
///
/// # What a round does, per project
///
/// - Requests `{api}/projects/{url-encoded path}/events?per_page=100` (`group%2Fsubgroup%2Fproject`) with
///   `Accept: application/json`, `User-Agent` and `Authorization: Bearer` (with a token): one request per project,
///   whatever the number of configured kinds.
/// - Follows `Link: rel="next"` (only under the API base's origin, so the token goes nowhere else), else
///   `X-Next-Page`, until it meets an event whose id is at most the last seen one, the pages end, or
///   [`with_max_pages`](Self::with_max_pages) pages were read. GitLab's event ids grow with time and the feed is
///   newest first, so "at most" stops even when the last seen event itself was deleted. Running out before the last
///   seen id, when one was known, is reported as a [`Gap`](crate::poll::Gap).
/// - Skips events already read this round (pages shift as new events arrive); converts the others, then keeps those
///   whose domain is among the configured kinds (all, skips included, when none is configured). A failed conversion
///   is recorded on its item whatever the kinds, and never stops the round.
/// - On a 429, ends the round until `Retry-After` seconds from then, else until `RateLimit-Reset`, else for a
///   minute; a 200 with `RateLimit-Remaining: 0` ends it after that page until `RateLimit-Reset`. The projects not
///   finished keep their cursors and are listed as deferred.
/// - A 404 (no such project, or the token cannot see it), 403 (a permission error) or 401 is recorded for that
///   project only; the other projects are polled regardless.
/// - The next poll: the end of the rate limit when GitLab set one, else [`DEFAULT_POLL_INTERVAL`] after the start.
/// - Drops the cursors of projects no longer configured.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use spark_integrations::AccessToken;
/// use spark_integrations::poll::{PollCursor, Step};
/// use spark_integrations::providers::gitlab::{GitlabPoller, Instance};
///
/// fn send(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
///     assert_eq!(request.uri(), "https://gitlab.com/api/v4/projects/gitlab-org%2Fgitlab/events?per_page=100");
///     let body = br#"[{"id":2,"project_id":278964,"action_name":"opened","target_type":"Issue","target_id":9,
///         "author":{"id":1,"username":"root"},"created_at":"2025-01-01T12:00:00Z"}]"#;
///     http::Response::builder().header("ratelimit-remaining", "1999").body(body.to_vec()).unwrap()
/// }
///
/// let poller = GitlabPoller::new(Instance::gitlab_com(), ["gitlab-org/gitlab"], Vec::<String>::new())
///     .with_token(AccessToken::new("glpat-example"));
/// let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
/// let mut round = poller.start(PollCursor::default(), now);
/// while let Step::Send(request) = round.step() {
///     round.handle_response(send(request), now);
/// }
/// let outcome = round.finish();
/// assert_eq!(outcome.items[0].id, "2");
/// assert_eq!(outcome.cursor.resources["gitlab-org/gitlab"].last_seen_id.as_deref(), Some("2"));
/// assert_eq!(outcome.next_poll_at, now + TimeDelta::seconds(60));
/// ```
#[derive(Debug, Clone)]
pub struct GitlabPoller {
    api_base: Url,
    projects: Vec<String>,
    kinds: BTreeSet<String>,
    token: Option<AccessToken>,
    user_agent: String,
    max_pages: usize,
    integration_id: Option<String>,
    converter: GitlabConverter,
}

impl GitlabPoller {
    /// A poller for `projects` (`group/subgroup/project` paths) of `instance`, keeping events whose domain is among
    /// `kinds` ([`EVENT_KINDS`](super::EVENT_KINDS); empty keeps every kind), without a token.
    pub fn new<P, K>(instance: Instance, projects: P, kinds: K) -> Self
    where
        P: IntoIterator<Item: Into<String>>,
        K: IntoIterator<Item: Into<String>>,
    {
        let api_base = Url::parse(&instance.api_base()).expect("an instance's API base is a valid URL");
        Self {
            api_base,
            projects: projects.into_iter().map(Into::into).collect(),
            kinds: kinds.into_iter().map(Into::into).collect(),
            token: None,
            user_agent: concat!("spark-integrations/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_pages: DEFAULT_MAX_PAGES,
            integration_id: None,
            converter: GitlabConverter::new(instance),
        }
    }

    /// The same poller sending its requests to another API base (a test server), keys still naming its instance.
    ///
    /// # Errors
    ///
    /// [`BaseUrlError`](super::BaseUrlError) when `api_base` is not an `http`/`https` URL without query or fragment.
    pub fn with_api_base(mut self, api_base: &str) -> Result<Self, super::BaseUrlError> {
        // The same checks as an instance's base URL.
        let checked = Instance::new(api_base)?;
        self.api_base = Url::parse(checked.base_url())?;
        Ok(self)
    }

    /// The same poller sending `Authorization: Bearer <token>`.
    #[must_use]
    pub fn with_token(mut self, token: AccessToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The same poller sending this `User-Agent`.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The same poller reading at most `max_pages` pages per project and round (default [`DEFAULT_MAX_PAGES`]); a stop
    /// before the last seen event is reported as a [`Gap`](crate::poll::Gap) with
    /// [`GapCause::PageCap`](crate::poll::GapCause::PageCap).
    #[must_use]
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages.max(1);
        self
    }

    /// The same poller naming the integration in each conversion's [`ConvertContext`](crate::convert::ConvertContext).
    #[must_use]
    pub fn with_integration(mut self, integration_id: impl Into<String>) -> Self {
        self.integration_id = Some(integration_id.into());
        self
    }

    /// Starts a round at `now` from the stored `cursor`.
    pub fn start(&self, cursor: crate::poll::PollCursor, now: chrono::DateTime<chrono::Utc>) -> GitlabPollRound {
        GitlabPollRound::new(self.clone(), cursor, now)
    }

    /// The first page's URL for `project`, or why the path cannot be polled.
    fn events_url(&self, project: &str) -> Result<Url, PollError> {
        if !crate::plugin::Format::NamespacePath.matches(project) {
            return Err(PollError::InvalidResource {
                reason: "expected a project path `group/project` (subgroups allowed)",
            });
        }
        let mut url = self.api_base.clone();
        // The path's own characters need no escaping (the format allows only ASCII letters, digits, `_`, `-`, `.`);
        // its `/` are encoded so that it is one segment.
        let path = format!(
            "{}/projects/{}/events",
            url.path().trim_end_matches('/'),
            project.replace('/', "%2F")
        );
        url.set_path(&path);
        url.set_query(Some(&format!("per_page={PER_PAGE}")));
        Ok(url)
    }
}
