//! GitLab (gitlab.com and self-managed instances): the plugin, OAuth rules, webhook verifier, converters and poller,
//! written against the crate's public plugin contract only.
//!
//! - [`GitlabPlugin`]: `GitlabPlugin::new()` for gitlab.com, [`GitlabPlugin::with_base_url`] for a self-managed
//!   instance. Configuration: `projects` (required, `group/subgroup/project` paths) and `events` (optional,
//!   [`EVENT_KINDS`]; empty records all).
//! - [`oauth`]: authorization code with PKCE at `{base}/oauth/authorize` and `/oauth/token`, 2-hour tokens refreshed
//!   15 minutes ahead, refresh tokens rotated on every refresh.
//! - [`GitlabVerifier`]: the signing token (Standard Webhooks) and the secret token (`X-Gitlab-Token`), told apart by
//!   the `whsec_` prefix.
//! - [`GitlabConverter`]: webhook bodies ([`Payload::Webhook`] with the `X-Gitlab-Event` value) and Events API items
//!   ([`Payload::Polled`]).
//! - [`GitlabPoller`]: the Events API of each configured project.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
//! use spark_integrations::providers::gitlab::GitlabConverter;
//!
//! let converter = GitlabConverter::default(); // gitlab.com
//! let context = ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap());
//! let webhook = br#"{"object_kind":"issue","user":{"id":1,"username":"root"},"project":{"id":15},
//!     "object_attributes":{"id":301,"iid":1,"title":"New API: create/update/delete file","action":"open",
//!     "updated_at":"2015-04-09T21:00:25Z"}}"#;
//! let item = br#"{"id":9001,"project_id":15,"action_name":"opened","target_type":"Issue","target_id":301,
//!     "author":{"id":1,"username":"root"},"created_at":"2015-04-09T21:00:25.123Z"}"#;
//!
//! let payload = Payload::Webhook { event: Some("Issue Hook"), delivery_id: Some("uuid-1"), body: webhook };
//! let Conversion::Converted(by_webhook) = converter.convert(payload, &context)? else { panic!("activity") };
//! let Conversion::Converted(polled) = converter.convert(Payload::Polled { body: item }, &context)? else {
//!     panic!("activity")
//! };
//! for event in [&by_webhook[0], &polled[0]] {
//!     assert_eq!((event.domain.as_str(), event.action.as_str()), ("issue", "opened"));
//!     assert_eq!(event.actor.key, "gitlab:gitlab.com:user:1");
//!     assert_eq!(event.target.key, "gitlab:gitlab.com:issue:301");
//!     assert_eq!((event.value, event.value_unit.as_deref()), (Some(1), Some("issue")));
//! }
//! assert_eq!(polled[0].source_id, "9001");
//! assert!(by_webhook[0].source_id.starts_with("sha256:")); // from the body, not the delivery id
//! # Ok::<(), spark_integrations::convert::ConvertError>(())
//! ```
//!
//! # Source ids and replays
//!
//! - An Events API item's `source_id` is its numeric `id` in decimal.
//! - A webhook event's `source_id` is `sha256:` and the first 32 hex digits of the SHA-256 of the raw body bytes;
//!   each body yields at most one event. The delivery id (`Idempotency-Key`) identifies nothing stored. A
//!   delivery authenticated by the secret token proves nothing about its body or its delivery id, so a captured body
//!   replayed under a new `Idempotency-Key` passes verification, converts to the same `source_id` and is stored once.
//!   A body replayed under another `X-Gitlab-Event` fails conversion (its `object_kind` does not match) or is
//!   skipped (an event name the converter does not read): it never yields other source ids. A signed delivery covers
//!   its body, id and time (5-minute window), so it cannot be replayed later at all.
//!
//! Storage deduplicates events by (integration, `source_id`), so GitLab's retries and replays change nothing. The
//! price: two deliveries with byte-identical bodies are one event; GitLab's bodies name the objects' ids, shas and
//! update times, so distinct activity does not repeat a body.
//!
//! # Keys
//!
//! Built from GitLab's numeric ids and the [`Instance`] name (the plugin's base URL host, for both paths; see
//! [`Instance`] for why not the payload's URLs):
//!
//! | concept | key |
//! |---|---|
//! | user | `gitlab:{instance}:user:{user id}` |
//! | project | `gitlab:{instance}:project:{project id}` |
//! | group | `gitlab:{instance}:group:{group id}` |
//! | issue | `gitlab:{instance}:issue:{issue id}` (the global `id`, not the per-project `iid`) |
//! | merge request | `gitlab:{instance}:merge_request:{merge request id}` |
//! | snippet | `gitlab:{instance}:snippet:{snippet id}` |
//! | branch, tag | `gitlab:{instance}:ref:{project id}:{full ref}`, e.g. `gitlab:gitlab.com:ref:15:refs/heads/main` |
//! | wiki page | `gitlab:{instance}:wiki_page:{project id}:{slug}` |
//! | release, pipeline, deployment | `gitlab:{instance}:{concept}:{id}` |
//!
//! Every event's metadata holds `instance`, and `project` (the project's key) where the payload names the project.
//!
//! # What each kind becomes
//!
//! Values count what happened, in one unit per kind (push: the commits; everything else 1 of its kind):
//!
//! | webhook (`X-Gitlab-Event`) | Events API `action_name` (`target_type`) | domain | action | actor | target | value / unit | blocks |
//! |---|---|---|---|---|---|---|---|
//! | `Push Hook` | `pushed to`, `pushed new` (branch), `pushed` | `repository` | `push` | `user_id` / author | project | `total_commits_count` (the `commits` array stops at 20) / Events API `push_data.commit_count` / `commits` | one per listed commit (webhook), 1 `commit` each |
//! | `Push Hook` (`after` all zeros), `Tag Push Hook` (same) | `deleted` (`push_data.action: removed`) | `repository` | `deleted` | pusher | branch or tag | 1 / `branch` or `tag` | |
//! | `Tag Push Hook` | `pushed new` (`ref_type: tag`) | `repository` | `created` | pusher | tag | 1 / `tag` | |
//! | `Merge Request Hook` | `opened`, `closed`, `accepted`, `approved` (`MergeRequest`) | `merge_request` | `opened` (`open`, `reopen`), `closed`, `merged` (`merge`, Events API `accepted`), `approved` (`approval`, `approved`), `unapproved`, `updated` | `user` / author | merge request | 1 / `merge_request` | |
//! | `Issue Hook`, `Confidential Issue Hook` | `opened`, `closed` (`Issue`, `WorkItem`) | `issue` | `opened` (`open`, `reopen`), `closed`, `updated` | `user` / author | issue | 1 / `issue` | |
//! | `Note Hook`, `Confidential Note Hook` | `commented on` (`Note`, `DiffNote`, `DiscussionNote`) | `comment` | `created`, `updated` (webhook `update` only) | `user` / author | the issue, merge request or snippet commented on; the project for a commit (the Events API does not name the commit; the webhook's sha is in `event_metadata.commit`) | 1 / `comment` | the comment |
//! | `Release Hook` | | `release` | `created`, `updated`, `deleted` | the project (the hook names no user) | release | 1 / `release` | |
//! | `Wiki Page Hook` | `created`, `updated`, `destroyed` (`WikiPage::Meta`) | `wiki` | `created`, `updated`, `deleted` | `user` / author | wiki page | 1 / `page` | |
//! | `Pipeline Hook` | | `pipeline` | the status: `succeeded` (`success`), `started` (`running`), else as written (`failed`, `canceled`, `pending`, ...) | `user` | pipeline | 1 / `pipeline` | |
//! | `Deployment Hook` | | `deployment` | the status, as for pipelines | `user` | deployment | 1 / `deployment` | |
//! | `Member Hook` (group) | | `member` | `joined`, `left`, `updated`, `access_requested`, `access_denied` | the member (the hook does not say who changed it) | group | 1 / `member` | |
//! | | `joined`, `left` (project membership) | `member` | `joined`, `left` | author | project | 1 / `member` | |
//! | | `created`, `destroyed` (no target, `Project`) | `project` | `created`, `deleted` | author | project | 1 / `project` | |
//!
//! A reopening is `opened` on both paths (the Events API cannot tell them apart); the webhook marks it with
//! `event_metadata.reopened`. Webhook `event_metadata.gitlab_action` and Events API `event_metadata.gitlab_action`
//! keep GitLab's own word. Every other webhook event name (`Job Hook`, `System Hook`, `Feature Flag Hook`, ...) is
//! skipped as [`SkipReason::UnsupportedType`](crate::convert::SkipReason::UnsupportedType) without reading the body;
//! actions and target types not listed are skipped as
//! [`SkipReason::UnsupportedAction`](crate::convert::SkipReason::UnsupportedAction), and other `action_name`s as
//! `UnsupportedType`.
//!
//! # Webhook dispatch and times
//!
//! The event name comes from `X-Gitlab-Event`; the body's `object_kind` (for member hooks, which have none, the
//! `event_name`) must agree, or the conversion fails naming `object_kind`. Without an event name the body's
//! `object_kind` decides; a body without one (a member event, which a system hook sends in the same shape) then needs
//! the event name ([`ConvertError::MissingInput`]).
//!
//! Webhook times: merge requests and issues their `updated_at`; notes their `created_at` (`updated_at` for
//! updates); releases `created_at` when created; pipelines `finished_at`, else `created_at`; deployments
//! `status_changed_at`; members `created_at` when joining, else `updated_at`; pushes, tags and wiki pages carry no
//! time of this occurrence: [`ConvertContext::received_at`]. Events API items: `created_at`. GitLab's time formats
//! (`2015-03-01 20:12:53 UTC`, `2021-04-28 21:50:00 +0200`, RFC 3339) are all read; an unreadable time falls back.
//!
//! # Errors
//!
//! The ids keys are built from are required: the user's (`user.id`, `user_id`, `author.id`/`author_id`), the
//! target's (`object_attributes.id`, `target_id`, `note.noteable_id`, ...), the project's where it is the target or
//! actor, the Events API item's `id`, `action_name` and `project_id`. Without one the conversion fails with
//! [`ConvertError::MissingField`] naming its dotted path. Every other
//! field may be missing, `null` or of another type.

mod build;
mod events_api;
mod instance;
mod json;
pub mod oauth;
mod plugin;
mod poll;
mod signature;
mod webhook;

use crate::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, refuse_unstorable_times};

pub use events_api::EVENTS_API_ACTIONS;
pub use instance::{BaseUrlError, GITLAB_COM, Instance};
pub use plugin::GitlabPlugin;
pub use poll::{DEFAULT_MAX_PAGES, DEFAULT_POLL_INTERVAL, GitlabPollRound, GitlabPoller};
pub use signature::{GitlabVerifier, SIGNING_TOKEN_PREFIX};

/// The plugin identifier and [`Event::service`](crate::model::Event::service) of GitLab.
pub const SERVICE: &str = "gitlab";

/// The webhook events (`X-Gitlab-Event` values) that [`GitlabConverter`] turns into events; any other is skipped.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "Confidential Issue Hook",
    "Confidential Note Hook",
    "Deployment Hook",
    "Issue Hook",
    "Member Hook",
    "Merge Request Hook",
    "Note Hook",
    "Pipeline Hook",
    "Push Hook",
    "Release Hook",
    "Tag Push Hook",
    "Wiki Page Hook",
];

/// The kinds an integration's `events` configuration may name: the [`Event::domain`](crate::model::Event::domain)s
/// of the events the converter makes.
pub const EVENT_KINDS: &[&str] = &[
    "repository",
    "merge_request",
    "issue",
    "comment",
    "release",
    "wiki",
    "pipeline",
    "deployment",
    "member",
    "project",
];

/// Converts GitLab payloads of one [`Instance`]: [`Payload::Webhook`] bodies (with their `X-Gitlab-Event` value as
/// `event`; the delivery id is not read) and [`Payload::Polled`] Events API items. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitlabConverter {
    instance: Instance,
}

impl GitlabConverter {
    /// The converter for payloads of `instance`, whose name its keys carry.
    pub fn new(instance: Instance) -> Self {
        Self { instance }
    }

    /// The instance named in the keys.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }
}

impl Converter for GitlabConverter {
    fn convert(&self, payload: Payload<'_>, context: &ConvertContext) -> Result<Conversion, ConvertError> {
        let build = build::Build {
            instance: &self.instance,
        };
        let conversion = match payload {
            Payload::Polled { body } => events_api::convert(build, body, context),
            Payload::Webhook { event, body, .. } => webhook::convert(build, event, body, context),
        };
        // A time no store could read back is refused, not stored.
        conversion.and_then(refuse_unstorable_times)
    }
}

#[cfg(test)]
mod tests {
    use super::webhook::Hook;
    use super::*;

    #[test]
    fn every_listed_webhook_event_is_read() {
        for name in WEBHOOK_EVENTS {
            assert!(Hook::from_header(name).is_some(), "{name}");
        }
        assert_eq!(Hook::from_header("System Hook"), None);
        assert_eq!(webhook::content_id(b"").len(), "sha256:".len() + 32);
        assert_eq!(
            webhook::content_id(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223",
            "FIPS 180-2's SHA-256 of `abc`, truncated"
        );
    }
}
