//! The activity kinds both paths share: which Events API `type` and webhook event name map to which payload type,
//! and how a payload is read (with the path of a failure) without buffering it first.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{Deserialize, DeserializeSeed, Deserializer};

use super::wire::{
    ActionPayload, CommitCommentPayload, ForkPayload, GollumPayload, IssueCommentPayload, IssuesPayload, MemberPayload,
    PullRequestPayload, Push, ReleasePayload, Repo, ReviewCommentPayload, ReviewPayload, User,
};
use crate::convert::{ConvertError, from_slice_seed};

/// One kind of activity, whichever path it came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Push,
    PullRequest,
    Issues,
    IssueComment,
    Create,
    Delete,
    Fork,
    /// `WatchEvent` / `watch`: starring a repository (GitHub's historic name).
    Watch,
    /// `star`: webhook only; its `created` is the same activity as `watch`'s `started`.
    Star,
    Release,
    Review,
    ReviewComment,
    CommitComment,
    Gollum,
    Member,
    Public,
}

/// `(Events API type, webhook event, kind)`; `star` has no Events API type of its own.
const NAMES: &[(Option<&str>, &str, Kind)] = &[
    (Some("PushEvent"), "push", Kind::Push),
    (Some("PullRequestEvent"), "pull_request", Kind::PullRequest),
    (Some("IssuesEvent"), "issues", Kind::Issues),
    (Some("IssueCommentEvent"), "issue_comment", Kind::IssueComment),
    (Some("CreateEvent"), "create", Kind::Create),
    (Some("DeleteEvent"), "delete", Kind::Delete),
    (Some("ForkEvent"), "fork", Kind::Fork),
    (Some("WatchEvent"), "watch", Kind::Watch),
    (None, "star", Kind::Star),
    (Some("ReleaseEvent"), "release", Kind::Release),
    (Some("PullRequestReviewEvent"), "pull_request_review", Kind::Review),
    (
        Some("PullRequestReviewCommentEvent"),
        "pull_request_review_comment",
        Kind::ReviewComment,
    ),
    (Some("CommitCommentEvent"), "commit_comment", Kind::CommitComment),
    (Some("GollumEvent"), "gollum", Kind::Gollum),
    (Some("MemberEvent"), "member", Kind::Member),
    (Some("PublicEvent"), "public", Kind::Public),
];

impl Kind {
    /// The kind of an Events API item's `type`, if converted.
    pub(crate) fn from_events_api(name: &str) -> Option<Self> {
        NAMES
            .iter()
            .find(|(events_api, _, _)| *events_api == Some(name))
            .map(|(_, _, kind)| *kind)
    }

    /// The kind of a webhook's `X-GitHub-Event`, if converted.
    pub(crate) fn from_webhook(name: &str) -> Option<Self> {
        NAMES
            .iter()
            .find(|(_, webhook, _)| *webhook == name)
            .map(|(_, _, kind)| *kind)
    }

    /// The Events API `type` of this kind: what the configuration's `events` field selects. `star` is the
    /// webhook twin of `WatchEvent`.
    pub(crate) fn events_api_name(self) -> &'static str {
        let kind = if self == Self::Star { Self::Watch } else { self };
        NAMES
            .iter()
            .find_map(|(events_api, _, named)| (*named == kind).then_some(*events_api).flatten())
            .unwrap_or("unknown")
    }

    /// Reads `body` as this kind's payload. On failure the body is read again with path tracking, and the error
    /// names the field as `prefix.path` (`payload.pull_request.id`; `prefix` may be empty).
    pub(crate) fn parse<'a>(self, body: &'a [u8], prefix: &str) -> Result<Activity<'a>, ConvertError> {
        from_slice_seed(self, body).map_err(|error| prefixed(error, prefix))
    }
}

/// Puts `prefix` in front of the path an error names (for payloads read apart from their item).
pub(crate) fn prefixed(error: ConvertError, prefix: &str) -> ConvertError {
    let join = |path: String| match (prefix.is_empty(), path.as_str()) {
        (true, _) => path,
        (false, ".") => prefix.to_owned(),
        (false, _) => format!("{prefix}.{path}"),
    };
    match error {
        ConvertError::MissingField { path } => ConvertError::MissingField { path: join(path) },
        ConvertError::InvalidField { path, message } => ConvertError::InvalidField {
            path: join(path),
            message,
        },
        other => other,
    }
}

impl<'de> DeserializeSeed<'de> for Kind {
    type Value = Activity<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Ok(match self {
            Self::Push => Activity::Push(Deserialize::deserialize(deserializer)?),
            Self::PullRequest => Activity::PullRequest(Deserialize::deserialize(deserializer)?),
            Self::Issues => Activity::Issues(Deserialize::deserialize(deserializer)?),
            Self::IssueComment => Activity::IssueComment(Deserialize::deserialize(deserializer)?),
            Self::Create => Activity::Create(Deserialize::deserialize(deserializer)?),
            Self::Delete => Activity::Delete(Deserialize::deserialize(deserializer)?),
            Self::Fork => Activity::Fork(Deserialize::deserialize(deserializer)?),
            Self::Watch => Activity::Watch(Deserialize::deserialize(deserializer)?),
            Self::Star => Activity::Star(Deserialize::deserialize(deserializer)?),
            Self::Release => Activity::Release(Deserialize::deserialize(deserializer)?),
            Self::Review => Activity::Review(Deserialize::deserialize(deserializer)?),
            Self::ReviewComment => Activity::ReviewComment(Deserialize::deserialize(deserializer)?),
            Self::CommitComment => Activity::CommitComment(Deserialize::deserialize(deserializer)?),
            Self::Gollum => Activity::Gollum(Deserialize::deserialize(deserializer)?),
            Self::Member => Activity::Member(Deserialize::deserialize(deserializer)?),
            Self::Public => Activity::Public(Deserialize::deserialize(deserializer)?),
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = NAMES
            .iter()
            .find(|(_, _, kind)| kind == self)
            .map_or("unknown", |(_, webhook, _)| webhook);
        f.write_str(name)
    }
}

/// A payload of one converted kind, read from either path.
#[derive(Debug)]
pub(crate) enum Activity<'a> {
    Push(Push<'a>),
    PullRequest(PullRequestPayload<'a>),
    Issues(IssuesPayload<'a>),
    IssueComment(IssueCommentPayload<'a>),
    Create(super::wire::RefPayload<'a>),
    Delete(super::wire::RefPayload<'a>),
    Fork(ForkPayload<'a>),
    Watch(ActionPayload<'a>),
    Star(ActionPayload<'a>),
    Release(ReleasePayload<'a>),
    Review(ReviewPayload<'a>),
    ReviewComment(ReviewCommentPayload<'a>),
    CommitComment(CommitCommentPayload<'a>),
    Gollum(GollumPayload<'a>),
    Member(MemberPayload<'a>),
    Public(ActionPayload<'a>),
}

impl<'a> Activity<'a> {
    /// The kind this payload was read as.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Self::Push(_) => Kind::Push,
            Self::PullRequest(_) => Kind::PullRequest,
            Self::Issues(_) => Kind::Issues,
            Self::IssueComment(_) => Kind::IssueComment,
            Self::Create(_) => Kind::Create,
            Self::Delete(_) => Kind::Delete,
            Self::Fork(_) => Kind::Fork,
            Self::Watch(_) => Kind::Watch,
            Self::Star(_) => Kind::Star,
            Self::Release(_) => Kind::Release,
            Self::Review(_) => Kind::Review,
            Self::ReviewComment(_) => Kind::ReviewComment,
            Self::CommitComment(_) => Kind::CommitComment,
            Self::Gollum(_) => Kind::Gollum,
            Self::Member(_) => Kind::Member,
            Self::Public(_) => Kind::Public,
        }
    }

    /// Takes the webhook envelope (`repository`, `sender`) out of the payload.
    pub(crate) fn take_envelope(&mut self) -> (Option<Repo<'a>>, Option<User<'a>>) {
        macro_rules! take {
            ($payload:expr) => {
                ($payload.repository.take(), $payload.sender.take())
            };
        }
        match self {
            Self::Push(p) => take!(p),
            Self::PullRequest(p) => take!(p),
            Self::Issues(p) => take!(p),
            Self::IssueComment(p) => take!(p),
            Self::Create(p) | Self::Delete(p) => take!(p),
            Self::Fork(p) => take!(p),
            Self::Watch(p) | Self::Star(p) | Self::Public(p) => take!(p),
            Self::Release(p) => take!(p),
            Self::Review(p) => take!(p),
            Self::ReviewComment(p) => take!(p),
            Self::CommitComment(p) => take!(p),
            Self::Gollum(p) => take!(p),
            Self::Member(p) => take!(p),
        }
    }

    /// The time a webhook payload gives for this occurrence, if any; see the module docs for the choice per kind.
    /// `repository` is the envelope's repository (already taken out of the payload).
    pub(crate) fn webhook_time(&self, repository: &Repo<'_>) -> Option<DateTime<Utc>> {
        match self {
            Self::Push(p) => repository
                .pushed_at
                .0
                .or_else(|| p.head_commit.as_ref().and_then(|commit| commit.timestamp.0)),
            Self::PullRequest(p) => p.pull_request.updated_at.0,
            Self::Issues(p) => p.issue.updated_at.0,
            Self::IssueComment(p) => comment_time(action_of(p.action.as_ref()), p.comment.as_ref()),
            Self::ReviewComment(p) => comment_time(action_of(p.action.as_ref()), p.comment.as_ref()),
            Self::CommitComment(p) => match action_of(p.action.as_ref()) {
                Some("edited") => p.comment.updated_at.0,
                Some("deleted") => None,
                _ => p.comment.created_at.0,
            },
            Self::Create(_) => repository.pushed_at.0,
            Self::Fork(p) => p.forkee.as_ref().and_then(|forkee| forkee.created_at.0),
            Self::Star(p) => p.starred_at.0,
            Self::Release(p) => match action_of(p.action.as_ref()) {
                Some("created") => p.release.created_at.0,
                Some("published" | "released" | "prereleased") => p.release.published_at.0,
                _ => None,
            },
            Self::Review(p) => match action_of(p.action.as_ref()) {
                Some("submitted") | None => p.review.as_ref().and_then(|review| review.submitted_at.0),
                Some(_) => p.pull_request.updated_at.0,
            },
            Self::Delete(_) | Self::Watch(_) | Self::Gollum(_) | Self::Member(_) | Self::Public(_) => None,
        }
    }
}

/// A comment's own time for the action: its creation for `created`, its last edit for `edited`, none for
/// `deleted` (the deletion time is not in the payload).
fn comment_time(action: Option<&str>, comment: Option<&super::wire::Comment<'_>>) -> Option<DateTime<Utc>> {
    let comment = comment?;
    match action {
        Some("edited") => comment.updated_at.0,
        Some("deleted") => None,
        _ => comment.created_at.0,
    }
}

fn action_of<'s>(action: Option<&'s super::wire::Str<'_>>) -> Option<&'s str> {
    action.map(super::wire::Str::as_str)
}
