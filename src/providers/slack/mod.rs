//! Slack: the Events API converter.
//!
//! [`SlackConverter`] turns the body of a Slack Events API request into a [`Conversion`]. Call it after the
//! request's signature was verified, with the raw body as [`Payload::Webhook`] (`event` and `delivery_id` are
//! `None`: Slack puts both in the body, and the converter ignores them when set) or [`Payload::Polled`]; both are
//! read the same way.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use spark_integrations::convert::{ConvertContext, Conversion, Converter, Payload};
//! use spark_integrations::model::format_time;
//! use spark_integrations::providers::slack::SlackConverter;
//!
//! let body = br#"{"type":"event_callback","team_id":"T123ABC456","event_id":"Ev123ABC456","event_time":1355517523,
//!     "event":{"type":"message","channel":"C123ABC456","user":"U123ABC456","text":"Hello world",
//!              "ts":"1355517523.000005"}}"#;
//! let payload = Payload::Webhook { event: None, delivery_id: None, body };
//! let received_at = Utc.with_ymd_and_hms(2012, 12, 14, 20, 38, 44).unwrap();
//! let Conversion::Converted(events) = SlackConverter.convert(payload, &ConvertContext::new(received_at))? else {
//!     panic!("a message is activity");
//! };
//! assert_eq!((events[0].domain.as_str(), events[0].action.as_str()), ("message", "sent"));
//! assert_eq!(events[0].source_id, "Ev123ABC456");
//! assert_eq!(format_time(&events[0].time), "2012-12-14T20:38:43.000005Z");
//! assert_eq!(events[0].actor.key, "slack:T123ABC456:user:U123ABC456");
//! assert_eq!(events[0].target.key, "slack:T123ABC456:message:C123ABC456:1355517523.000005");
//!
//! // The URL verification handshake: answer with the challenge.
//! let body = br#"{"type":"url_verification","token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV"}"#;
//! let conversion = SlackConverter.convert(Payload::Polled { body }, &ConvertContext::new(received_at))?;
//! assert_eq!(conversion, Conversion::Challenge("3eZbrw1aBm2rZgRNFdxV".to_owned()));
//! # Ok::<(), spark_integrations::convert::ConvertError>(())
//! ```
//!
//! # Envelopes
//!
//! | envelope `type` | result |
//! |---|---|
//! | `event_callback` | the inner `event`, per the table below |
//! | `url_verification` | [`Conversion::Challenge`] with its `challenge` (missing: [`ConvertError::MissingField`]) |
//! | `app_rate_limited` | [`Conversion::Skipped`] with [`SkipReason::AppRateLimited`] |
//! | anything else | skipped, [`SkipReason::UnsupportedType`] |
//! | missing or empty | [`ConvertError::MissingField`] `type` |
//!
//! An `event_callback` must carry a non-empty `event_id` (the event's [`source_id`](crate::model::Event::source_id):
//! Slack's retries repeat it, so a retry is a duplicate in the store) and `team_id` (the scope of every key), and an `event` with
//! a `type`; otherwise the conversion fails with [`ConvertError::MissingField`] naming `event_id`, `team_id`,
//! `event` or `event.type`. Every other field may be missing, `null`, empty or of another JSON type: it is then left
//! out, or replaced as described below; it never causes an error.
//!
//! # Events
//!
//! | `event.type` (`subtype`) | domain | action | actor | target (concept) | value / unit |
//! |---|---|---|---|---|---|
//! | `message` (none, `thread_broadcast`, `me_message`, `file_share`) | `message` | `sent` | author | the message (`message`); one block per file, each its `size` / `bytes` (1 / `file` when the size is unknown) | 1 / `message` |
//! | `message` (`bot_message`) | `message` | `sent` | the bot (`bot`) | the message | 1 / `message` |
//! | `message` (`message_changed`) | `message` | `edited` | `message.edited.user`, else the author | the original message, keyed by `message.ts`, with its new text | 1 / `message` |
//! | `message` (`message_deleted`) | `message` | `deleted` | the workspace (`workspace`): Slack does not say who deleted it | the original message, keyed by `deleted_ts`, without its text | 1 / `message` |
//! | `message` (`channel_join`, `channel_leave`) | `channel` | `joined`, `left` | the member | the channel (`channel`) | 1 / `channel` |
//! | `message` (`channel_topic`, `channel_purpose`, `channel_name`) | `channel` | `topic_changed`, `purpose_changed`, `renamed` | who changed it | the channel; the new value in `event_metadata` | 1 / `channel` |
//! | `message` (any other subtype) | skipped, [`SkipReason::UnsupportedAction`] | | | | |
//! | `app_mention` | `message` | `mentioned` | author | the message that mentions the app | 1 / `message` |
//! | `reaction_added`, `reaction_removed` | `reaction` | `added`, `removed` | `user` | the reacted item: a message (`item.channel`, `item.ts`) or a file (`item.file`) | 1 / `reaction` |
//! | `file_shared` | `file` | `shared` | `user_id` | the file (`file`) | the file's `size` / `bytes`; 1 / `file` when the event carries no size (Slack usually sends only `file_id`) |
//! | any other type | skipped, [`SkipReason::UnsupportedType`] | | | | |
//!
//! `value_multiplier` is always 1.
//!
//! Skipped message subtypes include `message_replied` (a notice that a thread got a reply: the reply arrives as its
//! own message, so converting the notice would count it twice), `channel_archive`, `pinned_item`, `ekm_access_denied`
//! and anything Slack adds later. A `message_changed` without its nested `message` names no message to edit and is
//! skipped too, and so is one that is not an edit: Slack also sends `message_changed` when it adds link previews
//! (unfurls) or language metadata to a message, with no `edited` mark and the text unchanged; those are skipped as
//! `message_changed without an edit`. The author of a message is its `user`, else its `bot_id` (for `bot_message` the
//! bot comes first), else the workspace. Deleted messages keep no text: the user removed it.
//!
//! Event metadata holds `channel`, `channel_type` and `subtype` where present; for messages in a thread,
//! `thread_ts`, `is_thread_reply` and, for replies, `thread_key` (the key of the thread's parent message); for edits
//! `previous_text`; for reactions `reaction` and `item_type`.
//!
//! Every object's metadata holds `team` (the envelope's `team_id`) and its Slack id: `id` for users, bots, the
//! workspace, channels and files; `channel` and `ts` for messages (and `thread_ts` in a thread); channels also
//! hold `channel`. Files add `mimetype` and `filetype`; a reacted message the reacted-to `user`.
//!
//! # Selected types
//!
//! The plugin's configuration selects the `event.type`s to record in its `events` field (a subset of
//! [`EVENT_TYPES`]). When the context carries that configuration ([`ConvertContext::with_configuration`]), an
//! `event_callback` of a handled type that is not selected is skipped as [`SkipReason::NotSelected`] ("not selected
//! in the integration's configuration"), after the envelope's `event_id`, `team_id` and `event.type` were checked.
//! Types the converter does not handle stay [`SkipReason::UnsupportedType`]; `url_verification` and
//! `app_rate_limited` are unaffected. Without a configuration every handled type is converted.
//!
//! # Keys
//!
//! Slack ids are unique per workspace only, so every key starts with the envelope's `team_id`:
//!
//! | concept | type | key |
//! |---|---|---|
//! | `user` | `slack_user` | `slack:{team_id}:user:{user}` |
//! | `bot` | `slack_bot` | `slack:{team_id}:bot:{bot_id}` |
//! | `workspace` | `slack_team` | `slack:{team_id}:team` |
//! | `channel` | `slack_channel` | `slack:{team_id}:channel:{channel}` |
//! | `message` | `slack_message` | `slack:{team_id}:message:{channel}:{ts}` |
//! | `file` | `slack_file` | `slack:{team_id}:file:{file_id}` |
//!
//! A missing channel, `ts` or file id is written `unknown`, so the key keeps its shape.
//!
//! # Time
//!
//! An event's time is the first usable one of `event.event_ts`, `event.ts`, the envelope's `event_time` (whole
//! seconds) and [`ConvertContext::received_at`]. Slack's `ts` strings are read by hand, keeping their microseconds
//! exactly: `1355517523.000005` is `2012-12-14T20:38:43.000005Z`. Digits-only values such as the
//! `"1515449522000016"` of Slack's `app_mention` example (its `ts` without the dot) are read by length: up to 11
//! digits seconds, 12-14 milliseconds, 15-17 microseconds, 18-19 nanoseconds. A `ts` sent as a JSON number is
//! rounded to the microsecond.

mod enrich;
mod events;
pub mod oauth;
mod plugin;
mod ts;
mod wire;

use chrono::DateTime;

pub use enrich::SlackEnricher;
pub use plugin::SlackPlugin;

use crate::convert::{
    Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason, from_slice, refuse_unstorable_times,
};
use wire::Envelope;
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

/// The configuration field (a string array of [`EVENT_TYPES`]) that selects the event types to record.
pub(crate) const EVENTS_FIELD: &str = "events";

/// Converts Slack Events API request bodies (`event_callback`, `url_verification`, `app_rate_limited`).
///
/// See the [module docs](self) for what each event type becomes. The converter holds no state; it is pure and
/// never panics.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackConverter;

impl Converter for SlackConverter {
    fn convert(&self, payload: Payload<'_>, context: &ConvertContext) -> Result<Conversion, ConvertError> {
        let envelope: Envelope<'_> = from_slice(payload.body())?;
        match envelope.kind.text() {
            // Slack's `ts` values are loose text: a time no store could read back is refused, not stored.
            Some("event_callback") => event_callback(&envelope, context).and_then(refuse_unstorable_times),
            Some("url_verification") => match envelope.challenge.text() {
                Some(challenge) => Ok(Conversion::Challenge(challenge.to_owned())),
                None => Err(missing("challenge")),
            },
            Some("app_rate_limited") => Ok(Conversion::Skipped(SkipReason::AppRateLimited)),
            Some(other) => Ok(Conversion::Skipped(SkipReason::UnsupportedType(other.to_owned()))),
            None => Err(missing("type")),
        }
    }
}

fn event_callback<'a>(envelope: &'a Envelope<'_>, context: &ConvertContext) -> Result<Conversion, ConvertError> {
    let event_id = envelope.event_id.id().ok_or_else(|| missing("event_id"))?;
    let team = envelope.team_id.id().ok_or_else(|| missing("team_id"))?;
    let event = envelope.event.get().ok_or_else(|| missing("event"))?;
    let kind = event.kind.text().ok_or_else(|| missing("event.type"))?;
    // A type the converter handles but the integration did not select; other types stay `UnsupportedType`.
    if EVENT_TYPES.contains(&kind) && !context.is_selected(EVENTS_FIELD, kind) {
        return Ok(Conversion::Skipped(SkipReason::NotSelected { kind: kind.to_owned() }));
    }
    let from_ts = |ts: &'a wire::Loose<'_>| ts::parse(ts).map(|time| (time, ts.text()));
    let (time, time_text) = from_ts(&event.event_ts)
        .or_else(|| from_ts(&event.ts))
        .unwrap_or_else(|| {
            let time = envelope
                .event_time
                .integer()
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                .unwrap_or(context.received_at);
            (time, None)
        });
    let callback = events::Callback {
        event_id: &event_id,
        team: &team,
        time,
        time_text,
    };
    Ok(events::convert(&callback, kind, event))
}

fn missing(path: &str) -> ConvertError {
    ConvertError::MissingField { path: path.to_owned() }
}
