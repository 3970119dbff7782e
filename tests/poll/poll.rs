//! The GitHub Events poller against a scripted in-memory GitHub that replays recorded GH Archive events on a
//! simulated clock and checks every request it gets.

use crate::fake_github;

use spark_integrations::poll::{GapCause, PollCursor, PollError, RateLimitKind, ResourceCursor, ResourceError, Step};

use fake_github::{FakeGithub, Recorded, cursor, ids, newest_first, poller, recorded, round, seconds, state_with, t0};

const FIRST250: &str = include_str!("../../fixtures/poll/gharchive-2025-01-01-15.first250.jsonl");
const THREE_REPOS: &str = include_str!("../../fixtures/poll/gharchive-2025-01-01-15.three-repos.jsonl");

#[test]
fn etag_is_sent_back_verbatim_and_304_yields_nothing() {
    let events = recorded(FIRST250);
    let mut github = FakeGithub::new([("octo/feed", events.clone())]);
    github.arrive("octo/feed", 10);
    github.poll_interval = 120;
    let poller = poller(&["octo/feed"], &[]);

    let first = round(&poller, PollCursor::default(), &mut github);
    assert_eq!(github.seen[0].if_none_match, None);
    assert_eq!(ids(&first.items), newest_first(&events, 0..10));
    let etag = cursor(&first, "octo/feed").etag.clone().unwrap();
    assert_eq!(etag, format!("W/\"10-{}\"", events[9].id));

    github.now = first.next_poll_at;
    let second = round(&poller, first.cursor.clone(), &mut github);
    assert_eq!(github.seen[1].if_none_match.as_deref(), Some(etag.as_str()));
    assert!(second.items.is_empty());
    assert_eq!(second.stats.not_modified, 1);
    assert_eq!(second.cursor, first.cursor, "a 304 keeps the cursor, ETag included");
    assert!(second.next_poll_at >= github.now + seconds(120));
    assert!(second.errors.is_empty() && second.gaps.is_empty());
}

#[test]
fn a_stored_etag_is_not_normalised() {
    let mut github = FakeGithub::new([("octo/feed", recorded(FIRST250))]);
    let odd = "W/\"a b\\\"c\"";
    github.force(304, &[("x-poll-interval", "60")], "");
    let outcome = round(
        &poller(&["octo/feed"], &[]),
        state_with("octo/feed", ResourceCursor::new().with_etag(odd)),
        &mut github,
    );
    assert_eq!(github.seen[0].if_none_match.as_deref(), Some(odd));
    assert_eq!(cursor(&outcome, "octo/feed").etag.as_deref(), Some(odd));
}

#[test]
fn link_pagination_is_followed_to_the_last_page() {
    let events = recorded(FIRST250);
    let mut github = FakeGithub::new([("octo/feed", events.clone())]);
    github.arrive("octo/feed", 250);
    let outcome = round(&poller(&["octo/feed"], &[]), PollCursor::default(), &mut github);

    let uris: Vec<&str> = github.seen.iter().map(|seen| seen.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "https://github.test/api/v3/repos/octo/feed/events?per_page=100",
            "https://github.test/api/v3/repositories/1000/events?per_page=100&page=2",
            "https://github.test/api/v3/repositories/1000/events?per_page=100&page=3",
        ]
    );
    assert_eq!(ids(&outcome.items), newest_first(&events, 0..250));
    assert!(
        outcome
            .items
            .iter()
            .all(|item| item.conversion.is_ok() && item.resource == "octo/feed")
    );
    assert_eq!(
        cursor(&outcome, "octo/feed").last_seen_id.as_deref(),
        Some(events[249].id.as_str())
    );
    assert!(
        outcome.gaps.is_empty(),
        "nothing was seen before, so nothing can be missing"
    );
}

#[test]
fn polling_stops_at_the_last_seen_id() {
    let events = recorded(FIRST250);
    let mut github = FakeGithub::new([("octo/feed", events.clone())]);
    github.arrive("octo/feed", 250);
    // The last seen event is the 130th newest: on page 2.
    let state = state_with(
        "octo/feed",
        ResourceCursor::new().with_last_seen_id(events[120].id.clone()),
    );
    let outcome = round(&poller(&["octo/feed"], &[]), state, &mut github);

    assert_eq!(github.seen.len(), 2, "page 3 is not fetched");
    assert_eq!(ids(&outcome.items), newest_first(&events, 121..250));
    assert_eq!(outcome.stats.fetched, 129);
    assert!(outcome.gaps.is_empty());
    assert_eq!(
        cursor(&outcome, "octo/feed").last_seen_id.as_deref(),
        Some(events[249].id.as_str())
    );
}

#[test]
fn primary_rate_limit_waits_until_the_reset_and_defers_the_rest() {
    let mut github = FakeGithub::new([("octo/a", recorded(FIRST250)), ("octo/b", recorded(FIRST250))]);
    let reset = t0() + seconds(1800);
    let reset_header = reset.timestamp().to_string();
    github.force(
        403,
        &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_header)],
        r#"{"message":"API rate limit exceeded"}"#,
    );
    let state = state_with(
        "octo/a",
        ResourceCursor::new().with_etag("W/\"1\"").with_last_seen_id("1"),
    );
    let outcome = round(&poller(&["octo/a", "octo/b"], &[]), state.clone(), &mut github);

    assert_eq!(github.seen.len(), 1, "no request after the limit");
    let limit = outcome.rate_limit.unwrap();
    assert_eq!(limit.kind, RateLimitKind::Primary);
    assert_eq!(limit.until, reset);
    assert_eq!(outcome.next_poll_at, reset);
    assert_eq!(outcome.deferred, ["octo/a", "octo/b"]);
    assert_eq!(outcome.cursor, state, "cursors unchanged; a primary limit is no strike");
    assert!(outcome.errors.is_empty());
}

#[test]
fn retry_after_is_honoured() {
    let mut github = FakeGithub::new([("octo/a", recorded(FIRST250))]);
    github.force(403, &[("retry-after", "600"), ("x-ratelimit-remaining", "4000")], "{}");
    let outcome = round(&poller(&["octo/a"], &[]), PollCursor::default(), &mut github);
    let limit = outcome.rate_limit.unwrap();
    assert_eq!(limit.kind, RateLimitKind::RetryAfter(600));
    assert_eq!(limit.until, t0() + seconds(600));
    assert_eq!(outcome.next_poll_at, t0() + seconds(600));
    assert_eq!(outcome.cursor.extra["secondary_limit_strikes"], 1);
}

#[test]
fn secondary_limits_without_retry_after_back_off_from_a_minute_and_double() {
    let events = recorded(FIRST250);
    let mut github = FakeGithub::new([("octo/a", events)]);
    github.arrive("octo/a", 5);
    let poller = poller(&["octo/a"], &[]);
    let mut state = PollCursor::default();
    for expected in [60, 120, 240] {
        github.force(429, &[], "");
        let outcome = round(&poller, state, &mut github);
        assert_eq!(outcome.rate_limit.unwrap().kind, RateLimitKind::Backoff(expected));
        assert_eq!(outcome.next_poll_at, github.now + seconds(expected as i64));
        github.now = outcome.next_poll_at;
        state = outcome.cursor;
    }
    assert_eq!(state.extra["secondary_limit_strikes"], 3);
    let outcome = round(&poller, state, &mut github);
    assert_eq!(outcome.items.len(), 5);
    assert!(outcome.cursor.extra.is_empty(), "an answer resets the backoff");
}

#[test]
fn forbidden_with_quota_left_is_a_permission_error_and_not_retried() {
    let events = recorded(THREE_REPOS);
    let herapy: Vec<Recorded> = events.iter().filter(|e| e.repo == "aergoio/herapy").cloned().collect();
    let mut github = FakeGithub::new([("secret/repo", Vec::new()), ("aergoio/herapy", herapy.clone())]);
    github.arrive("aergoio/herapy", herapy.len());
    github.force(
        403,
        &[("x-ratelimit-remaining", "4321"), ("x-ratelimit-reset", "1735747200")],
        r#"{"message":"Resource not accessible by integration"}"#,
    );
    let outcome = round(
        &poller(&["secret/repo", "aergoio/herapy"], &[]),
        PollCursor::default(),
        &mut github,
    );

    assert_eq!(
        github.seen.len(),
        2,
        "one request each: the forbidden repository is not retried"
    );
    assert!(github.seen[1].uri.contains("/repos/aergoio/herapy/"));
    let [ResourceError { resource, error, .. }] = outcome.errors.as_slice() else {
        panic!("one error: {:?}", outcome.errors);
    };
    assert_eq!(resource, "secret/repo");
    assert_eq!(
        *error,
        PollError::Forbidden {
            message: Some("Resource not accessible by integration".into())
        }
    );
    assert!(!error.is_retryable());
    assert_eq!(outcome.rate_limit, None);
    assert_eq!(outcome.next_poll_at, t0() + seconds(60));
    assert!(!outcome.cursor.resources.contains_key("secret/repo"));
    assert_eq!(ids(&outcome.items), newest_first(&herapy, 0..herapy.len()));
}

#[test]
fn one_request_per_repository_whatever_the_types_then_filtered_by_type() {
    let events = recorded(THREE_REPOS);
    let repos = [
        "aergoio/herapy",
        "danda-panda-bytes/devcrate",
        "surajislam/PIROAT_BRAND",
    ];
    let of = |repo: &str| events.iter().filter(|e| e.repo == repo).cloned().collect::<Vec<_>>();
    let mut github = FakeGithub::new(repos.map(|repo| (repo, of(repo))));
    for repo in repos {
        github.arrive(repo, of(repo).len());
    }
    let types = [
        "PushEvent",
        "CreateEvent",
        "IssuesEvent",
        "WatchEvent",
        "ForkEvent",
        "PullRequestEvent",
    ];
    let outcome = round(&poller(&repos, &types), PollCursor::default(), &mut github);

    assert_eq!(github.seen.len(), 3);
    let expected: Vec<&str> = repos
        .iter()
        .flat_map(|repo| events.iter().filter(move |e| e.repo == *repo).rev())
        .filter(|e| types.contains(&e.kind.as_str()))
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(ids(&outcome.items), expected);
    assert!(outcome.items.iter().all(|item| types.contains(&item.kind.as_str())));
    assert_eq!(outcome.stats.filtered, 12, "the 12 ReleaseEvents of devcrate");
    assert_eq!(outcome.stats.fetched, 44);
    // The newest event is the cursor even when its type is filtered out.
    let devcrate = of("danda-panda-bytes/devcrate");
    assert_eq!(
        cursor(&outcome, repos[1]).last_seen_id.as_deref(),
        devcrate.last().map(|e| e.id.as_str())
    );

    // An empty filter keeps every type.
    let mut github = FakeGithub::new(repos.map(|repo| (repo, of(repo))));
    for repo in repos {
        github.arrive(repo, of(repo).len());
    }
    let outcome = round(&poller(&repos, &[]), PollCursor::default(), &mut github);
    assert_eq!(outcome.items.len(), 44);
    assert_eq!(outcome.stats.filtered, 0);
}

#[test]
fn missing_repository_is_a_typed_error_and_the_others_are_polled() {
    let events = recorded(THREE_REPOS);
    let mut github = FakeGithub::new([("aergoio/herapy", events[..20].to_vec())]);
    github.arrive("aergoio/herapy", 20);
    let outcome = round(
        &poller(&["gone/away", "not a repo", "aergoio/herapy"], &[]),
        PollCursor::default(),
        &mut github,
    );
    assert_eq!(github.seen.len(), 2, "the invalid name is never requested");
    let errors: Vec<String> = outcome.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "polling `gone/away`: not found (404): it does not exist, was renamed, or the token cannot see it",
            "polling `not a repo`: invalid resource name: expected `owner/name`",
        ]
    );
    assert_eq!(outcome.items.len(), 20);
}

#[test]
fn bad_responses_are_typed_errors_naming_the_header() {
    let mut github = FakeGithub::new([("octo/a", recorded(FIRST250)), ("octo/b", recorded(FIRST250))]);
    github.arrive("octo/a", 3);
    github.arrive("octo/b", 3);
    github.force(200, &[("x-poll-interval", "soon")], "[]");
    github.force(200, &[], "{\"not\":\"an array\"}");
    let outcome = round(&poller(&["octo/a", "octo/b"], &[]), PollCursor::default(), &mut github);
    let errors: Vec<String> = outcome.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "polling `octo/a`: invalid header `x-poll-interval`: expected a decimal number, got `soon`",
            "polling `octo/b`: invalid page body",
        ]
    );
    assert!(
        outcome.cursor.resources.is_empty(),
        "failed repositories keep their (empty) cursors"
    );
}

#[test]
fn a_next_link_to_another_host_is_refused() {
    let mut github = FakeGithub::new([("octo/a", recorded(FIRST250))]);
    github.force(200, &[("link", "<https://evil.test/steal?page=2>; rel=\"next\"")], "[]");
    let outcome = round(&poller(&["octo/a"], &[]), PollCursor::default(), &mut github);
    assert_eq!(github.seen.len(), 1);
    assert!(matches!(&outcome.errors[0].error, PollError::ForeignLink { url } if url.starts_with("https://evil.test")));
}

#[test]
fn an_item_without_an_id_is_recorded_and_the_page_read_on() {
    let mut github = FakeGithub::new([("octo/a", recorded(FIRST250))]);
    let item = |id: &str| {
        format!(
            r#"{{{id}"type":"WatchEvent","actor":{{"id":1,"login":"a"}},"repo":{{"id":2,"name":"octo/a"}},"payload":{{"action":"started"}},"created_at":"2025-01-01T15:00:00Z"}}"#
        )
    };
    let body = format!("[{},{},{}]", item(r#""id":"3","#), item(""), item(r#""id":"1","#));
    github.force(200, &[], &body);
    let outcome = round(&poller(&["octo/a"], &[]), PollCursor::default(), &mut github);
    assert_eq!(ids(&outcome.items), ["3", "", "1"]);
    let error = outcome.items[1].conversion.as_ref().unwrap_err();
    assert_eq!(error.to_string(), "missing field `id`");
    assert!(outcome.items[0].conversion.is_ok() && outcome.items[2].conversion.is_ok());
    // The failed item is kept whole, for the host's inbox; converted ones are not copied.
    assert_eq!(outcome.items[1].raw.as_deref(), Some(item("").as_bytes()));
    assert!(outcome.items[0].raw.is_none() && outcome.items[2].raw.is_none());
}

#[test]
fn the_page_cap_reports_a_gap() {
    let feed = recorded(FIRST250);
    let mut github = FakeGithub::new([("spark/feed", feed.clone())]);
    github.arrive("spark/feed", 250);
    let state = state_with(
        "spark/feed",
        ResourceCursor::new().with_last_seen_id(feed[10].id.clone()),
    );
    let outcome = round(&poller(&["spark/feed"], &[]).with_max_events(150), state, &mut github);
    assert_eq!(github.seen.len(), 2);
    assert_eq!(outcome.items.len(), 200);
    assert_eq!(outcome.gaps[0].cause, GapCause::PageCap);
}

mod no_panic {
    use proptest::prelude::*;

    use super::*;

    const HEADERS: [&str; 7] = [
        "etag",
        "link",
        "x-poll-interval",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "content-type",
    ];

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "\\[(\\{\"id\":\"[0-9]{1,2}\",\"type\":\"[A-Za-z]{0,6}\"\\},?){0,4}\\]".prop_map(String::into_bytes),
            Just(br#"{"message":"You have exceeded a secondary rate limit"}"#.to_vec()),
        ]
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..24),
            "[0-9]{1,25}".prop_map(String::into_bytes),
            "<https://github.test/api/v3/r\\?page=[0-9]>; rel=\"?next\"?".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Whatever status, headers (non-UTF-8 included) and body the server sends, the round ends without panicking,
        /// after a bounded number of requests, and never sends to another host.
        #[test]
        fn any_response_ends_the_round(
            status in proptest::sample::select(vec![200_u16, 304, 301, 401, 403, 404, 429, 500]),
            headers in proptest::collection::vec((proptest::sample::select(HEADERS.to_vec()), header_value()), 0..6),
            body in body(),
        ) {
            let poller = poller(&["octo/a", "octo/b"], &["WatchEvent"]);
            let state = state_with("octo/a", ResourceCursor::new().with_etag("W/\"x\"").with_last_seen_id("7"));
            let mut round = poller.start(state, t0());
            let mut requests = 0;
            loop {
                match round.step() {
                    Step::Send(request) => {
                        requests += 1;
                        prop_assert!(requests <= 2 * 10, "paging must end");
                        prop_assert_eq!(request.uri().host(), Some("github.test"));
                        let mut response = http::Response::builder().status(status);
                        for (name, value) in &headers {
                            if let Ok(value) = http::HeaderValue::from_bytes(value) {
                                response = response.header(*name, value);
                            }
                        }
                        round.handle_response(response.body(body.clone()).unwrap(), t0());
                    }
                    Step::Done => break,
                    _ => unreachable!(),
                }
            }
            let outcome = round.finish();
            // The provider's word decides (a `retry-after: 0` may mean at once), but never a time already past.
            prop_assert!(outcome.next_poll_at >= t0(), "never in the past");
        }
    }
}

#[test]
fn cursors_of_repositories_no_longer_configured_are_dropped() {
    let events = recorded(FIRST250);
    let mut github = FakeGithub::new([("octo/feed", events)]);
    github.arrive("octo/feed", 5);
    let mut stored = state_with("octo/removed", ResourceCursor::new().with_etag("W/\"old\""));
    stored
        .resources
        .insert("octo/feed".to_owned(), ResourceCursor::new().with_etag("W/\"feed\""));
    let outcome = round(&poller(&["octo/feed"], &[]), stored, &mut github);
    assert_eq!(github.seen.len(), 1, "only the configured repository is polled");
    assert_eq!(github.seen[0].if_none_match.as_deref(), Some("W/\"feed\""));
    let kept: Vec<&str> = outcome.cursor.resources.keys().map(String::as_str).collect();
    assert_eq!(kept, ["octo/feed"]);
}
