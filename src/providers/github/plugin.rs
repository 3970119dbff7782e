//! The GitHub [`Plugin`]: OAuth, then polling of the Events API, and webhook deliveries.

use chrono::{DateTime, Utc};

use crate::convert::Converter;
use crate::oauth::Provider;
use crate::plugin::{Field, FieldOption, FieldType, Format, Plugin, Schema};
use crate::poll::{PollContext, PollCursor, PollRound, PollSetupError, Poller};
use crate::webhook::WebhookVerifier;

use super::{EVENTS_API_TYPES, GithubConverter, GithubPoller, GithubVerifier, SERVICE};

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
    oauth: Provider,
    verifier: GithubVerifier,
    poll_user_agent: Option<String>,
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
                Field::new(super::EVENTS_FIELD, FieldType::StringArray, "Events")
                    .description("The kinds of activity to record.")
                    .required()
                    .options(events),
            );
        Self {
            schema,
            oauth: super::oauth::provider(),
            verifier: GithubVerifier::new(),
            poll_user_agent: None,
        }
    }

    /// The same plugin's poller sending this `User-Agent` (GitHub asks for the application's name; the default names
    /// this crate).
    #[must_use]
    pub fn with_poll_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.poll_user_agent = Some(user_agent.into());
        self
    }

    /// The same plugin talking to other endpoints: GitHub Enterprise Server
    /// ([`oauth::enterprise`](super::oauth::enterprise)) or a local test server. The poller uses the provider's
    /// API base URL too.
    #[must_use]
    pub fn with_oauth_provider(mut self, provider: Provider) -> Self {
        self.oauth = provider;
        self
    }

    /// The same plugin verifying webhooks with `verifier` (for example one that accepts legacy sha1 signatures).
    #[must_use]
    pub fn with_webhook_verifier(mut self, verifier: GithubVerifier) -> Self {
        self.verifier = verifier;
        self
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

    fn configuration_schema(&self) -> &Schema {
        &self.schema
    }

    fn converter(&self) -> Option<&dyn Converter> {
        Some(&GithubConverter)
    }

    fn oauth_provider(&self) -> Option<&Provider> {
        Some(&self.oauth)
    }

    fn webhook_verifier(&self) -> Option<&dyn WebhookVerifier> {
        Some(&self.verifier)
    }

    fn poller(&self) -> Option<&dyn Poller> {
        Some(self)
    }
}

/// Polls the integration's configured `repositories`, keeping its configured `events` types, with its access
/// token when it has one, against the API base URL of the plugin's OAuth provider, with the `User-Agent` set by
/// [`with_poll_user_agent`](GithubPlugin::with_poll_user_agent).
impl Poller for GithubPlugin {
    fn start(
        &self,
        context: &PollContext<'_>,
        cursor: PollCursor,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn PollRound>, PollSetupError> {
        let configuration = context.configuration;
        let repositories: Vec<&str> = configuration.strings("repositories").collect();
        if repositories.is_empty() {
            return Err(PollSetupError::NotConfigured);
        }
        let mut poller = GithubPoller::new(repositories, configuration.strings("events"))
            .with_api_base(self.oauth.api_base())
            .map_err(|error| PollSetupError::InvalidSettings(error.to_string()))?
            .with_integration(context.integration_id);
        if let Some(user_agent) = &self.poll_user_agent {
            poller = poller.with_user_agent(user_agent.clone());
        }
        if let Some(token) = context.access_token {
            poller = poller.with_token(token.clone());
        }
        Ok(Box::new(poller.start(cursor, now)))
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
