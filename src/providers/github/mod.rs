//! GitHub: converters for Events API items and webhook deliveries.

use crate::convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};

mod signature;

pub use signature::GithubVerifier;

/// The plugin identifier and [`Event::service`](crate::model::Event::service) of GitHub.
pub const SERVICE: &str = "github";

/// The Events API `type`s that [`GithubConverter`] turns into events.
pub const EVENTS_API_TYPES: &[&str] = &[
    "CommitCommentEvent",
    "CreateEvent",
    "DeleteEvent",
    "ForkEvent",
    "GollumEvent",
    "IssueCommentEvent",
    "IssuesEvent",
    "MemberEvent",
    "PublicEvent",
    "PullRequestEvent",
    "PullRequestReviewCommentEvent",
    "PullRequestReviewEvent",
    "PushEvent",
    "ReleaseEvent",
    "WatchEvent",
];

/// Converts GitHub payloads: [`Payload::Polled`] items of the Events API and [`Payload::Webhook`] deliveries.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubConverter;

impl Converter for GithubConverter {
    fn convert(&self, _payload: Payload<'_>, _context: &ConvertContext) -> Result<Conversion, ConvertError> {
        // Placeholder until the converters land.
        Ok(Conversion::Skipped(SkipReason::UnsupportedType(String::new())))
    }
}
