//! Slack: the Events API converter.

use crate::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};

mod signature;

pub use signature::SlackVerifier;

/// The plugin identifier and [`Event::service`](crate::model::Event::service) of Slack.
pub const SERVICE: &str = "slack";

/// The Events API `event.type`s that [`SlackConverter`] turns into events.
pub const EVENT_TYPES: &[&str] = &[
    "app_mention",
    "file_shared",
    "message",
    "reaction_added",
    "reaction_removed",
];

/// Converts Slack Events API request bodies (`event_callback`, `url_verification`, `app_rate_limited`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackConverter;

impl Converter for SlackConverter {
    fn convert(&self, _payload: Payload<'_>, _context: &ConvertContext) -> Result<Conversion, ConvertError> {
        // Placeholder until the converter lands.
        Ok(Conversion::Skipped(SkipReason::UnsupportedType(String::new())))
    }
}
