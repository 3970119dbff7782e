//! A scripted scenario: several poll rounds of two repositories on a simulated clock, replaying recorded GH Archive
//! events through the in-memory stand-in for GitHub.

use crate::fake_github;

use chrono::TimeDelta;
use spark_integrations::poll::{GapCause, PollCursor};

use fake_github::{FakeGithub, Recorded, cursor, ids, newest_first, poller, recorded, round, run, seconds, t0};

const FIRST250: &str = include_str!("../../fixtures/poll/gharchive-2025-01-01-15.first250.jsonl");
const THREE_REPOS: &str = include_str!("../../fixtures/poll/gharchive-2025-01-01-15.three-repos.jsonl");

/// Several polls of two repositories on a simulated clock, replaying recorded events: first fetch, nothing new (304),
/// new events with the pages shifting mid-round, a primary rate limit, and a gap after a long pause.
#[test]
fn scripted_scenario_on_a_simulated_clock() {
    let feed = recorded(FIRST250);
    let three = recorded(THREE_REPOS);
    let herapy: Vec<Recorded> = three.iter().filter(|e| e.repo == "aergoio/herapy").cloned().collect();
    let mut github = FakeGithub::new([("spark/feed", feed.clone()), ("aergoio/herapy", herapy.clone())]);
    let poller = poller(&["spark/feed", "aergoio/herapy"], &[]).with_integration("integration-1");

    // 15:00: 50 events in the feed, 5 in herapy. One page each.
    github.arrive("spark/feed", 50);
    github.arrive("aergoio/herapy", 5);
    let outcome = round(&poller, PollCursor::default(), &mut github);
    assert_eq!(github.seen.len(), 2);
    let mut expected = newest_first(&feed, 0..50);
    expected.extend(newest_first(&herapy, 0..5));
    assert_eq!(ids(&outcome.items), expected);
    assert_eq!(outcome.next_poll_at, t0() + seconds(60));
    let mut state = outcome.cursor;

    // 15:01: nothing new: both answers are 304, sent with the stored ETags.
    github.now = t0() + seconds(60);
    let outcome = round(&poller, state.clone(), &mut github);
    assert!(outcome.items.is_empty());
    assert_eq!(outcome.stats.not_modified, 2);
    assert_eq!(github.seen[2].if_none_match, state.resources["spark/feed"].etag);
    assert_eq!(github.seen[3].if_none_match, state.resources["aergoio/herapy"].etag);
    assert_eq!(outcome.cursor, state);

    // 15:02: 130 new events; 20 more arrive between page 1 and page 2, so page 2 starts with 20 events of page 1.
    // The server now asks for 120 s between polls.
    github.now = t0() + seconds(120);
    github.poll_interval = 120;
    github.arrive("spark/feed", 130);
    let outcome = run(&poller, state, &mut github, |request, github| {
        if request == 1 {
            github.arrive("spark/feed", 20);
        }
    });
    assert_eq!(github.seen.len(), 7, "feed pages 1 and 2, herapy's 304");
    assert_eq!(outcome.stats.duplicates, 20);
    assert_eq!(
        ids(&outcome.items),
        newest_first(&feed, 50..180),
        "each event once; stopped at the last seen"
    );
    assert_eq!(
        cursor(&outcome, "spark/feed").last_seen_id.as_deref(),
        Some(feed[179].id.as_str())
    );
    assert!(outcome.gaps.is_empty());
    assert_eq!(outcome.next_poll_at, github.now + seconds(120));
    state = outcome.cursor;

    // 15:04: the 20 that arrived mid-round come now, with 3 new herapy events.
    github.now = t0() + seconds(240);
    github.arrive("aergoio/herapy", 3);
    let outcome = round(&poller, state, &mut github);
    let mut expected = newest_first(&feed, 180..200);
    expected.extend(newest_first(&herapy, 5..8));
    assert_eq!(ids(&outcome.items), expected);
    state = outcome.cursor;

    // 15:06: the hourly quota is gone; wait until the reset at 16:00 and defer both repositories.
    github.now = t0() + seconds(360);
    let reset = t0() + seconds(3600);
    github.force(
        429,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset.timestamp().to_string()),
        ],
        "",
    );
    let outcome = round(&poller, state.clone(), &mut github);
    assert_eq!(outcome.next_poll_at, reset);
    assert_eq!(outcome.deferred, ["spark/feed", "aergoio/herapy"]);
    assert_eq!(outcome.cursor, state);

    // 16:00: nothing new.
    github.now = reset;
    let outcome = round(&poller, state.clone(), &mut github);
    assert!(outcome.items.is_empty());
    assert_eq!(outcome.stats.not_modified, 2);

    // 100 days later (polling was paused): 50 events arrived on day 95; GitHub keeps 90 days, so the last seen event
    // is gone from the pages and the poller reports a possible gap.
    github.now = t0() + TimeDelta::days(95);
    github.arrive("spark/feed", 50);
    github.now = t0() + TimeDelta::days(100);
    let outcome = round(&poller, state, &mut github);
    assert_eq!(ids(&outcome.items), newest_first(&feed, 200..250));
    let [gap, quiet] = outcome.gaps.as_slice() else {
        panic!("two gaps: {:?}", outcome.gaps);
    };
    assert_eq!(gap.resource, "spark/feed");
    assert_eq!(gap.cause, GapCause::NoMorePages);
    assert_eq!(gap.last_seen_id, feed[199].id);
    assert_eq!(gap.oldest_fetched_id.as_deref(), Some(feed[200].id.as_str()));
    assert_eq!(
        cursor(&outcome, "spark/feed").last_seen_id.as_deref(),
        Some(feed[249].id.as_str())
    );
    // herapy's events are all older than 90 days: an empty page that no longer shows its last seen event.
    assert_eq!(quiet.resource, "aergoio/herapy");
    assert_eq!(quiet.last_seen_id, herapy[7].id);
    assert_eq!(quiet.oldest_fetched_id, None);
    let state = outcome.cursor;

    // Day 100, a minute later: both answers are 304 now, so the gaps are not reported again.
    github.now += seconds(60);
    let outcome = round(&poller, state, &mut github);
    assert!(outcome.items.is_empty() && outcome.gaps.is_empty());
    assert_eq!(outcome.stats.not_modified, 2);
}
