//! The plugin contract: what one service (GitHub, Slack, ...) tells the host about itself, and the [`Registry`]
//! that holds the services a host offers.
//!
//! A [`Plugin`] is a description plus capabilities. The description (identifier, names, its configuration
//! [`Schema`]) drives the host's UI; the capabilities (a converter, OAuth rules, a webhook verifier, a poller) do the
//! work, and the [`Connections`] a plugin offers follow from them. A host adds a service by implementing [`Plugin`]
//! (in any crate: every building block the built-in providers use is public) and registering it: nothing in the
//! registry, the core or a host that drives plugins through the registry changes.
//!
//! ```
//! use serde_json::json;
//! use spark_integrations::plugin::Registry;
//! use spark_integrations::providers::github::GithubPlugin;
//!
//! let mut registry = Registry::new();
//! registry.register(GithubPlugin::new())?;
//! let github = registry.get("github").expect("registered above");
//! let configuration = github
//!     .configuration_schema()
//!     .validate(&json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]}))
//!     .expect("a valid configuration");
//! assert_eq!(configuration.strings("events").collect::<Vec<_>>(), ["PushEvent"]);
//! # Ok::<(), spark_integrations::plugin::RegistryError>(())
//! ```

mod connection;
mod registry;
mod schema;
mod validate;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::Serialize;

use crate::convert::Converter;
use crate::enrich::Enricher;
use crate::integration::{Integration, RoutingSecret};
use crate::oauth::Provider;
use crate::poll::Poller;
use crate::webhook::{Delivery, WebhookError, WebhookSecret, WebhookVerifier, intake};

pub use connection::{Connection, Connections};
pub use registry::{Registry, RegistryError};
pub use schema::{DEFAULT_MAX_ITEMS, Field, FieldOption, FieldType, Format, Schema};
pub use validate::{FieldError, ValidationErrors};

/// One service the host can connect to: what it is, how it connects, what it needs configured, and what it can do.
///
/// The trait is object safe and `Send + Sync`: a [`Registry`] holds plugins as `Arc<dyn Plugin>` and shares them
/// across threads. Implement it to add a service; the identifier must be unique and lowercase `[a-z0-9_-]+`.
///
/// # Capabilities
///
/// Each capability is a provided method returning `Option<&...>`, `None` by default; a plugin overrides the
/// ones it has: [`converter`](Self::converter), [`oauth_provider`](Self::oauth_provider),
/// [`webhook_verifier`](Self::webhook_verifier), [`poller`](Self::poller) and [`enricher`](Self::enricher). A capability added later comes the
/// same way, as a provided method defaulting to `None`, so adding one never breaks an existing implementation.
/// The ways the service connects are derived from these (`<dyn Plugin>::connections`), never declared
/// a second time.
pub trait Plugin: Send + Sync {
    /// The unique, stable identifier: lowercase `[a-z0-9_-]+` (`github`). It names the service in URLs
    /// (`/webhook/{identifier}/...`), in storage and in [`Event::service`](crate::Event::service).
    fn identifier(&self) -> &str;

    /// The name to show people (`GitHub`).
    fn display_name(&self) -> &str;

    /// One sentence saying what connecting this service does.
    fn description(&self) -> &str;

    /// The configuration a user fills in after connecting. Check submissions with [`Schema::validate`].
    fn configuration_schema(&self) -> &Schema;

    /// The converter for this service's payloads, if it has one.
    fn converter(&self) -> Option<&dyn Converter> {
        None
    }

    /// The OAuth 2.0 rules of this service (endpoints and quirks), if it connects with OAuth. Build an
    /// [`OAuthClient`](crate::oauth::OAuthClient) from it with the host's client id, secret and redirect URI.
    fn oauth_provider(&self) -> Option<&Provider> {
        None
    }

    /// The verifier of this service's webhook deliveries, if it accepts webhooks. See
    /// [`intake_for`].
    fn webhook_verifier(&self) -> Option<&dyn WebhookVerifier> {
        None
    }

    /// The poller of this service's activity API, if it is polled. See [`crate::schedule`] for the host's loop.
    fn poller(&self) -> Option<&dyn Poller> {
        None
    }

    /// The enricher that names this service's objects its payloads identify by id only (Slack's users and
    /// channels), if it has one. See [`crate::enrich`] for the host's loop.
    fn enricher(&self) -> Option<&dyn Enricher> {
        None
    }
}

impl dyn Plugin + '_ {
    /// The ways the service connects, from the capabilities it offers: [`Connection::OAuth`] with an
    /// [`oauth_provider`](Plugin::oauth_provider), [`Connection::Polling`] with a [`poller`](Plugin::poller),
    /// [`Connection::Webhook`] with a [`webhook_verifier`](Plugin::webhook_verifier).
    ///
    /// ```
    /// use spark_integrations::plugin::{Connection, Plugin};
    /// use spark_integrations::providers::slack::SlackPlugin;
    ///
    /// let slack: &dyn Plugin = &SlackPlugin::new();
    /// assert_eq!(slack.connections(), Connection::OAuth | Connection::Webhook);
    /// ```
    pub fn connections(&self) -> Connections {
        [
            (Connection::OAuth, self.oauth_provider().is_some()),
            (Connection::Polling, self.poller().is_some()),
            (Connection::Webhook, self.webhook_verifier().is_some()),
        ]
        .into_iter()
        .filter_map(|(connection, offered)| offered.then_some(connection))
        .collect()
    }
}

impl Integration {
    /// A new integration of `plugin` for the user `user_id`, under the host's id `id`: no account, tokens or
    /// configuration yet.
    ///
    /// `random` must come from a cryptographically secure generator; when the plugin accepts webhooks it becomes
    /// the [`RoutingSecret`] (so the record is the same for the same arguments). Store the result, then start the
    /// OAuth flow or show [`webhook_url`](Self::webhook_url).
    pub fn initialize(
        plugin: &dyn Plugin,
        id: impl Into<String>,
        user_id: impl Into<String>,
        random: &[u8; 32],
    ) -> Self {
        let mut integration = Self::new(id, user_id, plugin.identifier(), plugin.display_name());
        integration.routing_secret = plugin
            .webhook_verifier()
            .is_some()
            .then(|| RoutingSecret::from_random(random));
        integration
    }
}

/// [`intake`] with the verifier of `plugin`: the entry point for hosts that route
/// deliveries by plugin.
///
/// # Errors
///
/// [`WebhookError::NotAccepted`] (answer `404`) when the plugin does not accept webhooks; otherwise as
/// [`intake`].
pub fn intake_for<'a>(
    plugin: &dyn Plugin,
    secrets: &[WebhookSecret],
    headers: &'a HeaderMap,
    body: &'a [u8],
    now: DateTime<Utc>,
) -> Result<Delivery<'a>, WebhookError> {
    let verifier = plugin.webhook_verifier().ok_or(WebhookError::NotAccepted)?;
    intake(verifier, secrets, headers, body, now)
}

/// What a UI needs to offer a plugin: its description and configuration form, as JSON.
///
/// ```
/// use spark_integrations::plugin::Descriptor;
/// use spark_integrations::providers::slack::SlackPlugin;
///
/// let json = serde_json::to_value(Descriptor::of(&SlackPlugin::new()))?;
/// assert_eq!(json["identifier"], "slack");
/// assert_eq!(json["connections"], serde_json::json!(["oauth", "webhook"]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct Descriptor<'a> {
    /// [`Plugin::identifier`].
    pub identifier: &'a str,
    /// [`Plugin::display_name`].
    pub display_name: &'a str,
    /// [`Plugin::description`].
    pub description: &'a str,
    /// `<dyn Plugin>::connections()`, derived from its capabilities.
    pub connections: Connections,
    /// [`Plugin::configuration_schema`].
    pub configuration_schema: &'a Schema,
}

impl<'a> Descriptor<'a> {
    /// The descriptor of `plugin`.
    pub fn of(plugin: &'a dyn Plugin) -> Self {
        Self {
            identifier: plugin.identifier(),
            display_name: plugin.display_name(),
            description: plugin.description(),
            connections: plugin.connections(),
            configuration_schema: plugin.configuration_schema(),
        }
    }
}
