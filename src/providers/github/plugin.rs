//! The GitHub [`Plugin`]: OAuth, then polling of the Events API, and webhook deliveries.

use crate::convert::Converter;
use crate::plugin::{Connection, Connections, Field, FieldOption, FieldType, Format, Plugin, Schema};

use super::{EVENTS_API_TYPES, GithubConverter, SERVICE};

/// GitHub as a [`Plugin`]: connects with OAuth, is polled through the Events API and also accepts webhooks.
///
/// Its configuration names the repositories to follow (`owner/name`) and the Events API types to record:
///
/// ```
/// use serde_json::json;
/// use spark_integrations::plugin::Plugin;
/// use spark_integrations::providers::github::GithubPlugin;
///
/// let schema = GithubPlugin::new().configuration_schema().clone();
/// assert!(schema.validate(&json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]})).is_ok());
/// assert!(schema.validate(&json!({"repositories": ["octocat"], "events": ["push"]})).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct GithubPlugin {
    schema: Schema,
}

impl GithubPlugin {
    /// The GitHub plugin, with its configuration schema built once.
    pub fn new() -> Self {
        let events = EVENTS_API_TYPES
            .iter()
            .map(|kind| FieldOption::new(*kind, event_label(kind)));
        let schema = Schema::new()
            .field(
                Field::new("repositories", FieldType::StringArray, "Repositories")
                    .description("The repositories whose activity to record, as `owner/name`.")
                    .required()
                    .format(Format::OwnerName),
            )
            .field(
                Field::new("events", FieldType::StringArray, "Events")
                    .description("The kinds of activity to record.")
                    .required()
                    .options(events),
            );
        Self { schema }
    }
}

impl Default for GithubPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for GithubPlugin {
    fn identifier(&self) -> &str {
        SERVICE
    }

    fn display_name(&self) -> &str {
        "GitHub"
    }

    fn description(&self) -> &str {
        "Record activity in GitHub repositories: pushes, pull requests, issues, reviews, releases and more."
    }

    fn connections(&self) -> Connections {
        Connection::OAuth | Connection::Polling | Connection::Webhook
    }

    fn configuration_schema(&self) -> &Schema {
        &self.schema
    }

    fn converter(&self) -> Option<&dyn Converter> {
        Some(&GithubConverter)
    }
}

/// The form label of an Events API type; a type without one here shows its own name.
fn event_label(kind: &str) -> &str {
    match kind {
        "CommitCommentEvent" => "Commit comments",
        "CreateEvent" => "Branches and tags created",
        "DeleteEvent" => "Branches and tags deleted",
        "ForkEvent" => "Forks",
        "GollumEvent" => "Wiki page edits",
        "IssueCommentEvent" => "Issue and pull request comments",
        "IssuesEvent" => "Issues",
        "MemberEvent" => "Collaborators added",
        "PublicEvent" => "Repository made public",
        "PullRequestEvent" => "Pull requests",
        "PullRequestReviewCommentEvent" => "Pull request review comments",
        "PullRequestReviewEvent" => "Pull request reviews",
        "PushEvent" => "Pushes",
        "ReleaseEvent" => "Releases",
        "WatchEvent" => "Stars",
        other => other,
    }
}
