//! The Slack [`Plugin`]: OAuth, then Events API deliveries to a webhook.

use crate::convert::Converter;
use crate::enrich::Enricher;
use crate::oauth::Provider;
use crate::plugin::{Field, FieldOption, FieldType, Plugin, Schema};
use crate::webhook::WebhookVerifier;

use super::{EVENT_TYPES, SERVICE, SlackConverter, SlackEnricher, SlackVerifier};

/// Slack as a [`Plugin`]: connects with OAuth and receives Events API deliveries on a webhook.
///
/// Its configuration names the Slack event types to record:
///
/// ```
/// use serde_json::json;
/// use spark_integrations::plugin::Plugin;
/// use spark_integrations::providers::slack::SlackPlugin;
///
/// let plugin = SlackPlugin::new();
/// assert!(plugin.configuration_schema().validate(&json!({"events": ["message", "reaction_added"]})).is_ok());
/// assert!(plugin.configuration_schema().validate(&json!({"events": ["channel_created"]})).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct SlackPlugin {
    schema: Schema,
    oauth: Provider,
    verifier: SlackVerifier,
    /// Names users and channels through the Web API under `oauth`'s API base.
    enricher: SlackEnricher,
}

impl SlackPlugin {
    /// The Slack plugin, with its configuration schema built once.
    pub fn new() -> Self {
        let events = EVENT_TYPES
            .iter()
            .map(|kind| FieldOption::new(*kind, event_label(kind)));
        let schema = Schema::new().field(
            Field::new(super::EVENTS_FIELD, FieldType::StringArray, "Events")
                .description("The kinds of activity to record.")
                .required()
                .options(events),
        );
        let oauth = super::oauth::provider();
        Self {
            schema,
            enricher: SlackEnricher::new(oauth.api_base()),
            oauth,
            verifier: SlackVerifier::new(),
        }
    }

    /// The same plugin talking to other endpoints: GovSlack ([`oauth::gov`](super::oauth::gov)) or a local test
    /// server ([`oauth::with_host`](super::oauth::with_host)). The enricher calls the provider's API base too.
    #[must_use]
    pub fn with_oauth_provider(mut self, provider: Provider) -> Self {
        self.enricher = SlackEnricher::new(provider.api_base());
        self.oauth = provider;
        self
    }

    /// The same plugin verifying webhooks with `verifier` (for example with another replay tolerance).
    #[must_use]
    pub fn with_webhook_verifier(mut self, verifier: SlackVerifier) -> Self {
        self.verifier = verifier;
        self
    }
}

impl Default for SlackPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for SlackPlugin {
    fn identifier(&self) -> &str {
        SERVICE
    }

    fn display_name(&self) -> &str {
        "Slack"
    }

    fn description(&self) -> &str {
        "Record messages, mentions, reactions and shared files from the Slack channels the app is in."
    }

    fn configuration_schema(&self) -> &Schema {
        &self.schema
    }

    fn converter(&self) -> Option<&dyn Converter> {
        Some(&SlackConverter)
    }

    fn oauth_provider(&self) -> Option<&Provider> {
        Some(&self.oauth)
    }

    fn webhook_verifier(&self) -> Option<&dyn WebhookVerifier> {
        Some(&self.verifier)
    }

    fn enricher(&self) -> Option<&dyn Enricher> {
        Some(&self.enricher)
    }
}

/// The form label of a Slack event type; a type without one here shows its own name.
fn event_label(kind: &str) -> &str {
    match kind {
        "app_mention" => "Mentions of the app",
        "file_shared" => "Files shared",
        "message" => "Messages",
        "reaction_added" => "Reactions added",
        "reaction_removed" => "Reactions removed",
        other => other,
    }
}
