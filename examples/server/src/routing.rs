//! Which webhook URLs are known: remembered for a while after a lookup, so that a delivery to a known URL reaches
//! the inbox without a blocking database lookup of its own first.
//!
//! The memory is only a shortcut, never the last word: the group writer reads each integration of a group again (one
//! read per integration and group, on its own thread) before it keeps anything, and refuses a delivery whose URL no
//! longer routes to it, as an unknown URL, forgetting that URL here; a delivery converted ahead with a remembered
//! configuration that is no longer the integration's is converted again with the current one. So a URL whose integration is gone, or whose
//! routing secret changed, is refused from the next delivery on, on every instance; what is remembered saves the
//! lookup, not the check. Unknown URLs are not remembered: each costs its lookup, before the body is read.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use spark_integrations::store::routing_key;
use spark_integrations::{Configuration, RoutingSecret};

/// How long a URL found known is remembered (the group writer checks it again every time anyway).
const REMEMBERED_FOR: Duration = Duration::from_secs(60);

/// The most URLs remembered at once; beyond it the memory starts over.
const MAX_REMEMBERED: usize = 10_000;

/// The webhook URLs found known lately, by service and [`routing_key`] (the digest, not the secret).
#[derive(Debug, Default)]
pub struct KnownRoutes {
    routes: Mutex<HashMap<Route, Known>>,
}

/// A webhook URL: its service and the digest of its routing secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub service: String,
    pub key: String,
}

impl Route {
    /// The URL `/webhook/{service}/{secret}`.
    pub fn new(service: &str, secret: &RoutingSecret) -> Self {
        Self {
            service: service.to_owned(),
            key: routing_key(secret),
        }
    }
}

#[derive(Debug)]
struct Known {
    integration_id: String,
    configuration: Option<Configuration>,
    at: Instant,
}

impl KnownRoutes {
    /// The integration `route` led to when it was last found, if that was less than a minute ago, and its
    /// configuration then (to convert with ahead of the group writer, which checks it is still the one).
    pub fn get(&self, route: &Route) -> Option<(String, Option<Configuration>)> {
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        routes
            .get(route)
            .filter(|known| known.at.elapsed() < REMEMBERED_FOR)
            .map(|known| (known.integration_id.clone(), known.configuration.clone()))
    }

    /// Remembers that `route` leads to `integration_id`, configured with `configuration`.
    pub fn remember(&self, route: Route, integration_id: &str, configuration: Option<&Configuration>) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if routes.len() >= MAX_REMEMBERED {
            routes.clear();
        }
        routes.insert(
            route,
            Known {
                integration_id: integration_id.to_owned(),
                configuration: configuration.cloned(),
                at: Instant::now(),
            },
        );
    }

    /// Forgets `route`: it no longer leads where it did.
    pub fn forget(&self, route: &Route) {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).remove(route);
    }
}
