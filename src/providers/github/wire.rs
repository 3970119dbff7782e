//! The parts of GitHub's JSON the converters read, as borrowing serde types.
//!
//! Only the fields a conversion uses are declared; serde skips the rest without building anything. Strings borrow
//! from the input where they can ([`Str`]); only strings with escapes are copied. Every field that does not
//! identify the event is optional, so a missing or `null` field falls back instead of failing.
//!
//! The same payload types serve both paths: an Events API item's `payload` and a webhook body share their fields,
//! and the webhook-only `repository` and `sender` are simply absent from Events API payloads.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, Visitor};

/// A JSON string that borrows from the input unless it holds escapes.
///
/// serde's own `Cow<str>` always copies unless it is a direct `#[serde(borrow)]` field; this one borrows inside
/// `Option` and `Vec` too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl Str<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// An identifier GitHub writes as a string (`"45193146633"`) and some producers as a number: both are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Id<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for IdVisitor<'a> {
            type Value = Id<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an unsigned integer")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Id(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Id(Cow::Owned(value.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                Ok(Id(Cow::Owned(value.to_string())))
            }
        }
        deserializer.deserialize_any(IdVisitor(std::marker::PhantomData))
    }
}

/// A timestamp: RFC 3339 strings and Unix seconds (push webhooks write `repository.pushed_at` as a number) are read;
/// `null`, a missing field or an unparsable string give `None`. A time outside years 1 to 9999 fails the conversion,
/// naming the field: stored, it could not be read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Time(pub(crate) Option<DateTime<Utc>>);

/// Why a time is refused.
const OUT_OF_RANGE: &str = "time outside years 1 to 9999";

/// `time`, unless it is outside what the model accepts.
fn storable<E: de::Error>(time: Option<DateTime<Utc>>) -> Result<Time, E> {
    match time {
        Some(time) if !crate::model::is_storable_time(&time) => Err(E::custom(OUT_OF_RANGE)),
        time => Ok(Time(time)),
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time, Unix seconds or null")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                storable(
                    DateTime::parse_from_rfc3339(value)
                        .ok()
                        .map(|time| time.with_timezone(&Utc)),
                )
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                match DateTime::from_timestamp(value, 0) {
                    None => Err(E::custom(OUT_OF_RANGE)),
                    time => storable(time),
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                match i64::try_from(value)
                    .ok()
                    .and_then(|secs| DateTime::from_timestamp(secs, 0))
                {
                    None => Err(E::custom(OUT_OF_RANGE)),
                    time => storable(time),
                }
            }
            fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Self::Value, E> {
                Ok(Time(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Time(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Time(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
                deserializer.deserialize_any(self)
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

/// A user: an Events API `actor`, a webhook `sender`, a `member`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct User<'a> {
    pub(crate) id: u64,
    #[serde(borrow)]
    pub(crate) login: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) avatar_url: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
}

/// A repository: an Events API `repo` (`name` is `owner/name` there) or a webhook `repository`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Repo<'a> {
    pub(crate) id: u64,
    #[serde(borrow)]
    pub(crate) name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) full_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    /// Webhooks only; `null` when the repository has none.
    #[serde(borrow)]
    pub(crate) description: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) pushed_at: Time,
}

/// One commit of a push: `sha` in the Events API, `id` in webhooks.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Commit<'a> {
    #[serde(borrow)]
    pub(crate) sha: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) message: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) timestamp: Time,
}

/// A push webhook's `head_commit`: only its time is read, for a repository without `pushed_at`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct HeadCommit {
    #[serde(default)]
    pub(crate) timestamp: Time,
}

/// `PushEvent` / `push`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Push<'a> {
    #[serde(rename = "ref", borrow)]
    pub(crate) git_ref: Option<Str<'a>>,
    /// Events API name of the new head.
    #[serde(borrow)]
    pub(crate) head: Option<Str<'a>>,
    /// Webhook name of the new head.
    #[serde(borrow)]
    pub(crate) after: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) before: Option<Str<'a>>,
    pub(crate) size: Option<u64>,
    #[serde(borrow)]
    pub(crate) commits: Option<Vec<Commit<'a>>>,
    /// Webhooks only: read for its time alone (the last of `commits` holds the rest).
    pub(crate) head_commit: Option<HeadCommit>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// A pull request, as `pull_request` of several payloads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PullRequest<'a> {
    pub(crate) id: u64,
    pub(crate) number: Option<u64>,
    #[serde(borrow)]
    pub(crate) title: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) body: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) state: Option<Str<'a>>,
    pub(crate) merged: Option<bool>,
    pub(crate) draft: Option<bool>,
    #[serde(default)]
    pub(crate) updated_at: Time,
}

/// An issue (or the issue side of a pull request), as `issue`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Issue<'a> {
    pub(crate) id: u64,
    pub(crate) number: Option<u64>,
    #[serde(borrow)]
    pub(crate) title: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) body: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) state: Option<Str<'a>>,
    /// Present (an object) when the issue is a pull request.
    pub(crate) pull_request: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) updated_at: Time,
}

/// A comment on an issue, a pull request diff or a commit.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Comment<'a> {
    pub(crate) id: Option<u64>,
    #[serde(borrow)]
    pub(crate) body: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) path: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) created_at: Time,
    #[serde(default)]
    pub(crate) updated_at: Time,
}

/// A commit comment: its `commit_id` identifies the target.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CommitComment<'a> {
    pub(crate) id: Option<u64>,
    #[serde(borrow)]
    pub(crate) commit_id: Str<'a>,
    #[serde(borrow)]
    pub(crate) body: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) path: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) created_at: Time,
    #[serde(default)]
    pub(crate) updated_at: Time,
}

/// `PullRequestEvent` / `pull_request`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PullRequestPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) pull_request: PullRequest<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// `IssuesEvent` / `issues`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct IssuesPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) issue: Issue<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// `IssueCommentEvent` / `issue_comment`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct IssueCommentPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) issue: Issue<'a>,
    #[serde(borrow)]
    pub(crate) comment: Option<Comment<'a>>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// `CreateEvent` / `create` and `DeleteEvent` / `delete`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RefPayload<'a> {
    #[serde(rename = "ref", borrow)]
    pub(crate) git_ref: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) ref_type: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// The new repository of a fork.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Forkee<'a> {
    pub(crate) id: Option<u64>,
    #[serde(borrow)]
    pub(crate) full_name: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) created_at: Time,
}

/// `ForkEvent` / `fork`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ForkPayload<'a> {
    #[serde(borrow)]
    pub(crate) forkee: Option<Forkee<'a>>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// Payloads with nothing but an action: `WatchEvent` / `watch`, `star`, `PublicEvent` / `public`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ActionPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    /// `star` only.
    #[serde(default)]
    pub(crate) starred_at: Time,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// A release.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Release<'a> {
    pub(crate) id: u64,
    #[serde(borrow)]
    pub(crate) tag_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) body: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    pub(crate) draft: Option<bool>,
    pub(crate) prerelease: Option<bool>,
    #[serde(default)]
    pub(crate) created_at: Time,
    #[serde(default)]
    pub(crate) published_at: Time,
}

/// `ReleaseEvent` / `release`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ReleasePayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) release: Release<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// A pull request review.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Review<'a> {
    pub(crate) id: Option<u64>,
    #[serde(borrow)]
    pub(crate) body: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) state: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) submitted_at: Time,
}

/// `PullRequestReviewEvent` / `pull_request_review`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ReviewPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) review: Option<Review<'a>>,
    #[serde(borrow)]
    pub(crate) pull_request: PullRequest<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// `PullRequestReviewCommentEvent` / `pull_request_review_comment`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ReviewCommentPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) comment: Option<Comment<'a>>,
    #[serde(borrow)]
    pub(crate) pull_request: PullRequest<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// `CommitCommentEvent` / `commit_comment`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CommitCommentPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) comment: CommitComment<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// One wiki page of a `GollumEvent` / `gollum`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Page<'a> {
    #[serde(borrow)]
    pub(crate) page_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) title: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) summary: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) sha: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) html_url: Option<Str<'a>>,
}

/// `GollumEvent` / `gollum`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct GollumPayload<'a> {
    #[serde(borrow)]
    pub(crate) pages: Option<Vec<Page<'a>>>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}

/// `MemberEvent` / `member`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct MemberPayload<'a> {
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) member: User<'a>,
    #[serde(borrow)]
    pub(crate) repository: Option<Repo<'a>>,
    #[serde(borrow)]
    pub(crate) sender: Option<User<'a>>,
}
