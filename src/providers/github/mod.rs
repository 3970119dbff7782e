//! GitHub: converters for Events API items and webhook deliveries.

/// The plugin identifier and [`Event::service`](crate::model::Event::service) of GitHub.
pub const SERVICE: &str = "github";
