//! Events API items (`GET /projects/:id/events`) to events, by `action_name` and `target_type`.

use serde_json::Value;

use super::build::{Build, RefType, comment_block, scalar};
use super::json::{Obj, invalid};
use crate::convert::{Conversion, ConvertContext, ConvertError, SkipReason};
use crate::model::Object;

/// The Events API `action_name`s the converter reads (with the `target_type`s the module docs list).
pub const EVENTS_API_ACTIONS: &[&str] = &[
    "accepted",
    "approved",
    "closed",
    "commented on",
    "created",
    "deleted",
    "destroyed",
    "joined",
    "left",
    "opened",
    "pushed",
    "pushed new",
    "pushed to",
    "updated",
];

/// The id of an item: GitLab writes a number; a string of digits is read too.
pub(super) fn item_id(item: Obj<'_>) -> Result<String, ConvertError> {
    match item.get("id") {
        Some(Value::Number(number)) if number.is_u64() => Ok(number.to_string()),
        Some(Value::String(text)) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => Ok(text.clone()),
        Some(_) => Err(invalid("id".to_owned(), "expected a numeric event id")),
        None => Err(ConvertError::MissingField { path: "id".to_owned() }),
    }
}

fn skip(action: &str, target_type: Option<&str>) -> Conversion {
    Conversion::Skipped(SkipReason::UnsupportedAction {
        kind: target_type.unwrap_or("(no target)").to_owned(),
        action: action.to_owned(),
    })
}

pub(super) fn convert(build: Build<'_>, body: &[u8], context: &ConvertContext) -> Result<Conversion, ConvertError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| ConvertError::from_serde(".".into(), &error))?;
    let item = Obj::root(&value)?;
    let source_id = item_id(item)?;
    let action_name = item.req_str("action_name")?;
    if !EVENTS_API_ACTIONS.contains(&action_name) {
        return Ok(Conversion::Skipped(SkipReason::UnsupportedType(action_name.to_owned())));
    }
    let target_type = item.str("target_type");
    let project_id = item.req_u64("project_id")?;
    let author = item.obj("author", "author");
    let author_id = match (author.and_then(|author| author.u64("id")), item.u64("author_id")) {
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => item.req_u64("author_id")?,
    };
    let actor = build.user(
        author_id,
        author
            .and_then(|author| author.str("username"))
            .or_else(|| item.str("author_username")),
        author.and_then(|author| author.str("name")),
        author.and_then(|author| author.str("avatar_url")),
    );
    let time = item.time("created_at").unwrap_or(context.received_at);
    let project = || build.project(project_id, None);
    let target_id = || item.req_u64("target_id");
    let target_title = item.str("target_title");
    let titled = |mut object: Object| {
        object.title = target_title.map(str::to_owned);
        object
    };

    let (domain, action, target, value, unit) = match (action_name, target_type) {
        ("pushed" | "pushed to" | "pushed new" | "deleted", _) => {
            let push = item.req_obj("push_data", "push_data")?;
            let ref_type = match push.str("ref_type") {
                Some("tag") => RefType::Tag,
                _ => RefType::Branch,
            };
            let full_ref = ref_type.full_ref(push.req_str("ref")?);
            let git_ref = || build.git_ref(project_id, &full_ref, ref_type);
            let mut event = match (push.str("action"), ref_type) {
                (Some("removed"), _) => build.event(
                    source_id,
                    time,
                    "repository",
                    "deleted",
                    actor,
                    git_ref(),
                    1,
                    ref_type.as_str(),
                ),
                (Some("created"), RefType::Tag) => {
                    build.event(source_id, time, "repository", "created", actor, git_ref(), 1, "tag")
                }
                _ => {
                    let count = push.u64("commit_count").unwrap_or(0);
                    let mut event = build.event(
                        source_id,
                        time,
                        "repository",
                        "push",
                        actor,
                        project(),
                        i64::try_from(count).unwrap_or(i64::MAX),
                        "commits",
                    );
                    event
                        .event_metadata
                        .insert("new_ref".into(), (push.str("action") == Some("created")).into());
                    event
                }
            };
            let metadata = &mut event.event_metadata;
            metadata.insert("ref".into(), full_ref.clone().into());
            metadata.insert("ref_type".into(), ref_type.as_str().into());
            for (name, field) in [
                ("before", "commit_from"),
                ("after", "commit_to"),
                ("commit_title", "commit_title"),
            ] {
                if let Some(value) = scalar(push.get(field)) {
                    metadata.insert(name.into(), value);
                }
            }
            metadata.insert("project".into(), build.key("project", project_id).into());
            metadata.insert("gitlab_action".into(), action_name.into());
            return Ok(Conversion::Converted(vec![event]));
        }
        ("opened" | "closed", Some(kind @ ("Issue" | "MergeRequest" | "WorkItem"))) => {
            let concept = concept_of(kind);
            let target = titled(build.work_item(concept, target_id()?, None));
            (concept, action_name, target, 1, concept)
        }
        ("accepted", Some("MergeRequest")) => {
            let target = titled(build.work_item("merge_request", target_id()?, None));
            ("merge_request", "merged", target, 1, "merge_request")
        }
        ("approved", Some("MergeRequest")) => {
            let target = titled(build.work_item("merge_request", target_id()?, None));
            ("merge_request", "approved", target, 1, "merge_request")
        }
        ("commented on", _) => return comment(build, item, source_id, time, actor, project_id),
        ("created" | "updated" | "destroyed", Some("WikiPage::Meta")) => {
            let page = item.req_obj("wiki_page", "wiki_page")?;
            let slug = page.req_str("slug")?;
            let target = build.wiki_page(project_id, slug, page.str("title").or(target_title), None);
            let action = if action_name == "destroyed" {
                "deleted"
            } else {
                action_name
            };
            ("wiki", action, target, 1, "page")
        }
        ("created" | "destroyed", None | Some("Project")) => {
            let action = if action_name == "destroyed" {
                "deleted"
            } else {
                "created"
            };
            ("project", action, project(), 1, "project")
        }
        ("joined" | "left", _) => ("member", action_name, project(), 1, "member"),
        _ => return Ok(skip(action_name, target_type)),
    };
    let mut event = build.event(source_id, time, domain, action.to_owned(), actor, target, value, unit);
    event
        .event_metadata
        .insert("project".into(), build.key("project", project_id).into());
    event.event_metadata.insert("gitlab_action".into(), action_name.into());
    Ok(Conversion::Converted(vec![event]))
}

fn concept_of(target_type: &str) -> &'static str {
    match target_type {
        "MergeRequest" => "merge_request",
        _ => "issue",
    }
}

/// `commented on`: the target is what the note is on (an issue, a merge request, a snippet), by its id; a comment on
/// a commit targets the project, since the Events API does not say which commit.
fn comment(
    build: Build<'_>,
    item: Obj<'_>,
    source_id: String,
    time: chrono::DateTime<chrono::Utc>,
    actor: Object,
    project_id: u64,
) -> Result<Conversion, ConvertError> {
    let note = item.req_obj("note", "note")?;
    let noteable_type = note.req_str("noteable_type")?;
    let target = match noteable_type {
        "Issue" | "WorkItem" => build.work_item("issue", note.req_u64("noteable_id")?, None),
        "MergeRequest" => build.work_item("merge_request", note.req_u64("noteable_id")?, None),
        kind if kind.ends_with("Snippet") => build.snippet(note.req_u64("noteable_id")?, None),
        "Commit" => build.project(project_id, None),
        other => return Ok(skip("commented on", Some(other))),
    };
    let mut target = target;
    if target.concept != "project" {
        target.title = item.string("target_title");
    }
    let mut event = build.event(source_id, time, "comment", "created", actor, target, 1, "comment");
    event
        .blocks
        .push(comment_block(note.str("body"), None, note.time("created_at")));
    let metadata = &mut event.event_metadata;
    if let Some(id) = note.u64("id") {
        metadata.insert("note_id".into(), id.into());
    }
    metadata.insert("noteable_type".into(), noteable_type.into());
    if let Some(system) = note.bool("system") {
        metadata.insert("system".into(), system.into());
    }
    metadata.insert("project".into(), build.key("project", project_id).into());
    metadata.insert("gitlab_action".into(), "commented on".into());
    Ok(Conversion::Converted(vec![event]))
}
