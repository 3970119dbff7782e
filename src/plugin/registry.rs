//! The [`Registry`]: the plugins a host offers, looked up by identifier.

use std::fmt;
use std::sync::Arc;

use super::{Connection, Plugin};

/// The plugins a host offers, in registration order, each under a unique identifier.
///
/// Build it once at start-up and share it (it is `Send + Sync`); look plugins up by the service name in a route
/// (`/webhook/{service}/...`) or stored on an [`Integration`](crate::Integration).
///
/// ```
/// use spark_integrations::plugin::{Connection, Registry};
/// use spark_integrations::providers::{github::GithubPlugin, slack::SlackPlugin};
///
/// let mut registry = Registry::new();
/// registry.register(GithubPlugin::new())?;
/// registry.register(SlackPlugin::new())?;
/// assert!(registry.register(SlackPlugin::new()).is_err());
///
/// assert_eq!(registry.get("slack").map(|plugin| plugin.display_name()), Some("Slack"));
/// let pollable: Vec<_> = registry.with_connection(Connection::Polling).map(|plugin| plugin.identifier()).collect();
/// assert_eq!(pollable, ["github"]);
/// # Ok::<(), spark_integrations::plugin::RegistryError>(())
/// ```
#[derive(Default, Clone)]
pub struct Registry {
    // A few plugins at most: a scan is as fast as a map and keeps registration order for free.
    plugins: Vec<Arc<dyn Plugin>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `plugin`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidIdentifier`] unless the identifier is non-empty lowercase `[a-z0-9_-]+`;
    /// [`RegistryError::Duplicate`] when a plugin with the same identifier is already registered. The registry is
    /// unchanged on error.
    pub fn register<P: Plugin + 'static>(&mut self, plugin: P) -> Result<(), RegistryError> {
        self.register_shared(Arc::new(plugin))
    }

    /// Adds a plugin the host also holds elsewhere. Same checks as [`register`](Self::register).
    ///
    /// # Errors
    ///
    /// As for [`register`](Self::register).
    pub fn register_shared(&mut self, plugin: Arc<dyn Plugin>) -> Result<(), RegistryError> {
        let identifier = plugin.identifier();
        if !is_valid_identifier(identifier) {
            return Err(RegistryError::InvalidIdentifier {
                identifier: identifier.to_owned(),
            });
        }
        if self.get(identifier).is_some() {
            return Err(RegistryError::Duplicate {
                identifier: identifier.to_owned(),
            });
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// The plugin registered under `identifier`, if any. Clone the `Arc` to keep it beyond the registry's borrow.
    pub fn get(&self, identifier: &str) -> Option<&Arc<dyn Plugin>> {
        self.plugins.iter().find(|plugin| plugin.identifier() == identifier)
    }

    /// Every plugin, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Plugin>> {
        self.plugins.iter()
    }

    /// The plugins that support `connection`, in registration order: the OAuth services to offer, the webhook
    /// services to route, the services a scheduler polls.
    pub fn with_connection(&self, connection: Connection) -> impl Iterator<Item = &Arc<dyn Plugin>> {
        self.plugins
            .iter()
            .filter(move |plugin| plugin.connections().contains(connection))
    }

    /// How many plugins are registered.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether no plugin is registered.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.plugins.iter().map(|plugin| plugin.identifier()))
            .finish()
    }
}

impl<'a> IntoIterator for &'a Registry {
    type Item = &'a Arc<dyn Plugin>;
    type IntoIter = std::slice::Iter<'a, Arc<dyn Plugin>>;

    fn into_iter(self) -> Self::IntoIter {
        self.plugins.iter()
    }
}

/// Why [`Registry::register`] refused a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Another plugin already uses this identifier.
    #[error("a plugin with identifier `{identifier}` is already registered")]
    Duplicate {
        /// The identifier in use.
        identifier: String,
    },
    /// The identifier is empty or has characters other than lowercase ASCII letters, digits, `_` and `-`.
    #[error("invalid plugin identifier `{identifier}`: use one or more of `a-z`, `0-9`, `_` and `-`")]
    InvalidIdentifier {
        /// The identifier given.
        identifier: String,
    },
}

/// Whether `identifier` is non-empty lowercase `[a-z0-9_-]+`: safe in a URL path segment, a log line, a
/// database column, with no case folding needed.
fn is_valid_identifier(identifier: &str) -> bool {
    !identifier.is_empty()
        && identifier
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'-'))
}
