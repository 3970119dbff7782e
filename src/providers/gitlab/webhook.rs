//! Webhook bodies to events: which hook a body is, then one event per body.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::build::{Build, RefType, comment_block, commit_block, is_zero_sha, scalar};
use super::json::{Obj, invalid};
use crate::convert::{Conversion, ConvertContext, ConvertError, SkipReason};
use crate::model::Event;

/// The webhook kinds the converter reads, by their `X-Gitlab-Event` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    Push,
    TagPush,
    MergeRequest,
    Issue,
    Note,
    Release,
    WikiPage,
    Pipeline,
    Deployment,
    Member,
}

impl Hook {
    /// The kind an `X-Gitlab-Event` value names; `None` for kinds the converter does not read.
    pub(super) fn from_header(header: &str) -> Option<Self> {
        Some(match header {
            "Push Hook" => Self::Push,
            "Tag Push Hook" => Self::TagPush,
            "Merge Request Hook" => Self::MergeRequest,
            "Issue Hook" | "Confidential Issue Hook" => Self::Issue,
            "Note Hook" | "Confidential Note Hook" => Self::Note,
            "Release Hook" => Self::Release,
            "Wiki Page Hook" => Self::WikiPage,
            "Pipeline Hook" => Self::Pipeline,
            "Deployment Hook" => Self::Deployment,
            "Member Hook" => Self::Member,
            _ => return None,
        })
    }

    /// The body's `object_kind` for this hook; member hooks have none.
    fn object_kind(self) -> Option<&'static str> {
        Some(match self {
            Self::Push => "push",
            Self::TagPush => "tag_push",
            Self::MergeRequest => "merge_request",
            Self::Issue => "issue",
            Self::Note => "note",
            Self::Release => "release",
            Self::WikiPage => "wiki_page",
            Self::Pipeline => "pipeline",
            Self::Deployment => "deployment",
            Self::Member => return None,
        })
    }

    fn from_object_kind(kind: &str) -> Option<Self> {
        [
            Self::Push,
            Self::TagPush,
            Self::MergeRequest,
            Self::Issue,
            Self::Note,
            Self::Release,
            Self::WikiPage,
            Self::Pipeline,
            Self::Deployment,
        ]
        .into_iter()
        .find(|hook| hook.object_kind() == Some(kind))
    }
}

/// The body's kind: its `object_kind`, or for bodies without one (member events) its `event_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind<'a> {
    ObjectKind(&'a str),
    /// A group membership event (`user_add_to_group`, ...): a `Member Hook`, or the same body as a `System Hook`.
    Membership(&'a str),
    Unknown,
}

fn body_kind<'a>(root: Obj<'a>) -> BodyKind<'a> {
    if let Some(kind) = root.str("object_kind") {
        return BodyKind::ObjectKind(kind);
    }
    match root.str("event_name") {
        Some(name) if name.starts_with("user_") && name.contains("group") => BodyKind::Membership(name),
        _ => BodyKind::Unknown,
    }
}

/// `sha256:` and the first 32 hex digits (128 bits) of the SHA-256 of the raw body: the `source_id` of every
/// webhook event, the same for the same bytes whatever delivery id or event name they arrive with.
pub(super) fn content_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut id = String::with_capacity(7 + 32);
    id.push_str("sha256:");
    for byte in &digest[..16] {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

pub(super) fn convert(
    build: Build<'_>,
    header: Option<&str>,
    body: &[u8],
    context: &ConvertContext,
) -> Result<Conversion, ConvertError> {
    let header = header.filter(|header| !header.is_empty());
    // An event name the converter does not read is skipped without parsing the body.
    let expected = match header {
        Some(header) => match Hook::from_header(header) {
            Some(hook) => Some(hook),
            None => return Ok(Conversion::Skipped(SkipReason::UnsupportedType(header.to_owned()))),
        },
        None => None,
    };
    let value: Value = serde_json::from_slice(body).map_err(|error| ConvertError::from_serde(".".into(), &error))?;
    let root = Obj::root(&value)?;
    let kind = body_kind(root);
    let hook = match (expected, kind) {
        (Some(Hook::Member), BodyKind::Membership(_)) => Hook::Member,
        (Some(hook), BodyKind::ObjectKind(kind)) if hook.object_kind() == Some(kind) => hook,
        (Some(hook), kind) => {
            let found = match kind {
                BodyKind::ObjectKind(kind) => format!("`object_kind` `{kind}`"),
                BodyKind::Membership(name) => format!("`event_name` `{name}`"),
                BodyKind::Unknown => "no `object_kind`".to_owned(),
            };
            let header = header.unwrap_or_default();
            let path = if hook == Hook::Member {
                "event_name"
            } else {
                "object_kind"
            };
            return Err(invalid(
                path.to_owned(),
                &format!("{found} does not match the X-Gitlab-Event `{header}`"),
            ));
        }
        (None, BodyKind::ObjectKind(kind)) => match Hook::from_object_kind(kind) {
            Some(hook) => hook,
            None => return Ok(Conversion::Skipped(SkipReason::UnsupportedType(kind.to_owned()))),
        },
        (None, BodyKind::Membership(_) | BodyKind::Unknown) => {
            return Err(ConvertError::MissingInput {
                what: "the webhook event name (X-Gitlab-Event header): the body has no `object_kind` to tell it by",
            });
        }
    };
    let source_id = content_id(body);
    let webhook = Webhook {
        build,
        root,
        source_id,
        received_at: context.received_at,
    };
    let event = match hook {
        Hook::Push | Hook::TagPush => webhook.push(hook == Hook::TagPush)?,
        Hook::MergeRequest => webhook.work_item("merge_request")?,
        Hook::Issue => webhook.work_item("issue")?,
        Hook::Note => webhook.note()?,
        Hook::Release => webhook.release()?,
        Hook::WikiPage => webhook.wiki_page()?,
        Hook::Pipeline => webhook.pipeline()?,
        Hook::Deployment => webhook.deployment()?,
        Hook::Member => webhook.member()?,
    };
    Ok(match event {
        Ok(event) => Conversion::Converted(vec![event]),
        Err(reason) => Conversion::Skipped(reason),
    })
}

/// What every conversion of one body needs.
struct Webhook<'a> {
    build: Build<'a>,
    root: Obj<'a>,
    source_id: String,
    received_at: DateTime<Utc>,
}

/// An event, or why the body is skipped.
type Outcome = Result<Event, SkipReason>;

/// `opened` for GitLab's `open` and `reopen` (the Events API reports a reopening as `opened` too), and the other
/// work item actions in the past tense.
pub(super) fn work_item_action(action: &str) -> Option<&'static str> {
    Some(match action {
        "open" | "reopen" => "opened",
        "close" => "closed",
        "update" => "updated",
        "merge" => "merged",
        "approved" | "approval" => "approved",
        "unapproved" | "unapproval" => "unapproved",
        _ => return None,
    })
}

/// A pipeline's or deployment's status as an action: `succeeded` for `success`, `started` for `running`, and the
/// status itself otherwise (`failed`, `canceled`, `pending`, ...).
fn status_action(status: &str) -> &str {
    match status {
        "success" => "succeeded",
        "running" => "started",
        other => other,
    }
}

impl Webhook<'_> {
    fn project_id(&self) -> Result<u64, ConvertError> {
        match self.root.u64("project_id") {
            Some(id) => Ok(id),
            None => self.root.req_obj("project", "project")?.req_u64("id"),
        }
    }

    fn actor(&self) -> Result<crate::model::Object, ConvertError> {
        self.build.user_of(self.root.req_obj("user", "user")?)
    }

    /// The project's key in the event metadata, when the body names the project's id.
    fn with_project(&self, mut event: Event) -> Event {
        if let Ok(id) = self.project_id() {
            event
                .event_metadata
                .insert("project".into(), self.build.key("project", id).into());
        }
        if let Some(path) = self
            .root
            .obj("project", "project")
            .and_then(|project| project.str("path_with_namespace"))
        {
            event.event_metadata.insert("project_path".into(), path.into());
        }
        event
    }

    fn push(&self, tag_push: bool) -> Result<Outcome, ConvertError> {
        let root = self.root;
        let project_id = self.project_id()?;
        let actor = self.build.user(
            root.req_u64("user_id")?,
            root.str("user_username"),
            root.str("user_name"),
            root.str("user_avatar"),
        );
        let full_ref = root.req_str("ref")?;
        let ref_type = if tag_push || full_ref.starts_with("refs/tags/") {
            RefType::Tag
        } else {
            RefType::Branch
        };
        let before = root.str("before").unwrap_or_default();
        let after = root.str("after").unwrap_or_default();
        let git_ref = self.build.git_ref(project_id, &ref_type.full_ref(full_ref), ref_type);
        let mut event = if is_zero_sha(after) {
            self.build.event(
                self.source_id.clone(),
                self.received_at,
                "repository",
                "deleted",
                actor,
                git_ref,
                1,
                ref_type.as_str(),
            )
        } else if ref_type == RefType::Tag {
            self.build.event(
                self.source_id.clone(),
                self.received_at,
                "repository",
                "created",
                actor,
                git_ref,
                1,
                "tag",
            )
        } else {
            let commits = root.array("commits");
            let count = root.u64("total_commits_count").unwrap_or(commits.len() as u64);
            let project = self.build.project(project_id, root.obj("project", "project"));
            let mut event = self.build.event(
                self.source_id.clone(),
                self.received_at,
                "repository",
                "push",
                actor,
                project,
                i64::try_from(count).unwrap_or(i64::MAX),
                "commits",
            );
            event.blocks = commits
                .iter()
                .filter_map(|commit| match commit {
                    Value::Object(map) => Some(commit_block(Obj { map, path: "commits" })),
                    _ => None,
                })
                .collect();
            event
                .event_metadata
                .insert("new_ref".into(), is_zero_sha(before).into());
            event
        };
        let metadata = &mut event.event_metadata;
        metadata.insert("ref".into(), ref_type.full_ref(full_ref).into());
        metadata.insert("ref_type".into(), ref_type.as_str().into());
        for (name, sha) in [("before", before), ("after", after)] {
            if !sha.is_empty() {
                metadata.insert(name.into(), sha.into());
            }
        }
        Ok(Ok(self.with_project(event)))
    }

    /// A merge request or issue event: the target is the work item by its global id.
    fn work_item(&self, concept: &'static str) -> Result<Outcome, ConvertError> {
        let attributes = self.root.req_obj("object_attributes", "object_attributes")?;
        let id = attributes.req_u64("id")?;
        let action_name = attributes.str("action");
        let action = match action_name {
            None => "updated",
            Some(name) => match work_item_action(name) {
                Some(action) => action,
                None => {
                    return Ok(Err(SkipReason::UnsupportedAction {
                        kind: concept.to_owned(),
                        action: name.to_owned(),
                    }));
                }
            },
        };
        let actor = self.actor()?;
        let target = self.build.work_item(concept, id, Some(attributes));
        let time = attributes.time("updated_at").unwrap_or(self.received_at);
        let mut event = self
            .build
            .event(self.source_id.clone(), time, concept, action, actor, target, 1, concept);
        if action_name == Some("reopen") {
            event.event_metadata.insert("reopened".into(), true.into());
        }
        if let Some(name) = action_name {
            event.event_metadata.insert("gitlab_action".into(), name.into());
        }
        Ok(Ok(self.with_project(event)))
    }

    fn note(&self) -> Result<Outcome, ConvertError> {
        let attributes = self.root.req_obj("object_attributes", "object_attributes")?;
        let note_id = attributes.req_u64("id")?;
        let noteable_type = attributes.req_str("noteable_type")?;
        let action = match attributes.str("action") {
            None | Some("create") => "created",
            Some("update") => "updated",
            Some(other) => {
                return Ok(Err(SkipReason::UnsupportedAction {
                    kind: "note".to_owned(),
                    action: other.to_owned(),
                }));
            }
        };
        // The noteable's own object, when the body carries it, for its title and URL.
        let by_id = |field: &str, path: &'static str| -> Result<(u64, Option<Obj<'_>>), ConvertError> {
            let object = self.root.obj(field, path);
            let id = match (
                object.and_then(|object| object.u64("id")),
                attributes.u64("noteable_id"),
            ) {
                (Some(id), _) | (None, Some(id)) => id,
                (None, None) => attributes.req_u64("noteable_id")?,
            };
            Ok((id, object))
        };
        let mut commit = None;
        let target = match noteable_type {
            "Issue" => {
                let (id, issue) = by_id("issue", "issue")?;
                self.build.work_item("issue", id, issue)
            }
            "MergeRequest" => {
                let (id, merge_request) = by_id("merge_request", "merge_request")?;
                self.build.work_item("merge_request", id, merge_request)
            }
            kind if kind.ends_with("Snippet") => {
                let (id, snippet) = by_id("snippet", "snippet")?;
                self.build.snippet(id, snippet)
            }
            "Commit" => {
                commit = attributes
                    .str("commit_id")
                    .or_else(|| self.root.obj("commit", "commit").and_then(|commit| commit.str("id")));
                self.build
                    .project(self.project_id()?, self.root.obj("project", "project"))
            }
            other => {
                return Ok(Err(SkipReason::UnsupportedAction {
                    kind: "note".to_owned(),
                    action: other.to_owned(),
                }));
            }
        };
        let actor = self.actor()?;
        let created_at = attributes.time("created_at");
        let time = match action {
            "updated" => attributes.time("updated_at").or(created_at),
            _ => created_at,
        }
        .unwrap_or(self.received_at);
        let mut event = self.build.event(
            self.source_id.clone(),
            time,
            "comment",
            action,
            actor,
            target,
            1,
            "comment",
        );
        event
            .blocks
            .push(comment_block(attributes.str("note"), attributes.str("url"), created_at));
        let metadata = &mut event.event_metadata;
        metadata.insert("note_id".into(), note_id.into());
        metadata.insert("noteable_type".into(), noteable_type.into());
        if let Some(sha) = commit {
            metadata.insert("commit".into(), sha.into());
        }
        if let Some(system) = attributes.bool("system") {
            metadata.insert("system".into(), system.into());
        }
        Ok(Ok(self.with_project(event)))
    }

    /// Release hooks name no user: the project is the actor.
    fn release(&self) -> Result<Outcome, ConvertError> {
        let root = self.root;
        let id = root.req_u64("id")?;
        let action = match root.str("action") {
            Some("create") => "created",
            Some("update") => "updated",
            Some("delete") => "deleted",
            None => "updated",
            Some(other) => {
                return Ok(Err(SkipReason::UnsupportedAction {
                    kind: "release".to_owned(),
                    action: other.to_owned(),
                }));
            }
        };
        let actor = self.build.project(self.project_id()?, root.obj("project", "project"));
        let mut target = self.build.by_id("release", id);
        target.title = root.string("name").or_else(|| root.string("tag"));
        target.content = root.string("description");
        target.url = root.string("url");
        target.time = root.time("released_at");
        if let Some(tag) = root.str("tag") {
            target.metadata.insert("tag".into(), tag.into());
        }
        let time = match action {
            "created" => root.time("created_at"),
            _ => None,
        }
        .unwrap_or(self.received_at);
        let event = self.build.event(
            self.source_id.clone(),
            time,
            "release",
            action,
            actor,
            target,
            1,
            "release",
        );
        Ok(Ok(self.with_project(event)))
    }

    fn wiki_page(&self) -> Result<Outcome, ConvertError> {
        let attributes = self.root.req_obj("object_attributes", "object_attributes")?;
        let slug = attributes.req_str("slug")?;
        let action = match attributes.str("action") {
            Some("create") => "created",
            Some("update") | None => "updated",
            Some("delete") => "deleted",
            Some(other) => {
                return Ok(Err(SkipReason::UnsupportedAction {
                    kind: "wiki_page".to_owned(),
                    action: other.to_owned(),
                }));
            }
        };
        let actor = self.actor()?;
        let target = self
            .build
            .wiki_page(self.project_id()?, slug, attributes.str("title"), attributes.str("url"));
        let event = self.build.event(
            self.source_id.clone(),
            self.received_at,
            "wiki",
            action,
            actor,
            target,
            1,
            "page",
        );
        Ok(Ok(self.with_project(event)))
    }

    fn pipeline(&self) -> Result<Outcome, ConvertError> {
        let attributes = self.root.req_obj("object_attributes", "object_attributes")?;
        let id = attributes.req_u64("id")?;
        let status = attributes.req_str("status")?;
        let actor = self.actor()?;
        let mut target = self.build.by_id("pipeline", id);
        target.title = attributes
            .str("ref")
            .map(|git_ref| format!("Pipeline #{id} on {git_ref}"));
        target.url = attributes.string("url");
        target.metadata.insert("status".into(), status.into());
        let time = attributes
            .time("finished_at")
            .or_else(|| attributes.time("created_at"))
            .unwrap_or(self.received_at);
        let mut event = self.build.event(
            self.source_id.clone(),
            time,
            "pipeline",
            status_action(status).to_owned(),
            actor,
            target,
            1,
            "pipeline",
        );
        for field in ["ref", "sha", "source", "duration"] {
            if let Some(value) = scalar(attributes.get(field)) {
                event.event_metadata.insert(field.into(), value);
            }
        }
        Ok(Ok(self.with_project(event)))
    }

    fn deployment(&self) -> Result<Outcome, ConvertError> {
        let root = self.root;
        let id = root.req_u64("deployment_id")?;
        let status = root.req_str("status")?;
        let actor = self.actor()?;
        let mut target = self.build.by_id("deployment", id);
        target.title = root.string("environment");
        target.url = root.string("deployable_url");
        target.metadata.insert("status".into(), status.into());
        let time = root.time("status_changed_at").unwrap_or(self.received_at);
        let mut event = self.build.event(
            self.source_id.clone(),
            time,
            "deployment",
            status_action(status).to_owned(),
            actor,
            target,
            1,
            "deployment",
        );
        for field in ["environment", "ref", "short_sha", "commit_url"] {
            if let Some(value) = scalar(root.get(field)) {
                event.event_metadata.insert(field.into(), value);
            }
        }
        Ok(Ok(self.with_project(event)))
    }

    /// A group membership change: the member is the actor (the body does not say who made the change).
    fn member(&self) -> Result<Outcome, ConvertError> {
        let root = self.root;
        let event_name = root.req_str("event_name")?;
        let action = match event_name {
            "user_add_to_group" => "joined",
            "user_remove_from_group" => "left",
            "user_update_for_group" => "updated",
            "user_access_request_to_group" => "access_requested",
            "user_access_request_denied_for_group" => "access_denied",
            other => {
                return Ok(Err(SkipReason::UnsupportedAction {
                    kind: "member".to_owned(),
                    action: other.to_owned(),
                }));
            }
        };
        let actor = self.build.user(
            root.req_u64("user_id")?,
            root.str("user_username"),
            root.str("user_name"),
            None,
        );
        let target = self.build.group(
            root.req_u64("group_id")?,
            root.str("group_path"),
            root.str("group_name"),
        );
        let time = match action {
            "joined" => root.time("created_at"),
            _ => root.time("updated_at"),
        }
        .unwrap_or(self.received_at);
        let mut event = self.build.event(
            self.source_id.clone(),
            time,
            "member",
            action,
            actor,
            target,
            1,
            "member",
        );
        for field in ["group_access", "expires_at"] {
            if let Some(value) = scalar(root.get(field)) {
                event.event_metadata.insert(field.into(), value);
            }
        }
        Ok(Ok(event))
    }
}
