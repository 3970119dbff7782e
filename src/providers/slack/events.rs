//! From a parsed `event_callback` to [`Conversion`]: one function per handled event type.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SERVICE;
use super::ts;
use super::wire::{File, Inner, Loose};
use crate::convert::{Conversion, SkipReason};
use crate::model::{Block, Event, Metadata, Object};

/// What every event of one envelope shares.
pub(super) struct Callback<'e> {
    /// The envelope's `event_id`.
    pub(super) event_id: &'e str,
    /// The envelope's `team_id`: the scope of every key.
    pub(super) team: &'e str,
    /// The event's time, already resolved through the fallbacks.
    pub(super) time: DateTime<Utc>,
    /// The `ts` text `time` was read from, if it came from one: an object with the same `ts` takes `time` as it is.
    pub(super) time_text: Option<&'e str>,
}

/// Converts the inner event of an `event_callback` whose `type` is `kind`.
pub(super) fn convert(callback: &Callback<'_>, kind: &str, event: &Inner<'_>) -> Conversion {
    match kind {
        "message" => message(callback, event),
        "app_mention" => {
            let target = message_object(callback, event, event.channel.text());
            let mut metadata = Metadata::new();
            insert(&mut metadata, "channel", &event.channel);
            insert_thread(&mut metadata, callback, event, event.channel.text());
            converted(
                callback,
                ("message", "mentioned"),
                author(callback, event),
                target,
                metadata,
                ONE_MESSAGE,
            )
        }
        "reaction_added" => reaction(callback, event, "added"),
        "reaction_removed" => reaction(callback, event, "removed"),
        "file_shared" => {
            let actor = first_user(callback, [&event.user_id, &event.user]).unwrap_or_else(|| workspace(callback));
            let file_id = event
                .file_id
                .text()
                .or_else(|| event.file.get().and_then(|file| file.id.text()));
            let target = file_object(callback, file_id, event.file.get());
            let count = file_size(event.file.get()).map_or((1, "file"), |size| (size, "bytes"));
            let mut metadata = Metadata::new();
            insert(
                &mut metadata,
                "channel",
                if event.channel_id.is_present() {
                    &event.channel_id
                } else {
                    &event.channel
                },
            );
            converted(callback, ("file", "shared"), actor, target, metadata, count)
        }
        other => Conversion::Skipped(SkipReason::UnsupportedType(other.to_owned())),
    }
}

/// `message` and its subtypes; see the table in the module docs.
fn message(callback: &Callback<'_>, event: &Inner<'_>) -> Conversion {
    let subtype = event.subtype.text();
    match subtype {
        None | Some("thread_broadcast" | "me_message" | "bot_message" | "file_share") => {
            let mut target = message_object(callback, event, event.channel.text());
            let mut metadata = Metadata::new();
            insert(&mut metadata, "channel", &event.channel);
            insert(&mut metadata, "channel_type", &event.channel_type);
            insert(&mut metadata, "subtype", &event.subtype);
            insert_thread(&mut metadata, callback, event, event.channel.text());
            let blocks: Vec<Block> = event.files.0.iter().map(file_block).collect();
            if !blocks.is_empty() {
                target.metadata.insert("files".to_owned(), Value::from(blocks.len()));
            }
            let mut converted_event = event_of(
                callback,
                ("message", "sent"),
                author(callback, event),
                target,
                metadata,
                ONE_MESSAGE,
            );
            converted_event.blocks = blocks;
            Conversion::Converted(vec![converted_event])
        }
        Some("message_changed") => {
            let Some(new) = event.message.get() else {
                return Conversion::Skipped(SkipReason::UnsupportedAction {
                    kind: "message".to_owned(),
                    action: "message_changed without message".to_owned(),
                });
            };
            // Slack also sends `message_changed` when it adds link previews (unfurls) or language metadata: no
            // `edited` mark and the same text. Nobody edited anything.
            let previous = event.previous_message.get();
            if new.edited.get().is_none() && previous.is_some_and(|previous| previous.text.text() == new.text.text()) {
                return Conversion::Skipped(SkipReason::UnsupportedAction {
                    kind: "message".to_owned(),
                    action: "message_changed without an edit".to_owned(),
                });
            }
            let channel = event.channel.text().or_else(|| new.channel.text());
            let mut target = message_object(callback, new, channel);
            target.content = new.text.text().map(str::to_owned);
            let actor = match new.edited.get() {
                Some(edited) => first_user(callback, [&edited.user]),
                None => None,
            }
            .unwrap_or_else(|| author(callback, new));
            let mut metadata = Metadata::new();
            insert(&mut metadata, "channel", &event.channel);
            insert(&mut metadata, "channel_type", &event.channel_type);
            insert(&mut metadata, "subtype", &event.subtype);
            insert_thread(&mut metadata, callback, new, channel);
            if let Some(previous) = previous {
                insert(&mut metadata, "previous_text", &previous.text);
            }
            converted(callback, ("message", "edited"), actor, target, metadata, ONE_MESSAGE)
        }
        Some("message_deleted") => {
            let previous = event.previous_message.get();
            let deleted_ts = ts_text(&event.deleted_ts).or_else(|| previous.and_then(|message| ts_text(&message.ts)));
            let mut target = message_object_bare(callback, event.channel.text(), deleted_ts.as_deref());
            if let Some(previous) = previous {
                insert(&mut target.metadata, "user", &previous.user);
                insert(&mut target.metadata, "bot_id", &previous.bot_id);
                target.time = ts::parse(&previous.ts);
            }
            let mut metadata = Metadata::new();
            insert(&mut metadata, "channel", &event.channel);
            insert(&mut metadata, "channel_type", &event.channel_type);
            insert(&mut metadata, "subtype", &event.subtype);
            converted(
                callback,
                ("message", "deleted"),
                workspace(callback),
                target,
                metadata,
                ONE_MESSAGE,
            )
        }
        Some(kind @ ("channel_join" | "channel_leave" | "channel_topic" | "channel_purpose" | "channel_name")) => {
            let action = match kind {
                "channel_join" => "joined",
                "channel_leave" => "left",
                "channel_topic" => "topic_changed",
                "channel_purpose" => "purpose_changed",
                _ => "renamed",
            };
            let target = channel_object(callback, event.channel.text());
            let mut metadata = Metadata::new();
            insert(&mut metadata, "subtype", &event.subtype);
            insert(&mut metadata, "channel_type", &event.channel_type);
            insert(&mut metadata, "message_ts", &event.ts);
            insert(&mut metadata, "inviter", &event.inviter);
            insert(&mut metadata, "topic", &event.topic);
            insert(&mut metadata, "purpose", &event.purpose);
            insert(&mut metadata, "name", &event.name);
            insert(&mut metadata, "old_name", &event.old_name);
            converted(
                callback,
                ("channel", action),
                author(callback, event),
                target,
                metadata,
                (1, "channel"),
            )
        }
        Some(other) => Conversion::Skipped(SkipReason::UnsupportedAction {
            kind: "message".to_owned(),
            action: other.to_owned(),
        }),
    }
}

/// `reaction_added` / `reaction_removed`: the target is the reacted item.
fn reaction(callback: &Callback<'_>, event: &Inner<'_>, action: &'static str) -> Conversion {
    let actor = first_user(callback, [&event.user]).unwrap_or_else(|| workspace(callback));
    let item = event.item.get();
    let item_kind = item.and_then(|item| item.kind.text());
    let mut target = match item {
        Some(item) if matches!(item_kind, Some("file" | "file_comment")) => {
            file_object(callback, item.file.text(), None)
        }
        Some(item) => message_object_bare(callback, item.channel.text(), ts_text(&item.ts).as_deref()),
        None => message_object_bare(callback, None, None),
    };
    if let Some(item) = item {
        insert(&mut target.metadata, "file_comment", &item.file_comment);
    }
    insert(&mut target.metadata, "user", &event.item_user);
    let mut metadata = Metadata::new();
    insert(&mut metadata, "reaction", &event.reaction);
    if let Some(kind) = item_kind {
        metadata.insert("item_type".to_owned(), Value::from(kind));
    }
    converted(callback, ("reaction", action), actor, target, metadata, (1, "reaction"))
}

/// What an event counts: its value and unit (see the table in the module docs).
type Count = (i64, &'static str);

/// A message sent, edited, deleted or mentioning the app counts as one message.
const ONE_MESSAGE: Count = (1, "message");

fn converted(
    callback: &Callback<'_>,
    domain_action: (&'static str, &'static str),
    actor: Object,
    target: Object,
    metadata: Metadata,
    count: Count,
) -> Conversion {
    Conversion::Converted(vec![event_of(callback, domain_action, actor, target, metadata, count)])
}

fn event_of(
    callback: &Callback<'_>,
    (domain, action): (&'static str, &'static str),
    actor: Object,
    target: Object,
    metadata: Metadata,
    (value, unit): Count,
) -> Event {
    let mut event = Event::new(callback.event_id, callback.time, SERVICE, domain, action, actor, target);
    event.event_metadata = metadata;
    event.value = Some(value);
    event.value_unit = Some(unit.into());
    event
}

/// A file's `size` in bytes, when the payload gives a usable one.
fn file_size(file: Option<&File<'_>>) -> Option<i64> {
    file.and_then(|file| file.size.integer()).filter(|size| *size >= 0)
}

/// An object keyed in the workspace, with the workspace's id in its metadata as `team`.
fn scoped_object(callback: &Callback<'_>, key: String, concept: &'static str, kind: &'static str) -> Object {
    let mut object = Object::new(key, concept, kind);
    object.metadata.insert("team".to_owned(), Value::from(callback.team));
    object
}

/// Who wrote a message: its `user`, else its bot, else the workspace. For `bot_message` the bot comes first.
fn author(callback: &Callback<'_>, event: &Inner<'_>) -> Object {
    let bot_first = event.subtype.text() == Some("bot_message");
    let user = || first_user(callback, [&event.user]);
    let bot = || bot_object(callback, event);
    let found = if bot_first {
        bot().or_else(user)
    } else {
        user().or_else(bot)
    };
    let mut actor = found.unwrap_or_else(|| workspace(callback));
    if actor.concept == "user" {
        insert(&mut actor.metadata, "bot_id", &event.bot_id);
    }
    actor
}

/// The first of `candidates` that holds a user id, as a user object.
fn first_user<const N: usize>(callback: &Callback<'_>, candidates: [&Loose<'_>; N]) -> Option<Object> {
    let id = candidates.into_iter().find_map(|candidate| candidate.text())?;
    let mut user = scoped_object(callback, key(callback, "user", &[id]), "user", "slack_user");
    user.metadata.insert("id".to_owned(), Value::from(id));
    Some(user)
}

fn bot_object(callback: &Callback<'_>, event: &Inner<'_>) -> Option<Object> {
    let id = event.bot_id.text()?;
    let mut bot = scoped_object(callback, key(callback, "bot", &[id]), "bot", "slack_bot");
    bot.title = event
        .username
        .text()
        .or_else(|| event.bot_profile.get().and_then(|profile| profile.name.text()))
        .map(str::to_owned);
    bot.metadata.insert("id".to_owned(), Value::from(id));
    Some(bot)
}

/// The workspace itself: the actor when Slack does not say who acted (a deletion), and the last fallback.
fn workspace(callback: &Callback<'_>) -> Object {
    let mut team = scoped_object(callback, key(callback, "team", &[]), "workspace", "slack_team");
    team.metadata.insert("id".to_owned(), Value::from(callback.team));
    team
}

fn channel_object(callback: &Callback<'_>, channel: Option<&str>) -> Object {
    let mut object = scoped_object(
        callback,
        key(callback, "channel", &[channel.unwrap_or(UNKNOWN)]),
        "channel",
        "slack_channel",
    );
    if let Some(channel) = channel {
        object.metadata.insert("id".to_owned(), Value::from(channel));
        object.metadata.insert("channel".to_owned(), Value::from(channel));
    }
    object
}

/// A message object with its text and thread, from the event that carries the message itself.
fn message_object(callback: &Callback<'_>, event: &Inner<'_>, channel: Option<&str>) -> Object {
    let mut object = message_object_bare(callback, channel, ts_text(&event.ts).as_deref());
    object.content = event.text.text().map(str::to_owned);
    insert(&mut object.metadata, "thread_ts", &event.thread_ts);
    object
}

/// A message object known only by its channel and `ts` (a reaction's item, a deleted message).
fn message_object_bare(callback: &Callback<'_>, channel: Option<&str>, ts: Option<&str>) -> Object {
    let segments = [channel.unwrap_or(UNKNOWN), ts.unwrap_or(UNKNOWN)];
    let mut object = scoped_object(
        callback,
        key(callback, "message", &segments),
        "message",
        "slack_message",
    );
    if let Some(channel) = channel {
        object.metadata.insert("channel".to_owned(), Value::from(channel));
    }
    if let Some(ts) = ts {
        object.metadata.insert("ts".to_owned(), Value::from(ts));
        object.time = if callback.time_text == Some(ts) {
            Some(callback.time)
        } else {
            ts::parse(&Loose::Str(Cow::Borrowed(ts)))
        };
    }
    object
}

fn file_object(callback: &Callback<'_>, id: Option<&str>, file: Option<&File<'_>>) -> Object {
    let mut object = scoped_object(
        callback,
        key(callback, "file", &[id.unwrap_or(UNKNOWN)]),
        "file",
        "slack_file",
    );
    if let Some(id) = id {
        object.metadata.insert("id".to_owned(), Value::from(id));
    }
    if let Some(file) = file {
        object.title = file.title.text().or_else(|| file.name.text()).map(str::to_owned);
        object.url = file.permalink.text().map(str::to_owned);
        insert(&mut object.metadata, "mimetype", &file.mimetype);
        insert(&mut object.metadata, "filetype", &file.filetype);
        object.time = ts::parse(&file.created);
    }
    object
}

/// One block per file of a `file_share` message: title, permalink, private download URL and its size in `bytes`
/// (1 `file` when the size is unknown).
fn file_block(file: &File<'_>) -> Block {
    let (value, unit) = file_size(Some(file)).map_or((1, "file"), |size| (size, "bytes"));
    Block {
        time: ts::parse(&file.created),
        title: file.title.text().or_else(|| file.name.text()).map(str::to_owned),
        content: None,
        url: file.permalink.text().map(str::to_owned),
        media_url: file.url_private.text().map(str::to_owned),
        value: Some(value),
        value_unit: Some(unit.into()),
        ..Block::default()
    }
}

/// `thread_ts` and, for a reply (`thread_ts` differs from `ts`), `thread_key`: the key of the thread's parent.
fn insert_thread(metadata: &mut Metadata, callback: &Callback<'_>, event: &Inner<'_>, channel: Option<&str>) {
    let Some(thread_ts) = ts_text(&event.thread_ts) else {
        return;
    };
    let is_reply = ts_text(&event.ts) != Some(thread_ts.clone());
    metadata.insert("is_thread_reply".to_owned(), Value::from(is_reply));
    if let (true, Some(channel)) = (is_reply, channel) {
        let parent = key(callback, "message", &[channel, &thread_ts]);
        metadata.insert("thread_key".to_owned(), Value::from(parent));
    }
    metadata.insert("thread_ts".to_owned(), Value::from(thread_ts.into_owned()));
}

/// A `ts` as it goes into a key: the string as sent; a JSON number written back in Slack's form (six fractional
/// digits, which an `f64` near today's epoch holds exactly to the microsecond).
fn ts_text<'v>(value: &'v Loose<'_>) -> Option<Cow<'v, str>> {
    match value {
        Loose::Str(text) => Some(Cow::Borrowed(text)),
        Loose::Unsigned(number) => Some(Cow::Owned(number.to_string())),
        Loose::Float(number) if number.is_finite() => Some(Cow::Owned(format!("{number:.6}"))),
        Loose::Float(_) | Loose::Signed(_) | Loose::Absent => None,
    }
}

/// Stands in for an id the payload does not carry, so that a key keeps its shape.
const UNKNOWN: &str = "unknown";

/// `slack:{team}:{kind}:{segment}[:{segment}]`, allocated once at its final length.
fn key(callback: &Callback<'_>, kind: &str, segments: &[&str]) -> String {
    let length = SERVICE.len() + callback.team.len() + kind.len() + 2;
    let mut key = String::with_capacity(length + segments.iter().map(|segment| segment.len() + 1).sum::<usize>());
    key.push_str(SERVICE);
    key.push(':');
    key.push_str(callback.team);
    key.push(':');
    key.push_str(kind);
    for segment in segments {
        key.push(':');
        key.push_str(segment);
    }
    key
}

/// Inserts `value` under `name` when it is present: strings as strings, numbers as numbers.
fn insert(metadata: &mut Metadata, name: &str, value: &Loose<'_>) {
    let value = match value {
        Loose::Absent => return,
        Loose::Str(text) => Value::from(text.as_ref()),
        Loose::Unsigned(number) => Value::from(*number),
        Loose::Signed(number) => Value::from(*number),
        Loose::Float(number) => Value::from(*number),
    };
    metadata.insert(name.to_owned(), value);
}
