//! One activity, two paths: a webhook body and the Events API item GitLab records for the same activity give the
//! same domain, action, actor key and target key.

use crate::gitlab_common;

use std::fs;
use std::path::Path;

use gitlab_common::*;
use serde_json::{Value, json};
use spark_integrations::model::Event;

/// What must agree between the two paths.
fn identity(event: &Event) -> (String, String, String, String) {
    (
        event.domain.to_string(),
        event.action.to_string(),
        event.actor.key.clone(),
        event.target.key.clone(),
    )
}

fn body(name: &str) -> Value {
    read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/gitlab/webhooks")
            .join(name),
    )
}

fn is_zero(sha: &Value) -> bool {
    sha.as_str()
        .is_some_and(|sha| !sha.is_empty() && sha.bytes().all(|b| b == b'0'))
}

/// An Events API item of `action_name` by the webhook body's user, in its project.
fn item(webhook: &Value, action_name: &str) -> Value {
    let user_id = webhook["user"]["id"].clone();
    let user_id = if user_id.is_null() {
        webhook["user_id"].clone()
    } else {
        user_id
    };
    let project_id = match &webhook["project_id"] {
        Value::Null => webhook["project"]["id"].clone(),
        id => id.clone(),
    };
    json!({
        "id": 1,
        "project_id": project_id,
        "action_name": action_name,
        "author_id": user_id,
        "author": { "id": user_id, "username": "someone" },
        "created_at": "2025-01-01T00:00:00Z",
    })
}

/// The Events API item GitLab records for the push or tag push `webhook`.
fn push_item(webhook: &Value) -> Value {
    let tag = webhook["object_kind"] == "tag_push";
    let (action_name, action) = if is_zero(&webhook["after"]) {
        ("deleted", "removed")
    } else if is_zero(&webhook["before"]) {
        ("pushed new", "created")
    } else {
        ("pushed to", "pushed")
    };
    let full_ref = webhook["ref"].as_str().expect("a ref");
    let short = full_ref
        .strip_prefix("refs/heads/")
        .or_else(|| full_ref.strip_prefix("refs/tags/"))
        .unwrap_or(full_ref);
    let mut item = item(webhook, action_name);
    item["push_data"] = json!({
        "commit_count": webhook["total_commits_count"],
        "action": action,
        "ref_type": if tag { "tag" } else { "branch" },
        "ref": short,
        "commit_from": webhook["before"],
        "commit_to": webhook["after"],
    });
    item
}

/// The Events API item for a merge request or issue `webhook` whose action is `action`.
fn work_item(webhook: &Value, target_type: &str, action: &str) -> Option<Value> {
    let action_name = match action {
        "open" | "reopen" => "opened",
        "close" => "closed",
        "merge" => "accepted",
        "approval" | "approved" => "approved",
        _ => return None,
    };
    let mut item = item(webhook, action_name);
    item["target_type"] = target_type.into();
    item["target_id"] = webhook["object_attributes"]["id"].clone();
    item["target_iid"] = webhook["object_attributes"]["iid"].clone();
    Some(item)
}

/// The Events API item for a note `webhook`: `commented on` a `Note` whose noteable is what the body names.
fn note_item(webhook: &Value) -> Value {
    let attributes = &webhook["object_attributes"];
    let noteable_type = attributes["noteable_type"].as_str().expect("a noteable type");
    let noteable_id = match noteable_type {
        "Issue" => webhook["issue"]["id"].clone(),
        "MergeRequest" => webhook["merge_request"]["id"].clone(),
        "Snippet" => webhook["snippet"]["id"].clone(),
        _ => Value::Null,
    };
    let mut item = item(webhook, "commented on");
    item["target_type"] = "Note".into();
    item["target_id"] = attributes["id"].clone();
    item["note"] = json!({
        "id": attributes["id"],
        "body": attributes["note"],
        "noteable_type": noteable_type,
        "noteable_id": noteable_id,
    });
    item
}

fn wiki_item(webhook: &Value) -> Value {
    let attributes = &webhook["object_attributes"];
    let action_name = match attributes["action"].as_str() {
        Some("create") => "created",
        Some("delete") => "destroyed",
        _ => "updated",
    };
    let mut item = item(webhook, action_name);
    item["target_type"] = "WikiPage::Meta".into();
    item["target_id"] = 12.into();
    item["wiki_page"] = json!({ "format": "markdown", "slug": attributes["slug"], "title": attributes["title"] });
    item
}

fn assert_pair(label: &str, event_name: &str, webhook_body: &Value, item: &Value) {
    let by_webhook = single_event(webhook(event_name, webhook_body.to_string().as_bytes()));
    let polled = single_event(polled(item.to_string().as_bytes()));
    assert_eq!(identity(&by_webhook), identity(&polled), "{label}");
    assert_eq!(
        (by_webhook.value, &by_webhook.value_unit),
        (polled.value, &polled.value_unit),
        "{label}: the same count in the same unit"
    );
}

#[test]
fn pushes_branches_and_tags_agree() {
    let push = body("push_hook.push.json");
    assert_pair("push", "Push Hook", &push, &push_item(&push));

    let mut new_branch = push;
    new_branch["before"] = "0000000000000000000000000000000000000000".into();
    new_branch["ref"] = "refs/heads/feature".into();
    assert_pair("new branch", "Push Hook", &new_branch, &push_item(&new_branch));

    let deleted = body("push_hook.branch_deleted.handwritten.json");
    assert_pair("deleted branch", "Push Hook", &deleted, &push_item(&deleted));

    let tag = body("tag_push_hook.tag_push.json");
    assert_pair("new tag", "Tag Push Hook", &tag, &push_item(&tag));

    let mut deleted_tag = tag;
    deleted_tag["before"] = deleted_tag["after"].clone();
    deleted_tag["after"] = "0000000000000000000000000000000000000000".into();
    assert_pair("deleted tag", "Tag Push Hook", &deleted_tag, &push_item(&deleted_tag));
}

#[test]
fn merge_requests_and_issues_agree_for_every_action_both_report() {
    let mut checked = 0;
    for (file, event_name, target_type) in [
        (
            "merge_request_hook.merge_request.json",
            "Merge Request Hook",
            "MergeRequest",
        ),
        (
            "merge_request_hook.service_merge_request.json",
            "Merge Request Hook",
            "MergeRequest",
        ),
        ("issue_hook.issue.json", "Issue Hook", "Issue"),
        ("issue_hook.issue.json", "Confidential Issue Hook", "Issue"),
    ] {
        let original = body(file);
        for action in ["open", "reopen", "close", "merge", "approval", "approved"] {
            if target_type == "Issue" && matches!(action, "merge" | "approval" | "approved") {
                continue;
            }
            let mut webhook_body = original.clone();
            webhook_body["object_attributes"]["action"] = action.into();
            let item = work_item(&webhook_body, target_type, action).expect("an action both report");
            assert_pair(&format!("{file} {action}"), event_name, &webhook_body, &item);
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn comments_agree_on_issues_merge_requests_snippets_and_commits() {
    for (file, event_name) in [
        ("note_hook.note_issue.json", "Note Hook"),
        ("note_hook.note_merge_request.json", "Note Hook"),
        ("note_hook.note_snippet.json", "Note Hook"),
        ("note_hook.note_commit.json", "Note Hook"),
        ("note_hook.note_issue.json", "Confidential Note Hook"),
    ] {
        let webhook_body = body(file);
        assert_pair(file, event_name, &webhook_body, &note_item(&webhook_body));
    }
}

#[test]
fn wiki_pages_agree() {
    let original = body("wiki_page_hook.wiki_page.with_user_id.handwritten.json");
    for action in ["create", "update", "delete"] {
        let mut webhook_body = original.clone();
        webhook_body["object_attributes"]["action"] = action.into();
        assert_pair(action, "Wiki Page Hook", &webhook_body, &wiki_item(&webhook_body));
    }
}

#[test]
fn the_hand_written_events_api_fixtures_agree_with_their_webhook_counterparts() {
    // The merge request fixtures name merge request 99 of project 1 by user 1, as the webhook fixture does.
    let merge_request = body("merge_request_hook.merge_request.json");
    for (file, action) in [
        ("opened.MergeRequest.handwritten.json", "open"),
        ("accepted.MergeRequest.handwritten.json", "merge"),
        ("approved.MergeRequest.handwritten.json", "approval"),
    ] {
        let mut webhook_body = merge_request.clone();
        webhook_body["object_attributes"]["action"] = action.into();
        let item = fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/gitlab/events")
                .join(file),
        )
        .expect("readable");
        let by_webhook = single_event(webhook("Merge Request Hook", webhook_body.to_string().as_bytes()));
        assert_eq!(identity(&by_webhook), identity(&single_event(polled(&item))), "{file}");
    }
    let wiki = body("wiki_page_hook.wiki_page.with_user_id.handwritten.json");
    let item = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gitlab/events/created.WikiPage.handwritten.json"),
    )
    .expect("readable");
    let by_webhook = single_event(webhook("Wiki Page Hook", wiki.to_string().as_bytes()));
    assert_eq!(identity(&by_webhook), identity(&single_event(polled(&item))));
}
