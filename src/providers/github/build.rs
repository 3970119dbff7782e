//! From a read payload to an [`Event`]: the same code for both paths, so that one activity gives the same domain,
//! action, actor key and target key whether it came as a webhook or from the Events API.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SERVICE;
use super::activity::Activity;
use super::wire::{Comment, Issue, PullRequest, RefPayload, Repo, Str, User};
use crate::convert::ConvertError;
use crate::model::{Block, Event, Metadata, Object};
use crate::text::concat;

/// What both paths know besides the payload: who, where, which occurrence and when.
pub(crate) struct Common<'a> {
    pub(crate) source_id: String,
    pub(crate) time: DateTime<Utc>,
    pub(crate) actor: User<'a>,
    pub(crate) repo: Repo<'a>,
    /// The dotted path of the payload in the input (`payload` for Events API items, empty for webhooks), to name
    /// fields in errors.
    pub(crate) payload_path: &'static str,
}

fn text(value: Option<&Str<'_>>) -> Option<String> {
    value.map(|value| value.as_str().to_owned())
}

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn count(value: u64) -> Value {
    Value::from(value)
}

/// The key of an object GitHub numbers: `github:{kind}:{id}`.
fn numbered_key(kind: &str, id: u64) -> String {
    concat(&[SERVICE, ":", kind, ":", itoa::Buffer::new().format(id)])
}

/// The key of a user: `github:user:{id}`.
fn user_key(id: u64) -> String {
    numbered_key("user", id)
}

/// The key of a repository: `github:repository:{id}`.
fn repo_key(id: u64) -> String {
    numbered_key("repository", id)
}

/// `https://github.com/{path}`.
fn github_url(path: &[&str]) -> String {
    let mut url = String::with_capacity(GITHUB.len() + path.iter().map(|part| part.len()).sum::<usize>());
    url.push_str(GITHUB);
    for part in path {
        url.push_str(part);
    }
    url
}

const GITHUB: &str = "https://github.com/";

/// `{label} {id}`, or `label` alone without an id: a block's title.
fn numbered_title(label: &str, id: Option<u64>) -> String {
    match id {
        Some(id) => concat(&[label, " ", itoa::Buffer::new().format(id)]),
        None => label.to_owned(),
    }
}

/// `github_id`: GitHub's numeric id of an object, in its metadata.
fn github_id(object: &mut Object, id: u64) {
    object.metadata.insert("github_id".into(), count(id));
}

pub(crate) fn user_object(user: &User<'_>) -> Object {
    let mut object = Object::new(user_key(user.id), "user", "github_user");
    github_id(&mut object, user.id);
    if let Some(avatar) = &user.avatar_url {
        object.metadata.insert("avatar_url".into(), avatar.as_str().into());
    }
    object.title = text(user.login.as_ref());
    object.url = text(user.html_url.as_ref()).or_else(|| {
        user.login
            .as_ref()
            .map(|login| match login.as_str().strip_suffix("[bot]") {
                Some(app) => github_url(&["apps/", app]),
                None => github_url(&[login.as_str()]),
            })
    });
    object.image_url = text(user.avatar_url.as_ref());
    object
}

/// `owner/name`: webhooks say `full_name`, the Events API says `name`.
fn repo_full_name<'r>(repo: &'r Repo<'_>) -> Option<&'r str> {
    repo.full_name.as_ref().or(repo.name.as_ref()).map(Str::as_str)
}

/// The repository as an object, under its `key` ([`repo_key`]).
fn repo_object(repo: &Repo<'_>, key: String) -> Object {
    let mut object = Object::new(key, "repository", "github_repository");
    github_id(&mut object, repo.id);
    let full_name = repo_full_name(repo);
    if let Some(name) = full_name {
        object.metadata.insert("full_name".into(), name.into());
    }
    object.title = full_name.map(str::to_owned);
    object.content = text(repo.description.as_ref()).filter(|description| !description.is_empty());
    object.url = text(repo.html_url.as_ref()).or_else(|| full_name.map(|name| github_url(&[name])));
    object
}

fn pull_request_object(pr: &PullRequest<'_>) -> Object {
    let mut object = Object::new(
        numbered_key("pull_request", pr.id),
        "pull_request",
        "github_pull_request",
    );
    github_id(&mut object, pr.id);
    object.title = text(pr.title.as_ref());
    object.content = text(pr.body.as_ref());
    object.url = text(pr.html_url.as_ref());
    object.time = pr.updated_at.0;
    if let Some(number) = pr.number {
        object.metadata.insert("number".into(), count(number));
    }
    if let Some(state) = &pr.state {
        object.metadata.insert("state".into(), state.as_str().into());
    }
    if let Some(merged) = pr.merged {
        object.metadata.insert("merged".into(), merged.into());
    }
    if let Some(draft) = pr.draft {
        object.metadata.insert("draft".into(), draft.into());
    }
    object
}

fn issue_object(issue: &Issue<'_>) -> Object {
    let mut object = Object::new(numbered_key("issue", issue.id), "issue", "github_issue");
    github_id(&mut object, issue.id);
    object.title = text(issue.title.as_ref());
    object.content = text(issue.body.as_ref());
    object.url = text(issue.html_url.as_ref());
    object.time = issue.updated_at.0;
    if let Some(number) = issue.number {
        object.metadata.insert("number".into(), count(number));
    }
    if let Some(state) = &issue.state {
        object.metadata.insert("state".into(), state.as_str().into());
    }
    object
        .metadata
        .insert("pull_request".into(), issue.pull_request.is_some().into());
    object
}

/// An issue or review comment event with its comment: ids in the metadata, the comment as the block.
fn with_comment(mut event: Event, comment: Option<&Comment<'_>>) -> Event {
    if let Some(comment) = comment {
        comment_metadata(&mut event.event_metadata, comment.id, comment.path.as_ref());
        event.blocks.push(comment_block(
            comment.id,
            comment.created_at.0,
            comment.body.as_ref(),
            comment.html_url.as_ref(),
        ));
    }
    event
}

/// A comment (issue, review or commit comment) as a block: its time, `Comment {id}`, its text and its URL; it
/// counts 1 `comment`.
fn comment_block(id: Option<u64>, time: Option<DateTime<Utc>>, body: Option<&Str<'_>>, url: Option<&Str<'_>>) -> Block {
    Block {
        time,
        title: Some(numbered_title("Comment", id)),
        content: text(body),
        url: text(url),
        ..counted_block(1, "comment")
    }
}

/// An empty block counting `value` `unit`.
fn counted_block(value: i64, unit: &'static str) -> Block {
    Block {
        value: Some(value),
        value_unit: Some(unit.into()),
        ..Block::default()
    }
}

/// The event counting `value` `unit` (see the table in the module docs).
fn counted(mut event: Event, value: i64, unit: &'static str) -> Event {
    event.value = Some(value);
    event.value_unit = Some(unit.into());
    event
}

/// `number` in the event's metadata: the pull request's or issue's number in its repository, as people cite it.
fn with_number(mut event: Event, number: Option<u64>) -> Event {
    if let Some(number) = number {
        event.event_metadata.insert("number".into(), count(number));
    }
    event
}

fn action_or(action: Option<&Str<'_>>, fallback: &str) -> String {
    action.map_or(fallback, Str::as_str).to_owned()
}

/// Builds the event for one activity.
///
/// # Errors
///
/// [`ConvertError::MissingField`] when a `CreateEvent`/`DeleteEvent` of a branch or tag has no `ref`: the target's
/// key cannot be built without it.
pub(crate) fn build(activity: Activity<'_>, common: Common<'_>) -> Result<Event, ConvertError> {
    let Common {
        source_id,
        time,
        actor,
        repo,
        payload_path,
    } = common;
    let repository_key = repo_key(repo.id);
    // Built only where the repository is the target; otherwise only its key is named.
    let repository = || repo_object(&repo, repository_key.clone());
    let full_name = repo_full_name(&repo);
    let actor = user_object(&actor);
    let event = |domain: &'static str, action: String, target: Object| {
        Event::new(source_id, time, SERVICE, domain, action, actor, target)
    };
    let mut event = match activity {
        Activity::Push(push) => {
            let mut event = event("repository", "push".to_owned(), repository());
            // `size` when GitHub sends it; else the number of `commits` (webhooks carry `commits` but no `size`);
            // the current Events API sends neither, and then there is no value rather than an invented 0.
            let value = push.size.or_else(|| {
                push.commits
                    .as_ref()
                    .and_then(|commits| u64::try_from(commits.len()).ok())
            });
            let commits = push.commits.unwrap_or_default();
            event.value = value.and_then(|value| i64::try_from(value).ok());
            // The unit even when the count is unknown: a push always counts commits.
            event.value_unit = Some("commits".into());
            event.blocks = commits
                .iter()
                .map(|commit| {
                    let sha = commit.sha.as_ref().or(commit.id.as_ref()).map(Str::as_str);
                    Block {
                        time: commit.timestamp.0,
                        title: sha.map(|sha| concat(&["Commit ", short_sha(sha)])),
                        content: text(commit.message.as_ref()),
                        url: sha
                            .zip(full_name)
                            .map(|(sha, name)| github_url(&[name, "/commit/", sha])),
                        ..counted_block(1, "commit")
                    }
                })
                .collect();
            let metadata = &mut event.event_metadata;
            if let Some(git_ref) = &push.git_ref {
                metadata.insert("ref".into(), git_ref.as_str().into());
            }
            if let Some(head) = push.head.as_ref().or(push.after.as_ref()) {
                metadata.insert("head".into(), head.as_str().into());
            }
            if let Some(before) = &push.before {
                metadata.insert("before".into(), before.as_str().into());
            }
            event
        }
        Activity::PullRequest(p) => {
            let event = event(
                "pull_request",
                action_or(p.action.as_ref(), "updated"),
                pull_request_object(&p.pull_request),
            );
            with_number(counted(event, 1, "pull_request"), p.pull_request.number)
        }
        Activity::Issues(p) => {
            let event = event("issue", action_or(p.action.as_ref(), "updated"), issue_object(&p.issue));
            with_number(counted(event, 1, "issue"), p.issue.number)
        }
        Activity::IssueComment(p) => {
            let event = event(
                "issue_comment",
                action_or(p.action.as_ref(), "created"),
                issue_object(&p.issue),
            );
            let event = with_number(counted(event, 1, "comment"), p.issue.number);
            with_comment(event, p.comment.as_ref())
        }
        Activity::Create(p) => {
            let target = ref_target(&p, &repo, repository, false, payload_path)?;
            let unit = ref_unit(&p, &target);
            let mut event = counted(event("repository", "created".to_owned(), target), 1, unit);
            ref_metadata(&mut event.event_metadata, &p);
            event
        }
        Activity::Delete(p) => {
            let target = ref_target(&p, &repo, repository, true, payload_path)?;
            let unit = ref_unit(&p, &target);
            let mut event = counted(event("repository", "deleted".to_owned(), target), 1, unit);
            ref_metadata(&mut event.event_metadata, &p);
            event
        }
        Activity::Fork(p) => {
            let mut event = counted(event("repository", "forked".to_owned(), repository()), 1, "fork");
            if let Some(forkee) = &p.forkee {
                if let Some(id) = forkee.id {
                    event.event_metadata.insert("fork".into(), repo_key(id).into());
                }
                if let Some(name) = &forkee.full_name {
                    event
                        .event_metadata
                        .insert("fork_full_name".into(), name.as_str().into());
                }
            }
            event
        }
        Activity::Watch(_) => counted(event("repository", "starred".to_owned(), repository()), 1, "star"),
        Activity::Star(p) => {
            let action = match p.action.as_ref().map(Str::as_str) {
                Some("created") | None => "starred",
                Some("deleted") => "unstarred",
                Some(other) => other,
            };
            counted(event("repository", action.to_owned(), repository()), 1, "star")
        }
        Activity::Public(_) => counted(
            event("repository", "publicized".to_owned(), repository()),
            1,
            "repository",
        ),
        Activity::Release(p) => {
            let release = &p.release;
            let mut target = Object::new(numbered_key("release", release.id), "release", "github_release");
            github_id(&mut target, release.id);
            // An unnamed release shows its tag, as GitHub does.
            let name = release.name.as_ref().filter(|name| !name.as_str().is_empty());
            target.title = text(name).or_else(|| text(release.tag_name.as_ref()));
            target.content = text(release.body.as_ref());
            target.url = text(release.html_url.as_ref());
            target.time = release.published_at.0.or(release.created_at.0);
            if let Some(tag) = &release.tag_name {
                target.metadata.insert("tag_name".into(), tag.as_str().into());
            }
            if let Some(draft) = release.draft {
                target.metadata.insert("draft".into(), draft.into());
            }
            if let Some(prerelease) = release.prerelease {
                target.metadata.insert("prerelease".into(), prerelease.into());
            }
            let tag = release.tag_name.as_ref().map(|tag| tag.as_str().to_owned());
            let mut event = counted(
                event("release", action_or(p.action.as_ref(), "published"), target),
                1,
                "release",
            );
            if let Some(tag) = tag {
                event.event_metadata.insert("tag_name".into(), tag.into());
            }
            event
        }
        Activity::Review(p) => {
            // The Events API says `created` where webhooks say `submitted`, for the same review.
            let action = match p.action.as_ref().map(Str::as_str) {
                Some("created") | None => "submitted",
                Some(other) => other,
            };
            let event = event(
                "pull_request_review",
                action.to_owned(),
                pull_request_object(&p.pull_request),
            );
            let mut event = with_number(counted(event, 1, "review"), p.pull_request.number);
            if let Some(review) = &p.review {
                if let Some(id) = review.id {
                    event.event_metadata.insert("review_id".into(), count(id));
                }
                if let Some(state) = &review.state {
                    event
                        .event_metadata
                        .insert("review_state".into(), state.as_str().into());
                }
                event.blocks.push(Block {
                    time: review.submitted_at.0,
                    title: Some(numbered_title("Review", review.id)),
                    content: text(review.body.as_ref()),
                    url: text(review.html_url.as_ref()),
                    ..counted_block(1, "review")
                });
            }
            event
        }
        Activity::ReviewComment(p) => {
            let event = event(
                "pull_request_review_comment",
                action_or(p.action.as_ref(), "created"),
                pull_request_object(&p.pull_request),
            );
            let event = with_number(counted(event, 1, "comment"), p.pull_request.number);
            with_comment(event, p.comment.as_ref())
        }
        Activity::CommitComment(p) => {
            let sha = p.comment.commit_id.as_str();
            let key = concat(&[&numbered_key("commit", repo.id), ":", sha]);
            let mut target = Object::new(key, "commit", "github_commit");
            target.title = Some(concat(&["Commit ", short_sha(sha)]));
            target.url = full_name.map(|name| github_url(&[name, "/commit/", sha]));
            target.metadata.insert("sha".into(), sha.into());
            let mut event = counted(
                event("commit_comment", action_or(p.action.as_ref(), "created"), target),
                1,
                "comment",
            );
            comment_metadata(&mut event.event_metadata, p.comment.id, p.comment.path.as_ref());
            let comment = &p.comment;
            event.blocks.push(comment_block(
                comment.id,
                comment.created_at.0,
                comment.body.as_ref(),
                comment.html_url.as_ref(),
            ));
            event
        }
        Activity::Gollum(p) => {
            let pages = p.pages.unwrap_or_default();
            let first = pages.iter().find(|page| page.page_name.is_some());
            let (action, target) = match first.and_then(|page| page.page_name.as_ref().map(|name| (page, name))) {
                Some((page, name)) => {
                    let mut target = Object::new(
                        concat(&[&numbered_key("wiki_page", repo.id), ":", name.as_str()]),
                        "wiki_page",
                        "github_wiki_page",
                    );
                    target.metadata.insert("page_name".into(), name.as_str().into());
                    target.title = text(page.title.as_ref()).or_else(|| Some(name.as_str().to_owned()));
                    target.url = text(page.html_url.as_ref());
                    (action_or(page.action.as_ref(), "edited"), target)
                }
                None => ("edited".to_owned(), repository()),
            };
            let mut event = event("wiki", action, target);
            event.value = i64::try_from(pages.len()).ok();
            event.value_unit = Some("pages".into());
            event.blocks = pages
                .iter()
                .map(|page| Block {
                    title: text(page.title.as_ref()).or_else(|| text(page.page_name.as_ref())),
                    content: text(page.summary.as_ref()),
                    url: text(page.html_url.as_ref()),
                    ..counted_block(1, "page")
                })
                .collect();
            if let Some(sha) = first.and_then(|page| page.sha.as_ref()) {
                event.event_metadata.insert("sha".into(), sha.as_str().into());
            }
            event
        }
        Activity::Member(p) => counted(
            event("member", action_or(p.action.as_ref(), "added"), user_object(&p.member)),
            1,
            "member",
        ),
    };
    if event.target.key != repository_key {
        event.event_metadata.insert("repository".into(), repository_key.into());
        if let Some(name) = full_name {
            event.event_metadata.insert("repository_name".into(), name.into());
        }
    }
    Ok(event)
}

fn comment_metadata(metadata: &mut Metadata, id: Option<u64>, path: Option<&Str<'_>>) {
    if let Some(id) = id {
        metadata.insert("comment_id".into(), count(id));
    }
    if let Some(path) = path {
        metadata.insert("path".into(), path.as_str().into());
    }
}

fn ref_metadata(metadata: &mut Metadata, payload: &RefPayload<'_>) {
    if let Some(git_ref) = &payload.git_ref {
        metadata.insert("ref".into(), git_ref.as_str().into());
    }
    if let Some(ref_type) = &payload.ref_type {
        metadata.insert("ref_type".into(), ref_type.as_str().into());
    }
}

/// The unit of a `CreateEvent`/`DeleteEvent`: `branch`, `tag` or `repository` as `ref_type` says; else from the
/// full ref (`refs/heads/` a branch, `refs/tags/` a tag), else `ref`.
fn ref_unit(payload: &RefPayload<'_>, target: &Object) -> &'static str {
    match payload.ref_type.as_ref().map(Str::as_str) {
        Some("branch") => "branch",
        Some("tag") => "tag",
        Some("repository") => "repository",
        _ if target.concept == "repository" => "repository",
        _ => match payload.git_ref.as_ref().map(Str::as_str) {
            Some(git_ref) if git_ref.starts_with("refs/heads/") => "branch",
            Some(git_ref) if git_ref.starts_with("refs/tags/") => "tag",
            _ => "ref",
        },
    }
}

/// The target of a `CreateEvent`/`DeleteEvent`: the repository itself when `ref_type` is `repository` (or when
/// neither `ref` nor `ref_type` is given), else the branch or tag, keyed `github:ref:{repository id}:{full ref}`
/// (`refs/heads/main`, `refs/tags/v1.0`): the same key a push to that ref would name in its `ref` metadata.
fn ref_target(
    payload: &RefPayload<'_>,
    repo: &Repo<'_>,
    repository: impl FnOnce() -> Object,
    deleted: bool,
    payload_path: &str,
) -> Result<Object, ConvertError> {
    let ref_type = payload.ref_type.as_ref().map(Str::as_str);
    let Some(git_ref) = payload.git_ref.as_ref().map(Str::as_str) else {
        return match ref_type {
            None | Some("repository") => Ok(repository()),
            Some(_) => Err(ConvertError::MissingField {
                path: if payload_path.is_empty() {
                    "ref".to_owned()
                } else {
                    format!("{payload_path}.ref")
                },
            }),
        };
    };
    let (full_ref, concept) = match ref_type {
        Some("repository") => return Ok(repository()),
        _ if git_ref.starts_with("refs/") => (git_ref.to_owned(), "ref"),
        Some("branch") => (concat(&["refs/heads/", git_ref]), "branch"),
        Some("tag") => (concat(&["refs/tags/", git_ref]), "tag"),
        _ => (git_ref.to_owned(), "ref"),
    };
    let mut target = Object::new(
        concat(&[&numbered_key("ref", repo.id), ":", &full_ref]),
        concept,
        concat(&["github_", concept]),
    );
    target.title = Some(git_ref.to_owned());
    if !deleted {
        target.url = repo_full_name(repo).map(|name| github_url(&[name, "/tree/", git_ref]));
    }
    target.metadata.insert("ref".into(), full_ref.into());
    Ok(target)
}
