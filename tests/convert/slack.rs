//! The Slack Events API converter on recorded and documented payloads (`fixtures/slack/`), one snapshot each, and
//! the rules the module docs promise, one named test each.

use crate::slack_support;

use std::path::Path;

use serde_json::{Value, json};
use slack_support::{convert, fixture_paths, received_at, render};
use spark_integrations::convert::{Conversion, ConvertError, SkipReason};
use spark_integrations::model::{Event, format_time};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/slack").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn single_event(body: &[u8]) -> Event {
    match convert(body) {
        Ok(Conversion::Converted(mut events)) if events.len() == 1 => events.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

#[test]
fn every_fixture_matches_its_snapshot() {
    let paths = fixture_paths();
    assert!(paths.len() >= 40, "only {} fixtures", paths.len());
    for path in paths {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("utf-8 file name");
        let body = std::fs::read(&path).expect("readable fixture");
        let rendered = render(&convert(&body));
        insta::assert_json_snapshot!(name, rendered);
    }
}

#[test]
fn every_required_case_is_covered_by_a_fixture() {
    let mut seen = Vec::new();
    for path in fixture_paths() {
        let body = std::fs::read(&path).expect("readable fixture");
        let envelope: Value = serde_json::from_slice(&body).expect("fixtures are JSON");
        let kind = envelope["event"]["type"].as_str().unwrap_or_default();
        let subtype = envelope["event"]["subtype"].as_str().unwrap_or_default();
        let converted = matches!(convert(&body), Ok(Conversion::Converted(_)));
        let thread_reply = envelope["event"]["thread_ts"]
            .as_str()
            .is_some_and(|thread| !thread.is_empty())
            && envelope["event"]["thread_ts"] != envelope["event"]["ts"];
        seen.push((kind.to_owned(), subtype.to_owned(), converted, thread_reply));
    }
    let has = |kind: &str, subtype: &str| {
        seen.iter()
            .any(|(k, s, converted, _)| k == kind && s == subtype && *converted)
    };
    for (kind, subtype) in [
        ("message", ""),
        ("message", "bot_message"),
        ("message", "message_changed"),
        ("message", "message_deleted"),
        ("message", "file_share"),
        ("message", "channel_join"),
        ("reaction_added", ""),
        ("reaction_removed", ""),
        ("file_shared", ""),
        ("app_mention", ""),
    ] {
        assert!(has(kind, subtype), "no converted fixture for {kind} {subtype}");
    }
    assert!(
        seen.iter().any(|(_, _, converted, reply)| *converted && *reply),
        "no converted thread reply"
    );
}

#[test]
fn microsecond_precision_is_kept() {
    let event = single_event(&fixture("message.json"));
    assert_eq!(format_time(&event.time), "2012-12-14T20:38:43.000005Z");
    let json = serde_json::to_value(&event).expect("events serialize");
    assert_eq!(json["time"], "2012-12-14T20:38:43.000005Z");

    let event = single_event(&fixture("messageExample.json"));
    assert_eq!(format_time(&event.time), "2022-09-23T20:53:02.046509Z");
}

#[test]
fn dotless_event_ts_of_the_app_mention_example_matches_its_ts() {
    let event = single_event(&fixture("app_mention.json"));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("message", "mentioned"));
    assert_eq!(format_time(&event.time), "2018-01-08T22:12:02.000016Z");
    assert_eq!(event.target.time, Some(event.time));
}

#[test]
fn time_falls_back_to_event_time_then_to_received_at() {
    let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1","event_time":1360782804,
        "event":{"type":"reaction_added","user":"U1","reaction":"eyes","event_ts":"not a time"}}"#;
    assert_eq!(format_time(&single_event(body).time), "2013-02-13T19:13:24Z");

    let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1",
        "event":{"type":"reaction_added","user":"U1","reaction":"eyes"}}"#;
    assert_eq!(single_event(body).time, received_at());
}

#[test]
fn numeric_ts_keeps_its_microseconds() {
    let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1",
        "event":{"type":"message","user":"U1","channel":"C1","text":"hi","ts":1355517523.000005}}"#;
    let event = single_event(body);
    assert_eq!(format_time(&event.time), "2012-12-14T20:38:43.000005Z");
    assert_eq!(event.target.key, "slack:T1:message:C1:1355517523.000005");
}

#[test]
fn edit_targets_the_original_message() {
    let event = single_event(&fixture("message.message_changed.json"));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("message", "edited"));
    assert_eq!(
        event.target.key,
        "slack:T123ABC456:message:C123ABC456:1355517523.000005"
    );
    assert_eq!(event.target.content.as_deref(), Some("Hello, world!"));
    assert_eq!(event.actor.key, "slack:T123ABC456:user:U123ABC456");
    // The event happened when the edit did; the message was written earlier.
    assert_eq!(format_time(&event.time), "2013-01-22T18:19:15.000001Z");
    assert_eq!(
        event.target.time.map(|time| format_time(&time)).as_deref(),
        Some("2012-12-14T20:38:43.000005Z")
    );
}

#[test]
fn delete_targets_the_original_message_and_drops_its_text() {
    let event = single_event(&fixture("message_deleted.json"));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("message", "deleted"));
    assert_eq!(
        event.target.key,
        "slack:T043DB835ML:message:C043YJGBY49:1663966382.046509"
    );
    assert_eq!(event.target.content, None);
    assert_eq!(event.actor.key, "slack:T043DB835ML:team");

    // The same message as it was sent: the deletion points at the object the send created.
    let sent = single_event(&fixture("messageExample.json"));
    assert_eq!(sent.action, "sent");
    assert_eq!(
        sent.target.key,
        "slack:T043DB835ML:message:C043YJGBY49:1663966382.046509"
    );

    let documented = single_event(&fixture("message.message_deleted.json"));
    assert_eq!(
        documented.target.key,
        "slack:T123ABC456:message:C123ABC456:1358878749.000002"
    );
}

#[test]
fn thread_reply_carries_thread_metadata() {
    let event = single_event(&fixture("message.thread_reply.handwritten.json"));
    assert_eq!((event.domain.as_str(), event.action.as_str()), ("message", "sent"));
    assert_eq!(event.event_metadata["thread_ts"], "1355517523.000005");
    assert_eq!(event.event_metadata["is_thread_reply"], true);
    assert_eq!(
        event.event_metadata["thread_key"],
        "slack:T123ABC456:message:C123ABC456:1355517523.000005"
    );
    assert_eq!(
        event.target.key,
        "slack:T123ABC456:message:C123ABC456:1355517600.000007"
    );
    assert_eq!(event.target.metadata["thread_ts"], "1355517523.000005");

    let top_level = single_event(&fixture("message.json"));
    assert!(!top_level.event_metadata.contains_key("thread_ts"));
}

#[test]
fn reactions_target_the_reacted_item() {
    let added = single_event(&fixture("reaction_added.json"));
    let removed = single_event(&fixture("reaction_removed.handwritten.json"));
    assert_eq!((added.domain.as_str(), added.action.as_str()), ("reaction", "added"));
    assert_eq!(
        (removed.domain.as_str(), removed.action.as_str()),
        ("reaction", "removed")
    );
    assert_eq!(
        added.target.key,
        "slack:T123ABC456:message:C123ABC456:1360782400.498405"
    );
    assert_eq!(removed.target.key, added.target.key);
    assert_eq!(added.event_metadata["reaction"], "thumbsup");

    let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"reaction_added",
        "user":"U1","reaction":"eyes","item":{"type":"file","file":"F1"},"event_ts":"1360782804.083113"}}"#;
    assert_eq!(single_event(body).target.key, "slack:T1:file:F1");
}

#[test]
fn keys_are_scoped_by_team() {
    let body = fixture("message.json");
    let other_team = String::from_utf8(body.clone())
        .expect("utf-8")
        .replace("T123ABC456", "T999");
    let here = single_event(&body);
    let there = single_event(other_team.as_bytes());
    assert_eq!(here.actor.key, "slack:T123ABC456:user:U123ABC456");
    assert_eq!(there.actor.key, "slack:T999:user:U123ABC456");
    assert_ne!(here.target.key, there.target.key);

    let bot = single_event(&fixture("message_subtype_bot_message.json"));
    assert_eq!(bot.actor.key, "slack:T043DB835ML:bot:B07JWPS5Y5S");
    assert_eq!(bot.actor.title.as_deref(), Some("Reacji Channeler"));
    let file = single_event(&fixture("file_shared.json"));
    assert_eq!(file.target.key, "slack:T123ABC456:file:F2147483862");
    let join = single_event(&fixture("joinChannel.json"));
    assert_eq!((join.domain.as_str(), join.action.as_str()), ("channel", "joined"));
    assert_eq!(join.target.key, "slack:T043DB835ML:channel:C043KSKGJUB");
}

#[test]
fn keys_hold_ids_never_text() {
    for path in fixture_paths() {
        let body = std::fs::read(&path).expect("readable fixture");
        let Ok(Conversion::Converted(events)) = convert(&body) else {
            continue;
        };
        for event in events {
            for object in [&event.actor, &event.target] {
                assert!(!object.key.contains(' '), "{}: key {}", path.display(), object.key);
                if let Some(title) = &object.title {
                    assert!(
                        !object.key.contains(title.as_str()),
                        "{}: key {}",
                        path.display(),
                        object.key
                    );
                }
            }
        }
    }
}

#[test]
fn file_share_has_one_block_per_file() {
    let event = single_event(&fixture("message_file_share.json"));
    assert_eq!(event.blocks.len(), 1);
    assert_eq!(event.blocks[0].title.as_deref(), Some("namenamename.txt"));
    assert_eq!(event.blocks[0].value, Some(12));
    assert_eq!(event.blocks[0].value_unit.as_deref(), Some("bytes"));
}

#[test]
fn url_verification_yields_the_challenge() {
    let conversion = convert(&fixture("url_verification.json")).expect("converts");
    assert_eq!(
        conversion,
        Conversion::Challenge("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_owned())
    );
    let error = convert(br#"{"type":"url_verification","token":"x"}"#).expect_err("no challenge");
    assert_eq!(
        error,
        ConvertError::MissingField {
            path: "challenge".to_owned()
        }
    );
}

#[test]
fn app_rate_limited_is_skipped() {
    let conversion = convert(&fixture("app_rate_limited.handwritten.json")).expect("converts");
    assert_eq!(conversion, Conversion::Skipped(SkipReason::AppRateLimited));
}

#[test]
fn missing_event_id_names_the_field() {
    let body = br#"{"type":"event_callback","team_id":"T1","event":{"type":"message","ts":"1.000001"}}"#;
    let error = convert(body).expect_err("no event_id");
    assert_eq!(
        error,
        ConvertError::MissingField {
            path: "event_id".to_owned()
        }
    );
    assert_eq!(error.to_string(), "missing field `event_id`");

    for (body, path) in [
        (
            &br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"message"}}"#[..],
            "team_id",
        ),
        (
            br#"{"type":"event_callback","event_id":"","team_id":"T1","event":{"type":"message"}}"#,
            "event_id",
        ),
        (
            br#"{"type":"event_callback","event_id":"Ev1","team_id":null,"event":{"type":"message"}}"#,
            "team_id",
        ),
        (br#"{"type":"event_callback","event_id":"Ev1","team_id":"T1"}"#, "event"),
        (
            br#"{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{"text":"hi"}}"#,
            "event.type",
        ),
        (br#"{"event_id":"Ev1"}"#, "type"),
    ] {
        assert_eq!(convert(body), Err(ConvertError::MissingField { path: path.to_owned() }));
    }
}

#[test]
fn malformed_json_is_a_syntax_error() {
    assert!(matches!(convert(b"{\"type\":"), Err(ConvertError::Syntax { .. })));
    assert!(matches!(convert(b"42"), Err(ConvertError::InvalidField { .. })));
}

#[test]
fn unknown_types_are_skipped_with_their_name() {
    let conversion = convert(&fixture("channel_left.json")).expect("converts");
    assert_eq!(
        conversion,
        Conversion::Skipped(SkipReason::UnsupportedType("channel_left".to_owned()))
    );

    let body = br#"{"type":"block_actions","team_id":"T1"}"#;
    assert_eq!(
        convert(body),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType(
            "block_actions".to_owned()
        )))
    );

    let replied = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1",
        "event":{"type":"message","subtype":"message_replied","ts":"1.000001"}}"#;
    assert_eq!(
        convert(replied),
        Ok(Conversion::Skipped(SkipReason::UnsupportedAction {
            kind: "message".to_owned(),
            action: "message_replied".to_owned()
        }))
    );
}

#[test]
fn java_sdk_skeletons_convert_once_given_an_envelope() {
    // The skeletons blank every value (`""`), including the envelope's type and ids; given those, every other
    // blank must fall back without an error.
    for path in fixture_paths() {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("utf-8 file name");
        if !name.ends_with("Payload.json") {
            continue;
        }
        let mut envelope: Value = serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
        envelope["type"] = json!("event_callback");
        envelope["event_id"] = json!("EvSKELETON");
        envelope["team_id"] = json!("TSKELETON");
        let body = serde_json::to_vec(&envelope).expect("serializes");
        match convert(&body) {
            Ok(Conversion::Converted(events)) => {
                assert_eq!(events.len(), 1, "{name}");
                assert!(events[0].actor.key.starts_with("slack:TSKELETON:"), "{name}");
            }
            Ok(Conversion::Skipped(reason)) => assert_eq!(name, "MessageRepliedPayload.json", "{name}: {reason}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn output_is_deterministic() {
    for path in fixture_paths() {
        let body = std::fs::read(&path).expect("readable fixture");
        let first = serde_json::to_string(&render(&convert(&body))).expect("serializes");
        let second = serde_json::to_string(&render(&convert(&body))).expect("serializes");
        assert_eq!(first, second, "{}", path.display());
    }
}

#[test]
fn channel_membership_and_settings_target_the_channel() {
    for (subtype, extra, action, field) in [
        ("channel_leave", "", "left", None),
        (
            "channel_purpose",
            r#","purpose":"Plans""#,
            "purpose_changed",
            Some(("purpose", "Plans")),
        ),
        (
            "channel_name",
            r#","old_name":"old","name":"new""#,
            "renamed",
            Some(("name", "new")),
        ),
    ] {
        let body = format!(
            r#"{{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{{"type":"message",
                "subtype":"{subtype}","user":"U1","channel":"C1","ts":"1664222685.728809"{extra}}}}}"#
        );
        let event = single_event(body.as_bytes());
        assert_eq!(
            (event.domain.as_str(), event.action.as_str()),
            ("channel", action),
            "{subtype}"
        );
        assert_eq!(event.actor.key, "slack:T1:user:U1");
        assert_eq!(event.target.key, "slack:T1:channel:C1");
        if let Some((name, value)) = field {
            assert_eq!(event.event_metadata[name], value);
        }
    }
}

#[test]
fn a_link_preview_is_not_an_edit() {
    let conversion = convert(&fixture("message.message_changed.unfurl.handwritten.json"));
    assert_eq!(
        conversion,
        Ok(Conversion::Skipped(SkipReason::UnsupportedAction {
            kind: "message".to_owned(),
            action: "message_changed without an edit".to_owned(),
        }))
    );
    // The same change with the text edited, or marked as edited, is an edit.
    let mut envelope: Value =
        serde_json::from_slice(&fixture("message.message_changed.unfurl.handwritten.json")).unwrap();
    envelope["event"]["message"]["text"] = json!("Release notes, corrected");
    let edited = single_event(&serde_json::to_vec(&envelope).unwrap());
    assert_eq!(edited.action, "edited");
    assert_eq!(
        edited.event_metadata["previous_text"],
        json!("Release notes: <https://github.com/octocat/Hello-World/releases/tag/v1.0.0>")
    );
    let mut envelope: Value =
        serde_json::from_slice(&fixture("message.message_changed.unfurl.handwritten.json")).unwrap();
    envelope["event"]["message"]["edited"] = json!({"user": "U123ABC456", "ts": "1358878755.000001"});
    assert_eq!(single_event(&serde_json::to_vec(&envelope).unwrap()).action, "edited");
}

// ---------------------------------------------------------------------------------------------------------------
// Values, units and metadata: the table in the module docs.

#[test]
fn every_converted_event_counts_as_the_table_says() {
    let mut units = std::collections::BTreeSet::new();
    for path in fixture_paths() {
        let body = std::fs::read(&path).expect("readable fixture");
        let Ok(Conversion::Converted(events)) = convert(&body) else {
            continue;
        };
        let envelope: Value = serde_json::from_slice(&body).expect("JSON");
        let size = envelope["event"]["file"]["size"].as_i64();
        for event in events {
            let expected = match event.domain.as_str() {
                "message" => (Some(1), "message"),
                "channel" => (Some(1), "channel"),
                "reaction" => (Some(1), "reaction"),
                "file" => size.map_or((Some(1), "file"), |size| (Some(size), "bytes")),
                other => panic!("{}: domain {other} not in the table", path.display()),
            };
            assert_eq!(
                (event.value, event.value_unit.as_deref()),
                (expected.0, Some(expected.1)),
                "{}",
                path.display()
            );
            assert_eq!(event.value_multiplier, 1);
            units.insert(expected.1);
        }
    }
    assert_eq!(
        units.into_iter().collect::<Vec<_>>(),
        ["channel", "file", "message", "reaction"]
    );
}

#[test]
fn a_shared_file_counts_its_bytes_and_a_file_without_a_size_counts_one_file() {
    let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"file_shared",
        "file_id":"F1","user_id":"U1","file":{"id":"F1","name":"notes.txt","size":2048},"event_ts":"1.000001"}}"#;
    let event = single_event(body);
    assert_eq!((event.value, event.value_unit.as_deref()), (Some(2048), Some("bytes")));

    let event = single_event(&fixture("file_shared.json"));
    assert_eq!((event.value, event.value_unit.as_deref()), (Some(1), Some("file")));

    let event = single_event(&fixture("message_file_share.json"));
    assert_eq!((event.value, event.value_unit.as_deref()), (Some(1), Some("message")));
    assert_eq!(
        (event.blocks[0].value, event.blocks[0].value_unit.as_deref()),
        (Some(12), Some("bytes"))
    );
}

#[test]
fn objects_carry_their_team_and_channel() {
    let event = single_event(&fixture("message.json"));
    assert_eq!((event.value, event.value_unit.as_deref()), (Some(1), Some("message")));
    for object in [&event.actor, &event.target] {
        assert_eq!(object.metadata["team"], "T123ABC456", "{}", object.key);
    }
    assert_eq!(event.actor.metadata["id"], "U123ABC456");
    assert_eq!(event.target.metadata["channel"], "C123ABC456");
    assert_eq!(event.event_metadata["channel"], "C123ABC456");

    let join = single_event(&fixture("joinChannel.json"));
    assert_eq!(join.target.metadata["channel"], "C043KSKGJUB");
    assert_eq!(join.target.metadata["team"], "T043DB835ML");

    let deleted = single_event(&fixture("message_deleted.json"));
    assert_eq!(deleted.actor.metadata["team"], "T043DB835ML");
    let reaction = single_event(&fixture("reaction_added.json"));
    assert_eq!(
        (reaction.value, reaction.value_unit.as_deref()),
        (Some(1), Some("reaction"))
    );
    assert_eq!(reaction.target.metadata["channel"], "C123ABC456");
    assert_eq!(reaction.target.metadata["team"], "T123ABC456");
}

// ---------------------------------------------------------------------------------------------------------------
// The `events` selection of the integration's configuration.

#[test]
fn event_types_the_configuration_does_not_select_are_skipped() {
    use spark_integrations::convert::{ConvertContext, Converter, Payload};
    use spark_integrations::plugin::Plugin;
    use spark_integrations::providers::slack::{SlackConverter, SlackPlugin};

    let configuration = SlackPlugin::new()
        .configuration_schema()
        .validate(&json!({"events": ["message", "file_shared"]}))
        .expect("a valid configuration");
    let context = ConvertContext::new(received_at())
        .with_integration("slack-test")
        .with_configuration(&configuration);
    let convert_selected = |body: &[u8]| SlackConverter.convert(Payload::Polled { body }, &context);

    assert!(matches!(
        convert_selected(&fixture("message.json")),
        Ok(Conversion::Converted(_))
    ));
    assert!(matches!(
        convert_selected(&fixture("file_shared.json")),
        Ok(Conversion::Converted(_))
    ));
    for (name, kind) in [
        ("reaction_added.json", "reaction_added"),
        ("reaction_removed.handwritten.json", "reaction_removed"),
        ("app_mention.json", "app_mention"),
    ] {
        let conversion = convert_selected(&fixture(name)).expect("converts");
        assert_eq!(
            conversion,
            Conversion::Skipped(SkipReason::NotSelected { kind: kind.to_owned() }),
            "{name}"
        );
        // Selected without a configuration, as before.
        assert!(
            matches!(convert(&fixture(name)), Ok(Conversion::Converted(_))),
            "{name}"
        );
    }
    let Conversion::Skipped(reason) = convert_selected(&fixture("reaction_added.json")).expect("converts") else {
        panic!("skipped above");
    };
    assert_eq!(reason.to_string(), "not selected in the integration's configuration");

    // Types the converter does not handle keep their reason; the handshake and the envelope checks are unchanged.
    assert_eq!(
        convert_selected(&fixture("channel_left.json")),
        Ok(Conversion::Skipped(SkipReason::UnsupportedType(
            "channel_left".to_owned()
        )))
    );
    assert!(matches!(
        convert_selected(&fixture("url_verification.json")),
        Ok(Conversion::Challenge(_))
    ));
    let no_id = br#"{"type":"event_callback","team_id":"T1","event":{"type":"reaction_added"}}"#;
    assert_eq!(
        convert_selected(no_id),
        Err(ConvertError::MissingField {
            path: "event_id".to_owned()
        })
    );
}

#[test]
fn bytes_that_are_not_utf8_where_nothing_reads_them_change_nothing() {
    let body = fixture("message.json");
    let open = body.iter().position(|byte| *byte == b'{').expect("a JSON object") + 1;
    let unread = [&body[..open], b"\"note\":\"caf\xe9\",", &body[open..]].concat();
    assert!(std::str::from_utf8(&unread).is_err());
    assert_eq!(convert(&unread), convert(&body));
    // In the message's text, which the converter reads, they are malformed JSON.
    let marker = br#""text": ""#;
    let at = body
        .windows(marker.len())
        .position(|window| window == marker)
        .expect("a text")
        + marker.len();
    let broken = [&body[..at], b"\xff", &body[at..]].concat();
    assert!(
        matches!(convert(&broken), Err(ConvertError::Syntax { .. })),
        "{:?}",
        convert(&broken)
    );
}
