//! Slack: the Events API converter.

/// The plugin identifier and [`Event::service`](crate::model::Event::service) of Slack.
pub const SERVICE: &str = "slack";
