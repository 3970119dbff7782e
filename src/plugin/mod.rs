//! The plugin contract: what one service (GitHub, Slack, ...) tells the host about itself, and the [`Registry`]
//! that holds the services a host offers.
//!
//! A [`Plugin`] is a description plus capabilities. The description (identifier, names, the [`Connections`] it
//! supports, its configuration [`Schema`]) drives the host's UI and routing; the capabilities (a converter today;
//! an OAuth provider, a webhook verifier and a poller as those land) do the work. A host adds a service by
//! implementing [`Plugin`] and registering it: nothing in the registry or the core changes.
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

use serde::Serialize;

use crate::convert::Converter;
use crate::oauth::Provider;
use crate::poll::Poller;
use crate::webhook::WebhookVerifier;

pub use connection::{Connection, Connections};
pub use registry::{Registry, RegistryError};
pub use schema::{Field, FieldOption, FieldType, Format, Schema};
pub use validate::{ConfigError, Configuration, ValidationErrors};

/// One service the host can connect to: what it is, how it connects, what it needs configured, and what it can do.
///
/// The trait is object safe and `Send + Sync`: a [`Registry`] holds plugins as `Arc<dyn Plugin>` and shares them
/// across threads. Implement it to add a service; the identifier must be unique and lowercase `[a-z0-9_-]+`.
///
/// # Capabilities
///
/// Each capability is a provided method returning `Option<&dyn ...>`, `None` by default; a plugin overrides the
/// ones it has: [`converter`](Self::converter), [`oauth_provider`](Self::oauth_provider),
/// [`webhook_verifier`](Self::webhook_verifier) and [`poller`](Self::poller). A capability added later comes the
/// same way, as a provided method defaulting to `None`, so adding one never breaks an existing implementation.
pub trait Plugin: Send + Sync {
    /// The unique, stable identifier: lowercase `[a-z0-9_-]+` (`github`). It names the service in URLs
    /// (`/webhook/{identifier}/...`), in storage and in [`Event::service`](crate::Event::service).
    fn identifier(&self) -> &str;

    /// The name to show people (`GitHub`).
    fn display_name(&self) -> &str;

    /// One sentence saying what connecting this service does.
    fn description(&self) -> &str;

    /// The ways the service connects: OAuth, polling, webhooks, in any combination.
    fn connections(&self) -> Connections;

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
    /// [`webhook::intake_for`](crate::webhook::intake_for).
    fn webhook_verifier(&self) -> Option<&dyn WebhookVerifier> {
        None
    }

    /// The poller of this service's activity API, if it is polled. See [`crate::schedule`] for the host's loop.
    fn poller(&self) -> Option<&dyn Poller> {
        None
    }
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
    /// [`Plugin::connections`].
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
