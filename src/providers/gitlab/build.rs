//! Keys and objects both paths share, so that one activity gives the same actor and target keys whether it came as
//! a webhook or from the Events API.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SERVICE;
use super::instance::Instance;
use super::json::Obj;
use crate::model::{Block, Event, Name, Object};

/// Builds keys and objects of one instance.
#[derive(Debug, Clone, Copy)]
pub(super) struct Build<'a> {
    pub(super) instance: &'a Instance,
}

/// The all-zero sha GitLab writes for "no commit" (`before` of a new branch, `after` of a deleted one).
pub(super) fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|byte| byte == b'0')
}

/// Whether a ref names a branch or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefType {
    Branch,
    Tag,
}

impl RefType {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Branch => "branch",
            Self::Tag => "tag",
        }
    }

    /// The full ref of `name`: webhooks send `refs/heads/main`, the Events API `main` with a `ref_type`.
    pub(super) fn full_ref(self, name: &str) -> String {
        if name.starts_with("refs/") {
            return name.to_owned();
        }
        match self {
            Self::Branch => format!("refs/heads/{name}"),
            Self::Tag => format!("refs/tags/{name}"),
        }
    }
}

/// The short name of a full ref: `main` for `refs/heads/main`.
pub(super) fn short_ref(full: &str) -> &str {
    full.strip_prefix("refs/heads/")
        .or_else(|| full.strip_prefix("refs/tags/"))
        .unwrap_or(full)
}

impl Build<'_> {
    /// `gitlab:{instance}:{concept}:{id}`.
    pub(super) fn key(&self, concept: &'static str, id: impl std::fmt::Display) -> String {
        format!("{SERVICE}:{}:{concept}:{id}", self.instance.name())
    }

    fn object(&self, concept: &'static str, id: impl std::fmt::Display) -> Object {
        Object::new(self.key(concept, id), concept, format!("{SERVICE}_{concept}"))
    }

    /// A user by id, with the username as title and the profile page as URL.
    pub(super) fn user(&self, id: u64, username: Option<&str>, name: Option<&str>, avatar: Option<&str>) -> Object {
        let mut object = self.object("user", id);
        object.title = username.map(str::to_owned);
        object.url = username.map(|username| format!("{}/{username}", self.instance.base_url()));
        object.image_url = avatar.map(str::to_owned);
        if let Some(name) = name {
            object.metadata.insert("name".into(), name.into());
        }
        object.metadata.insert("id".into(), id.into());
        object
    }

    /// A webhook's `user` object: `{id, name, username, avatar_url}`.
    pub(super) fn user_of(&self, user: Obj<'_>) -> Result<Object, crate::ConvertError> {
        Ok(self.user(
            user.req_u64("id")?,
            user.str("username"),
            user.str("name"),
            user.str("avatar_url"),
        ))
    }

    /// A project by id, with what `project` (a webhook's project object) says about it.
    pub(super) fn project(&self, id: u64, project: Option<Obj<'_>>) -> Object {
        let mut object = self.object("project", id);
        object.metadata.insert("id".into(), id.into());
        if let Some(project) = project {
            object.title = project.string("path_with_namespace").or_else(|| project.string("name"));
            object.content = project.string("description").filter(|text| !text.is_empty());
            object.url = project.string("web_url");
            object.image_url = project.string("avatar_url");
        }
        object
    }

    /// A group by id.
    pub(super) fn group(&self, id: u64, path: Option<&str>, name: Option<&str>) -> Object {
        let mut object = self.object("group", id);
        object.title = path.map(str::to_owned);
        object.url = path.map(|path| format!("{}/{path}", self.instance.base_url()));
        if let Some(name) = name {
            object.metadata.insert("name".into(), name.into());
        }
        object.metadata.insert("id".into(), id.into());
        object
    }

    /// A branch or tag of a project: `gitlab:{instance}:ref:{project id}:{full ref}`.
    pub(super) fn git_ref(&self, project_id: u64, full_ref: &str, ref_type: RefType) -> Object {
        let mut object = Object::new(
            self.key("ref", format_args!("{project_id}:{full_ref}")),
            ref_type.as_str(),
            format!("{SERVICE}_{}", ref_type.as_str()),
        );
        object.title = Some(short_ref(full_ref).to_owned());
        object.metadata.insert("ref".into(), full_ref.into());
        object.metadata.insert("project_id".into(), project_id.into());
        object
    }

    /// A work item (issue or merge request) by its global id; `attributes` is what a webhook says about it.
    pub(super) fn work_item(&self, concept: &'static str, id: u64, attributes: Option<Obj<'_>>) -> Object {
        let mut object = self.object(concept, id);
        object.metadata.insert("id".into(), id.into());
        if let Some(attributes) = attributes {
            object.title = attributes.string("title");
            object.content = attributes.string("description").filter(|text| !text.is_empty());
            object.url = attributes.string("url");
            object.time = attributes.time("updated_at");
            for field in ["iid", "state", "source_branch", "target_branch", "confidential"] {
                if let Some(value) = attributes
                    .get(field)
                    .filter(|value| !value.is_object() && !value.is_array())
                {
                    object.metadata.insert(field.into(), value.clone());
                }
            }
        }
        object
    }

    /// A snippet by id.
    pub(super) fn snippet(&self, id: u64, snippet: Option<Obj<'_>>) -> Object {
        let mut object = self.object("snippet", id);
        object.metadata.insert("id".into(), id.into());
        if let Some(snippet) = snippet {
            object.title = snippet.string("title");
            object.url = snippet.string("url");
            object.time = snippet.time("updated_at");
        }
        object
    }

    /// A wiki page of a project, by its slug (the page's path, which names it in URLs).
    pub(super) fn wiki_page(&self, project_id: u64, slug: &str, title: Option<&str>, url: Option<&str>) -> Object {
        let mut object = self.object("wiki_page", format_args!("{project_id}:{slug}"));
        object.title = title.map(str::to_owned);
        object.url = url.map(str::to_owned);
        object.metadata.insert("slug".into(), slug.into());
        object
    }

    /// Any other object kept by its numeric id (release, pipeline, deployment).
    pub(super) fn by_id(&self, concept: &'static str, id: u64) -> Object {
        let mut object = self.object(concept, id);
        object.metadata.insert("id".into(), id.into());
        object
    }

    /// An event of this service with the value every event of its kind has.
    #[allow(clippy::too_many_arguments, reason = "one constructor for every event of both paths")]
    pub(super) fn event(
        &self,
        source_id: String,
        time: DateTime<Utc>,
        domain: &'static str,
        action: impl Into<Name>,
        actor: Object,
        target: Object,
        value: i64,
        unit: &'static str,
    ) -> Event {
        let mut event = Event::new(source_id, time, SERVICE, domain, action, actor, target);
        event.value = Some(value);
        event.value_unit = Some(unit.into());
        event
            .event_metadata
            .insert("instance".into(), self.instance.name().into());
        event
    }
}

/// A comment as the block of its event.
pub(super) fn comment_block(body: Option<&str>, url: Option<&str>, time: Option<DateTime<Utc>>) -> Block {
    Block {
        time,
        title: Some("Comment".to_owned()),
        content: body.map(str::to_owned),
        url: url.map(str::to_owned),
        ..Block::default()
    }
}

/// A commit of a push as a block: 1 `commit`.
pub(super) fn commit_block(commit: Obj<'_>) -> Block {
    let sha = commit.str("id").unwrap_or_default();
    let title = commit
        .str("title")
        .or_else(|| commit.str("message").and_then(|message| message.lines().next()))
        .map(str::to_owned);
    Block {
        time: commit.time("timestamp"),
        title: title.or_else(|| Some(format!("Commit {}", sha.get(..8).unwrap_or(sha)))),
        content: commit.string("message"),
        url: commit.string("url"),
        value: Some(1),
        value_unit: Some("commit".into()),
        ..Block::default()
    }
}

/// A JSON number or string value, as metadata.
pub(super) fn scalar(value: Option<&Value>) -> Option<Value> {
    value
        .filter(|value| value.is_string() || value.is_number() || value.is_boolean())
        .cloned()
}
