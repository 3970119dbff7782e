//! The GitLab [`Plugin`]: OAuth, then polling of the Events API, and webhook deliveries.

use chrono::{DateTime, Utc};

use crate::convert::Converter;
use crate::oauth::Provider;
use crate::plugin::{Field, FieldOption, FieldType, Format, Plugin, Schema};
use crate::poll::{PollContext, PollCursor, PollRound, PollSetupError, Poller};
use crate::webhook::WebhookVerifier;

use super::instance::{BaseUrlError, Instance};
use super::{EVENT_KINDS, GitlabConverter, GitlabPoller, GitlabVerifier, SERVICE};

/// GitLab as a [`Plugin`], for gitlab.com or one self-managed instance: connects with OAuth, is polled through the
/// Events API and also accepts webhooks.
///
/// Its configuration names the projects to follow (`projects`, required: `group/project` paths, subgroups allowed)
/// and the kinds of activity to record (`events`, optional: [`EVENT_KINDS`]; empty or absent records all).
///
/// For a host: build it once from the instance's URL ([`with_base_url`](Self::with_base_url)), register OAuth apps
/// with the scopes in [`oauth::SCOPES`](super::oauth::SCOPES) and the redirect URI the host serves, and pass the
/// webhook secrets configured on GitLab to [`intake_for`](crate::plugin::intake_for) in one list: the secret token
/// as is, the signing token as GitLab shows it (`whsec_...`); [`GitlabVerifier`] tells them apart by that prefix.
///
/// ```
/// use serde_json::json;
/// use spark_integrations::plugin::Plugin;
/// use spark_integrations::providers::gitlab::GitlabPlugin;
///
/// let plugin = GitlabPlugin::with_base_url("https://gitlab.example.com")?;
/// assert_eq!(plugin.oauth_provider().unwrap().token_url(), "https://gitlab.example.com/oauth/token");
/// let schema = plugin.configuration_schema();
/// assert!(schema.validate(&json!({"projects": ["gitlab-org/gitlab", "group/sub/project"]})).is_ok());
/// assert!(schema.validate(&json!({"projects": ["group/sub/project"], "events": ["merge_request"]})).is_ok());
/// assert!(schema.validate(&json!({"projects": ["gitlab"]})).is_err());
/// assert!(schema.validate(&json!({"projects": ["a/b"], "events": ["Push Hook"]})).is_err());
/// # Ok::<(), spark_integrations::providers::gitlab::BaseUrlError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GitlabPlugin {
    instance: Instance,
    schema: Schema,
    oauth: Provider,
    converter: GitlabConverter,
    verifier: GitlabVerifier,
    poll_user_agent: Option<String>,
}

impl GitlabPlugin {
    /// The plugin for gitlab.com.
    pub fn new() -> Self {
        Self::for_instance(Instance::gitlab_com())
    }

    /// The plugin for the instance at `base_url` (`https://gitlab.example.com`, as people reach it in a browser):
    /// OAuth at `{base_url}/oauth/...`, the API at `{base_url}/api/v4`, keys naming the instance's host (see
    /// [`Instance`]).
    ///
    /// # Errors
    ///
    /// [`BaseUrlError`] when `base_url` is not an `http`/`https` URL with a host and without credentials, query or
    /// fragment.
    pub fn with_base_url(base_url: &str) -> Result<Self, BaseUrlError> {
        Instance::new(base_url).map(Self::for_instance)
    }

    /// The plugin for `instance`.
    pub fn for_instance(instance: Instance) -> Self {
        let kinds = EVENT_KINDS.iter().map(|kind| FieldOption::new(*kind, kind_label(kind)));
        let schema = Schema::new()
            .field(
                Field::new("projects", FieldType::StringArray, "Projects")
                    .description("The projects whose activity to record, as `group/project` (subgroups allowed).")
                    .required()
                    .format(Format::NamespacePath),
            )
            .field(
                Field::new("events", FieldType::StringArray, "Events")
                    .description("The kinds of activity to record; none selected records all.")
                    .options(kinds),
            );
        Self {
            oauth: super::oauth::for_instance(&instance),
            converter: GitlabConverter::new(instance.clone()),
            instance,
            schema,
            verifier: GitlabVerifier::new(),
            poll_user_agent: None,
        }
    }

    /// The instance this plugin talks to and names in its keys.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The same plugin with other OAuth endpoints (a local test server): the poller follows the provider's API base,
    /// while keys keep naming [`instance`](Self::instance).
    #[must_use]
    pub fn with_oauth_provider(mut self, provider: Provider) -> Self {
        self.oauth = provider;
        self
    }

    /// The same plugin verifying webhooks with `verifier` (another replay window, say).
    #[must_use]
    pub fn with_webhook_verifier(mut self, verifier: GitlabVerifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// The same plugin's poller sending this `User-Agent`.
    #[must_use]
    pub fn with_poll_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.poll_user_agent = Some(user_agent.into());
        self
    }
}

impl Default for GitlabPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for GitlabPlugin {
    fn identifier(&self) -> &str {
        SERVICE
    }

    fn display_name(&self) -> &str {
        "GitLab"
    }

    fn description(&self) -> &str {
        "Record activity in GitLab projects: pushes, merge requests, issues, comments, releases, pipelines and more."
    }

    fn configuration_schema(&self) -> &Schema {
        &self.schema
    }

    fn converter(&self) -> Option<&dyn Converter> {
        Some(&self.converter)
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

/// Polls the integration's configured `projects`, keeping its configured `events` kinds, with its access token,
/// against the API base URL of the plugin's OAuth provider.
impl Poller for GitlabPlugin {
    fn start(
        &self,
        context: &PollContext<'_>,
        cursor: PollCursor,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn PollRound>, PollSetupError> {
        let configuration = context.configuration;
        let projects: Vec<&str> = configuration.strings("projects").collect();
        if projects.is_empty() {
            return Err(PollSetupError::NotConfigured);
        }
        let mut poller = GitlabPoller::new(self.instance.clone(), projects, configuration.strings("events"))
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

/// The form label of a kind.
fn kind_label(kind: &str) -> &str {
    match kind {
        "repository" => "Pushes, branches and tags",
        "merge_request" => "Merge requests",
        "issue" => "Issues",
        "comment" => "Comments",
        "release" => "Releases",
        "wiki" => "Wiki pages",
        "pipeline" => "Pipelines",
        "deployment" => "Deployments",
        "member" => "Members",
        "project" => "Projects created or deleted",
        other => other,
    }
}
