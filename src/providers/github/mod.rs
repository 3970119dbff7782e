//! GitHub: converters for Events API items and webhook deliveries.
//!
//! [`GithubConverter`] takes both shapes GitHub reports activity in:
//! - [`Payload::Polled`]: one item of `GET /events` or `/repos/{owner}/{repo}/events`. `source_id` is the item's
//!   `id`, `time` its `created_at` (the context's `received_at` when that is missing).
//! - [`Payload::Webhook`]: a delivery body with its `X-GitHub-Event` name and `X-GitHub-Delivery` id (both
//!   required). `source_id` is `sha256:` and the SHA-256 of the body bytes in hex, never the delivery id:
//!   GitHub's signature covers the body only, not the headers, so a captured delivery resent under a fresh
//!   `X-GitHub-Delivery` must dedupe on what *is* signed. A redelivery by GitHub sends the same bytes, so it
//!   dedupes too; a body resent under another event name either fails that event's conversion (it lacks its
//!   required fields) or yields the same `source_id` as its first delivery, so it is never stored a second time.
//!   `ping` is [`SkipReason::Ping`]; other events are skipped as [`SkipReason::UnsupportedType`] without being
//!   parsed.
//!
//! One activity gives the same domain, action, actor key and target key by either path: both read the payload
//! into the same types and build the event with the same code.
//!
//! # What each type becomes
//!
//! The actor is always the user who acted (Events API `actor`, webhook `sender`), keyed `github:user:{id}`.
//!
//! | Events API `type` | webhook event | domain | action | target | value / unit | blocks (value / unit) |
//! |---|---|---|---|---|---|---|
//! | `PushEvent` | `push` | `repository` | `push` | repository | `size`, else the number of `commits` / `commits`; no value (unit still `commits`) when the payload has neither (current Events API) | one per commit (1 / `commit`) |
//! | `PullRequestEvent` | `pull_request` | `pull_request` | payload `action` | pull request | 1 / `pull_request` | |
//! | `IssuesEvent` | `issues` | `issue` | payload `action` | issue | 1 / `issue` | |
//! | `IssueCommentEvent` | `issue_comment` | `issue_comment` | payload `action` | issue (also for a pull request's conversation) | 1 / `comment` | the comment (1 / `comment`) |
//! | `CreateEvent` | `create` | `repository` | `created` | branch or tag; the repository when `ref_type` is `repository` | 1 / `branch`, `tag` or `repository` (per `ref_type`; `ref` when unknown) | |
//! | `DeleteEvent` | `delete` | `repository` | `deleted` | branch or tag | 1 / `branch` or `tag` (as for `create`) | |
//! | `ForkEvent` | `fork` | `repository` | `forked` | the forked (source) repository; the fork is in `event_metadata.fork` | 1 / `fork` | |
//! | `WatchEvent` | `watch` | `repository` | `starred` | repository | 1 / `star` | |
//! | | `star` | `repository` | `starred` (`created`), `unstarred` (`deleted`) | repository | 1 / `star` (the action says which way) | |
//! | `ReleaseEvent` | `release` | `release` | payload `action` | release | 1 / `release` | |
//! | `PullRequestReviewEvent` | `pull_request_review` | `pull_request_review` | `submitted` (the Events API's `created`), else payload `action` | pull request | 1 / `review` | the review (1 / `review`) |
//! | `PullRequestReviewCommentEvent` | `pull_request_review_comment` | `pull_request_review_comment` | payload `action` | pull request | 1 / `comment` | the comment (1 / `comment`) |
//! | `CommitCommentEvent` | `commit_comment` | `commit_comment` | payload `action`, else `created` | commit | 1 / `comment` | the comment (1 / `comment`) |
//! | `GollumEvent` | `gollum` | `wiki` | the first page's `action` | the first wiki page | number of pages / `pages` | one per page (1 / `page`) |
//! | `MemberEvent` | `member` | `member` | payload `action` | the member (a user) | 1 / `member` | |
//! | `PublicEvent` | `public` | `repository` | `publicized` | repository | 1 / `repository` | |
//!
//! `value_multiplier` is always 1. One activity gets the same value and unit by either path.
//!
//! A missing `action` falls back to the type's usual one (`updated` for pull requests and issues, `created` for
//! comments, `published` for releases, `added` for members). When the target is not the repository, the
//! repository's key is in `event_metadata.repository`.
//!
//! # Metadata
//!
//! Metadata maps are JSON objects with sorted keys; a key is left out when the payload lacks its value.
//!
//! | where | keys |
//! |---|---|
//! | user (actor, member) | `github_id`, `avatar_url` (also the object's `image_url`) |
//! | repository | `github_id`, `full_name` (`owner/name`); its `description` is the object's `content` (webhooks only: Events API items carry none) |
//! | pull request | `github_id`, `number`, `state`, `merged`, `draft` |
//! | issue | `github_id`, `number`, `state`, `pull_request` (whether the issue is a pull request) |
//! | release | `github_id`, `tag_name`, `draft`, `prerelease` |
//! | branch, tag | `ref` (the full ref) |
//! | commit | `sha` |
//! | wiki page | `page_name` |
//! | `event_metadata`, push | `ref`, `before`, `head` (the webhook's `after`) |
//! | `event_metadata`, pull request, issue, their comments and reviews | `number` |
//! | `event_metadata`, comments | `comment_id`, `path` (review and commit comments) |
//! | `event_metadata`, review | `review_id`, `review_state` |
//! | `event_metadata`, create, delete | `ref`, `ref_type` |
//! | `event_metadata`, fork | `fork` (the new repository's key), `fork_full_name` |
//! | `event_metadata`, release | `tag_name` |
//! | `event_metadata`, wiki | `sha` of the first page |
//! | `event_metadata`, any event whose target is not the repository | `repository` (its key), `repository_name` (`owner/name`) |
//!
//! # Selected types
//!
//! The plugin's configuration selects Events API types in its `events` field. When the context carries that
//! configuration ([`ConvertContext::with_configuration`]), a payload of a converted type that is not selected is
//! skipped as [`SkipReason::NotSelected`] on both paths; a webhook is matched by its Events API type (`push` by
//! `PushEvent`, `star` and `watch` by `WatchEvent`) before its body is read. Without a configuration every type is
//! converted. The poller also asks GitHub only for what is selected.
//!
//! # Keys
//!
//! Built from GitHub's numeric ids, never from titles or names (which change):
//!
//! | concept | key |
//! |---|---|
//! | user | `github:user:{user id}` |
//! | repository | `github:repository:{repository id}` |
//! | pull request | `github:pull_request:{pull request id}` (the `id`, not the per-repository `number`) |
//! | issue | `github:issue:{issue id}` |
//! | release | `github:release:{release id}` |
//! | branch, tag | `github:ref:{repository id}:{full ref}`, e.g. `github:ref:1296269:refs/heads/main` |
//! | commit | `github:commit:{repository id}:{sha}` |
//! | wiki page | `github:wiki_page:{repository id}:{page_name}` |
//!
//! # Times of webhooks
//!
//! Webhooks carry no delivery time, so each takes the time the payload gives for *this* occurrence, and the
//! context's `received_at` where it gives none:
//!
//! | event | time |
//! |---|---|
//! | `push` | `repository.pushed_at`, else `head_commit.timestamp` |
//! | `pull_request`, `issues` | the pull request's or issue's `updated_at` |
//! | `issue_comment`, `pull_request_review_comment`, `commit_comment` | the comment's `created_at` (`updated_at` for `edited`; none for `deleted`) |
//! | `create` | `repository.pushed_at` |
//! | `fork` | `forkee.created_at` |
//! | `star` | `starred_at` |
//! | `release` | `created_at` for `created`, `published_at` for `published`, `released`, `prereleased`; else none |
//! | `pull_request_review` | `review.submitted_at` for `submitted`, else the pull request's `updated_at` |
//! | `delete`, `watch`, `gollum`, `member`, `public` | none: `received_at` |
//!
//! # Errors and fallbacks
//!
//! The fields that identify an event are required: the item's `id`, `type`, `actor.id`, `repo.id` (webhooks:
//! `sender.id`, `repository.id`) and the target's id (`pull_request.id`, `issue.id`, `release.id`, `member.id`,
//! `comment.commit_id`, the `ref` of a branch or tag). Without one, conversion fails with
//! [`ConvertError::MissingField`] naming its dotted path (`payload.pull_request.id`). Every other field may be
//! missing or `null`: titles, bodies, urls and times are then `None`.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use spark_integrations::convert::{ConvertContext, Conversion, Converter, Payload};
//! use spark_integrations::providers::github::GithubConverter;
//!
//! let body = br#"{"action":"started","repository":{"id":1296269,"full_name":"octocat/Hello-World"},
//!     "sender":{"id":583231,"login":"octocat"}}"#;
//! let payload = Payload::Webhook { event: Some("watch"), delivery_id: Some("d-1"), body };
//! let received_at = Utc.with_ymd_and_hms(2022, 6, 9, 12, 50, 0).unwrap();
//! let Conversion::Converted(events) = GithubConverter.convert(payload, &ConvertContext::new(received_at))? else {
//!     panic!("a star is activity");
//! };
//! assert_eq!((events[0].domain.as_str(), events[0].action.as_str()), ("repository", "starred"));
//! assert!(events[0].source_id.starts_with("sha256:")); // the body's hash: what the signature covers
//! assert_eq!(events[0].time, received_at); // `watch` carries no time of its own
//! # Ok::<(), spark_integrations::convert::ConvertError>(())
//! ```

mod activity;
mod build;
mod events_api;
pub mod oauth;
mod plugin;
mod poll;
mod wire;

use activity::Kind;
use build::Common;
use events_api::Parsed;

pub use plugin::GithubPlugin;
pub use poll::{API_VERSION, ApiBaseError, DEFAULT_API_BASE, EVENTS_API_WINDOW, GithubPollRound, GithubPoller};

use crate::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
mod signature;
pub use signature::GithubVerifier;

/// The plugin identifier and [`Event::service`](crate::model::Event::service) of GitHub.
pub const SERVICE: &str = "github";

/// The configuration field (a string array of [`EVENTS_API_TYPES`]) that selects the activity to record.
pub(crate) const EVENTS_FIELD: &str = "events";

/// The Events API `type`s that [`GithubConverter`] turns into events.
pub const EVENTS_API_TYPES: &[&str] = &[
    "CommitCommentEvent",
    "CreateEvent",
    "DeleteEvent",
    "ForkEvent",
    "GollumEvent",
    "IssueCommentEvent",
    "IssuesEvent",
    "MemberEvent",
    "PublicEvent",
    "PullRequestEvent",
    "PullRequestReviewCommentEvent",
    "PullRequestReviewEvent",
    "PushEvent",
    "ReleaseEvent",
    "WatchEvent",
];

/// The webhook events (`X-GitHub-Event` values) that [`GithubConverter`] turns into events. `ping` is skipped as
/// [`SkipReason::Ping`], any other event as [`SkipReason::UnsupportedType`].
pub const WEBHOOK_EVENTS: &[&str] = &[
    "commit_comment",
    "create",
    "delete",
    "fork",
    "gollum",
    "issue_comment",
    "issues",
    "member",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "push",
    "release",
    "star",
    "watch",
];

/// Converts GitHub payloads: [`Payload::Polled`] items of the Events API and [`Payload::Webhook`] deliveries.
///
/// Call [`Converter::convert`] once per item or delivery; it is pure, so the same bytes and context always give
/// the same events. See the [module docs](self) for what each type becomes.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubConverter;

impl Converter for GithubConverter {
    fn convert(&self, payload: Payload<'_>, context: &ConvertContext) -> Result<Conversion, ConvertError> {
        match payload {
            Payload::Polled { body } => convert_item(body, context),
            Payload::Webhook {
                event,
                delivery_id,
                body,
            } => convert_webhook(event, delivery_id, body, context),
        }
    }
}

fn convert_item(body: &[u8], context: &ConvertContext) -> Result<Conversion, ConvertError> {
    let item = match Parsed::from_slice(body)? {
        Parsed::Item(item) => item,
        Parsed::Unsupported(name) => return Ok(Conversion::Skipped(SkipReason::UnsupportedType(name.0.into_owned()))),
    };
    let kind = item.activity.kind();
    if !is_selected(kind, context) {
        return Ok(not_selected(kind.events_api_name()));
    }
    let common = Common {
        source_id: item.id.0.into_owned(),
        time: item.created_at.0.unwrap_or(context.received_at),
        actor: item.actor,
        repo: item.repo,
        payload_path: "payload",
    };
    Ok(Conversion::Converted(vec![build::build(*item.activity, common)?]))
}

fn convert_webhook(
    event: Option<&str>,
    delivery_id: Option<&str>,
    body: &[u8],
    context: &ConvertContext,
) -> Result<Conversion, ConvertError> {
    let event = event
        .filter(|event| !event.is_empty())
        .ok_or(ConvertError::MissingInput {
            what: "the webhook event name (X-GitHub-Event header)",
        })?;
    // Required (a delivery without it is not GitHub's), though not signed: the event's id comes from the body.
    delivery_id
        .filter(|id| !id.is_empty())
        .ok_or(ConvertError::MissingInput {
            what: "the webhook delivery id (X-GitHub-Delivery header)",
        })?;
    if event == "ping" {
        return Ok(Conversion::Skipped(SkipReason::Ping));
    }
    let Some(kind) = Kind::from_webhook(event) else {
        return Ok(Conversion::Skipped(SkipReason::UnsupportedType(event.to_owned())));
    };
    if !is_selected(kind, context) {
        return Ok(not_selected(event));
    }
    let mut activity = kind.parse(body, "")?;
    let (repository, sender) = activity.take_envelope();
    let repo = repository.ok_or_else(|| ConvertError::MissingField {
        path: "repository".to_owned(),
    })?;
    let actor = sender.ok_or_else(|| ConvertError::MissingField {
        path: "sender".to_owned(),
    })?;
    let common = Common {
        source_id: body_source_id(body),
        time: activity.webhook_time(&repo).unwrap_or(context.received_at),
        actor,
        repo,
        payload_path: "",
    };
    Ok(Conversion::Converted(vec![build::build(activity, common)?]))
}

/// Whether the integration's configuration selects `kind` in its `events` field (by its Events API `type`).
fn is_selected(kind: Kind, context: &ConvertContext) -> bool {
    context.is_selected(EVENTS_FIELD, kind.events_api_name())
}

fn not_selected(name: &str) -> Conversion {
    Conversion::Skipped(SkipReason::NotSelected { kind: name.to_owned() })
}

/// The `source_id` of a webhook delivery: `sha256:` and the hex SHA-256 of the exact body bytes, which the
/// signature covers.
fn body_source_id(body: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_has_a_kind() {
        for name in EVENTS_API_TYPES {
            assert!(Kind::from_events_api(name).is_some(), "{name}");
        }
        for name in WEBHOOK_EVENTS {
            assert!(Kind::from_webhook(name).is_some(), "{name}");
            assert_eq!(
                Kind::from_webhook(name).map(|kind| kind.to_string()).as_deref(),
                Some(*name)
            );
        }
        for name in WEBHOOK_EVENTS {
            let kind = Kind::from_webhook(name).expect("listed");
            assert!(EVENTS_API_TYPES.contains(&kind.events_api_name()), "{name}");
        }
        assert_eq!(Kind::Star.events_api_name(), "WatchEvent");
        assert_eq!(Kind::from_events_api("SponsorshipEvent"), None);
        assert_eq!(Kind::from_webhook("ping"), None);
    }
}
