//! Converts recorded GitHub, Slack and GitLab payloads into the activity model and prints them as JSON Lines.
//!
//! ```text
//! cargo run --example convert -- [--source auto|github-events|github-webhook|slack|gitlab-events|gitlab-webhook]
//!     [--event NAME] [--delivery ID] [--gitlab-url URL] [--integration ID] [--received-at RFC3339] PATH...
//! ```
//!
//! PATH is a `.json` file holding one payload, a `.jsonl` file holding one payload per line, or `-` for standard
//! input (one JSON document, or JSON Lines). A JSON document that is an array holds one payload per element (a page
//! of an Events API), labelled `PATH:LINE[INDEX]`. Each input payload gives one line on standard output, in input
//! order:
//!
//! ```text
//! {"input":"PATH:LINE","status":"converted","events":[...]}
//! {"input":"PATH:LINE","status":"skipped","reason":"..."}
//! {"input":"PATH:LINE","status":"challenge","challenge":"..."}
//! {"input":"PATH:LINE","status":"error","error":"..."}
//! ```
//!
//! A summary (counts per status and per payload type) goes to standard error. The exit status is 0 when no line is
//! an error, 1 otherwise, and 2 on bad usage.
//!
//! `--source auto` (the default) recognises GitHub Events API items, Slack Events API envelopes, GitLab Events API
//! items (by `action_name`) and GitLab webhook bodies (by `object_kind`). GitHub webhook bodies do not say which
//! event they are: pass `--source github-webhook --event NAME` (the `X-GitHub-Event` header) and `--delivery ID`
//! (the `X-GitHub-Delivery` header). GitLab webhook bodies take `--event NAME` (the `X-Gitlab-Event` header, such as
//! `"Push Hook"`), needed only for bodies without an `object_kind` (member events); `--source gitlab-webhook` reads
//! every input as one. GitLab keys name the instance: `--gitlab-url` (default `https://gitlab.com`).
//! `--received-at` is the time used for payloads that carry none of their own; it defaults to the current time.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spark_integrations::convert::{Conversion, ConvertContext, Converter, Payload};
use spark_integrations::model::Event;
use spark_integrations::providers::github::GithubConverter;
use spark_integrations::providers::gitlab::{GitlabConverter, Instance};
use spark_integrations::providers::slack::SlackConverter;

const USAGE: &str = "usage: convert [--source auto|github-events|github-webhook|slack|gitlab-events|gitlab-webhook] \
[--event NAME] [--delivery ID] [--gitlab-url URL] [--integration ID] [--received-at RFC3339] PATH...

PATH is a .json file (one payload, or an array of them), a .jsonl file (one payload per line) or - for standard input.
GitHub webhook bodies need --source github-webhook --event NAME (the X-GitHub-Event header).
GitLab webhook bodies are recognised by their object_kind; --event NAME (the X-Gitlab-Event header) names the others.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Auto,
    GithubEvents,
    GithubWebhook,
    Slack,
    GitlabEvents,
    GitlabWebhook,
}

#[derive(Debug)]
pub(crate) struct Options {
    source: Source,
    event: Option<String>,
    delivery: Option<String>,
    gitlab: GitlabConverter,
    context: ConvertContext,
    paths: Vec<String>,
}

pub(crate) fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut source = Source::Auto;
    let mut event = None;
    let mut delivery = None;
    let mut gitlab = GitlabConverter::default();
    let mut integration = None;
    let mut received_at = None;
    let mut paths = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--source" => {
                source = match value("--source")?.as_str() {
                    "auto" => Source::Auto,
                    "github-events" => Source::GithubEvents,
                    "github-webhook" => Source::GithubWebhook,
                    "slack" => Source::Slack,
                    "gitlab-events" => Source::GitlabEvents,
                    "gitlab-webhook" => Source::GitlabWebhook,
                    other => return Err(format!("unknown --source `{other}`")),
                };
            }
            "--event" => event = Some(value("--event")?),
            "--delivery" => delivery = Some(value("--delivery")?),
            "--gitlab-url" => {
                let url = value("--gitlab-url")?;
                let instance = Instance::new(&url).map_err(|error| format!("--gitlab-url `{url}`: {error}"))?;
                gitlab = GitlabConverter::new(instance);
            }
            "--integration" => integration = Some(value("--integration")?),
            "--received-at" => {
                let text = value("--received-at")?;
                let time = DateTime::parse_from_rfc3339(&text)
                    .map_err(|error| format!("--received-at `{text}` is not RFC 3339: {error}"))?;
                received_at = Some(time.with_timezone(&Utc));
            }
            "-h" | "--help" => return Err(String::new()),
            "-" => paths.push(arg),
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            _ => paths.push(arg),
        }
    }
    if paths.is_empty() {
        return Err("no PATH given".to_owned());
    }
    if source == Source::GithubWebhook && event.is_none() {
        return Err("--source github-webhook needs --event NAME (the X-GitHub-Event header)".to_owned());
    }
    let webhook_source = matches!(source, Source::GithubWebhook | Source::GitlabWebhook | Source::Auto);
    if !webhook_source && (event.is_some() || delivery.is_some()) {
        return Err(
            "--event and --delivery apply to webhook bodies only (github-webhook, gitlab-webhook, auto)".to_owned(),
        );
    }
    let mut context =
        ConvertContext::new(received_at.unwrap_or_else(|| DateTime::<Utc>::from(std::time::SystemTime::now())));
    if let Some(integration) = integration {
        context = context.with_integration(integration);
    }
    Ok(Options {
        source,
        event,
        delivery,
        gitlab,
        context,
        paths,
    })
}

/// One line of output.
#[derive(Serialize)]
struct Line<'a> {
    input: &'a str,
    #[serde(flatten)]
    outcome: Outcome<'a>,
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Outcome<'a> {
    Converted { events: &'a [Event] },
    Skipped { reason: String },
    Challenge { challenge: &'a str },
    Error { error: Cow<'a, str> },
}

/// Just enough of a payload to recognise it and name its type.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<PeekInner<'a>>,
    actor: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    object_kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    action_name: Option<Cow<'a, str>>,
    event_name: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct PeekInner<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

const SLACK_ENVELOPES: &[&str] = &["event_callback", "url_verification", "app_rate_limited"];

/// Decides which converter reads `body` and names the payload's type for the summary (borrowed from the body or
/// the options where it can be).
fn recognise<'b>(options: &'b Options, body: &'b [u8]) -> Result<(Source, Cow<'b, str>), String> {
    if options.source == Source::GithubWebhook {
        return Ok((
            Source::GithubWebhook,
            Cow::Borrowed(options.event.as_deref().unwrap_or_default()),
        ));
    }
    let peek: Peek<'b> = serde_json::from_slice(body).map_err(|error| format!("malformed JSON: {error}"))?;
    let gitlab_webhook = || {
        let kind = match (&options.event, &peek.object_kind) {
            (Some(event), _) => Cow::Borrowed(event.as_str()),
            (None, Some(kind)) => kind.clone(),
            (None, None) => Cow::Borrowed(""),
        };
        (Source::GitlabWebhook, kind)
    };
    let gitlab_events = || (Source::GitlabEvents, peek.action_name.clone().unwrap_or_default());
    match options.source {
        Source::GitlabWebhook => return Ok(gitlab_webhook()),
        Source::GitlabEvents => return Ok(gitlab_events()),
        Source::Auto if peek.object_kind.is_some() => return Ok(gitlab_webhook()),
        Source::Auto if peek.event_name.is_some() && options.event.is_some() => return Ok(gitlab_webhook()),
        Source::Auto if peek.action_name.is_some() && peek.kind.is_none() => return Ok(gitlab_events()),
        _ => {}
    }
    let kind = peek.kind.as_deref().unwrap_or("");
    let slack_type = || match peek.event.as_ref().and_then(|event| event.kind.as_deref()) {
        Some(inner) => Cow::Owned(format!("{kind}/{inner}")),
        None => peek.kind.clone().unwrap_or_default(),
    };
    let own_type = || peek.kind.clone().unwrap_or_default();
    match options.source {
        Source::Slack => Ok((Source::Slack, slack_type())),
        Source::GithubEvents => Ok((Source::GithubEvents, own_type())),
        _ if SLACK_ENVELOPES.contains(&kind) => Ok((Source::Slack, slack_type())),
        _ if peek.actor.is_some() && kind.ends_with("Event") => Ok((Source::GithubEvents, own_type())),
        _ if peek.event_name.is_some() => {
            Err("a GitLab webhook body without `object_kind`: pass --event NAME (the X-Gitlab-Event header)".to_owned())
        }
        _ => Err(
            "cannot tell the payload's source: pass --source github-events, github-webhook, slack, gitlab-events or \
             gitlab-webhook"
                .to_owned(),
        ),
    }
}

pub(crate) struct Summary {
    pub(crate) by_status: BTreeMap<&'static str, usize>,
    by_type: BTreeMap<String, BTreeMap<&'static str, usize>>,
}

impl Summary {
    fn count(&mut self, kind: &str, status: &'static str) {
        *self.by_status.entry(status).or_default() += 1;
        // The type's own entry, copying its name only the first time it is seen.
        let by_status = match self.by_type.get_mut(kind) {
            Some(by_status) => by_status,
            None => self.by_type.entry(kind.to_owned()).or_default(),
        };
        *by_status.entry(status).or_default() += 1;
    }
}

fn convert_one(
    options: &Options,
    input: &str,
    body: &[u8],
    out: &mut impl Write,
    summary: &mut Summary,
) -> io::Result<()> {
    let (recognised, kind) = match recognise(options, body) {
        Ok((source, kind)) => (Ok(source), kind),
        Err(error) => (Err(error), Cow::Borrowed("")),
    };
    let kind = if kind.is_empty() { "(unknown)" } else { &kind };
    let converted = recognised.and_then(|source| {
        let payload = match source {
            Source::GithubWebhook | Source::GitlabWebhook => Payload::Webhook {
                event: options.event.as_deref(),
                delivery_id: options.delivery.as_deref(),
                body,
            },
            _ => Payload::Polled { body },
        };
        let result = match source {
            Source::Slack => SlackConverter.convert(payload, &options.context),
            Source::GitlabEvents | Source::GitlabWebhook => options.gitlab.convert(payload, &options.context),
            _ => GithubConverter.convert(payload, &options.context),
        };
        result.map_err(|error| error.to_string())
    });
    let outcome = match &converted {
        Ok(Conversion::Converted(events)) => Outcome::Converted { events },
        Ok(Conversion::Skipped(reason)) => Outcome::Skipped {
            reason: reason.to_string(),
        },
        Ok(Conversion::Challenge(challenge)) => Outcome::Challenge { challenge },
        Ok(other) => Outcome::Error {
            error: Cow::Owned(format!("unexpected conversion: {other:?}")),
        },
        Err(error) => Outcome::Error {
            error: Cow::Borrowed(error),
        },
    };
    summary.count(
        kind,
        match outcome {
            Outcome::Converted { .. } => "converted",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Challenge { .. } => "challenge",
            Outcome::Error { .. } => "error",
        },
    );
    serde_json::to_writer(&mut *out, &Line { input, outcome })?;
    out.write_all(b"\n")
}

/// Where a payload sits in its input, for its `PATH:LINE` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Line `n` (from 1) of JSON Lines, or line 1 for a whole document: `PATH:n`.
    Line(usize),
    /// Element `n` (from 0) of a document that is an array: `PATH:1[n]`.
    Element(usize),
}

/// Writes the label of the payload at `position` of `path` into `label`, reusing its buffer.
fn write_label(label: &mut String, path: &str, position: Position) {
    use std::fmt::Write as _;
    label.clear();
    label.push_str(path);
    // Writing into a `String` cannot fail.
    let _ = match position {
        Position::Line(line) => write!(label, ":{line}"),
        Position::Element(index) => write!(label, ":1[{index}]"),
    };
}

/// Splits one input into payloads with their positions.
fn payloads(path: &str, bytes: &[u8]) -> Vec<(Position, std::ops::Range<usize>)> {
    let whole_document =
        path.ends_with(".json") || (path == "-" && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok());
    if whole_document {
        if let Some(elements) = array_elements(bytes) {
            return elements
                .into_iter()
                .enumerate()
                .map(|(index, range)| (Position::Element(index), range))
                .collect();
        }
        return vec![(Position::Line(1), 0..bytes.len())];
    }
    let mut start = 0;
    let mut found = Vec::new();
    for (index, line) in bytes.split(|byte| *byte == b'\n').enumerate() {
        let range = start..start + line.len();
        start = range.end + 1;
        if !line.iter().all(u8::is_ascii_whitespace) {
            found.push((Position::Line(index + 1), range));
        }
    }
    found
}

/// The byte ranges of the elements of `bytes` when it is one JSON array; `None` otherwise.
fn array_elements(bytes: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let elements: Vec<&serde_json::value::RawValue> = serde_json::from_slice(bytes).ok()?;
    let start = bytes.as_ptr() as usize;
    Some(
        elements
            .iter()
            .map(|element| {
                // Each element borrows from `bytes`: its offset is where it starts in the input.
                let offset = element.get().as_ptr() as usize - start;
                offset..offset + element.get().len()
            })
            .collect(),
    )
}

pub(crate) fn run(options: &Options, out: &mut impl Write, stdin: &mut impl Read) -> io::Result<Summary> {
    let mut summary = Summary {
        by_status: BTreeMap::new(),
        by_type: BTreeMap::new(),
    };
    // One buffer for the inputs and one for the labels, reused.
    let mut bytes = Vec::new();
    let mut label = String::new();
    for path in &options.paths {
        bytes.clear();
        let read = if path == "-" {
            stdin.read_to_end(&mut bytes).map(drop)
        } else {
            std::fs::File::open(path)
                .and_then(|mut file| file.read_to_end(&mut bytes))
                .map(drop)
        };
        if let Err(error) = read {
            summary.count("(unreadable)", "error");
            let outcome = Outcome::Error {
                error: Cow::Owned(format!("cannot read {path}: {error}")),
            };
            serde_json::to_writer(&mut *out, &Line { input: path, outcome })?;
            out.write_all(b"\n")?;
            continue;
        }
        for (position, range) in payloads(path, &bytes) {
            write_label(&mut label, path, position);
            convert_one(options, &label, &bytes[range], out, &mut summary)?;
        }
    }
    out.flush()?;
    Ok(summary)
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("convert: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let summary = match run(&options, &mut out, &mut io::stdin().lock()) {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("convert: {error}");
            return ExitCode::from(2);
        }
    };
    let statuses: Vec<String> = summary
        .by_status
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    eprintln!(
        "summary: {}",
        if statuses.is_empty() {
            "no payloads".to_owned()
        } else {
            statuses.join(", ")
        }
    );
    for (kind, counts) in &summary.by_type {
        let counts: Vec<String> = counts.iter().map(|(status, n)| format!("{n} {status}")).collect();
        eprintln!("  {kind}: {}", counts.join(", "));
    }
    if summary.by_status.contains_key("error") {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Options, String> {
        parse_args(list.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn bad_usage_is_reported() {
        assert_eq!(args(&[]).unwrap_err(), "no PATH given");
        assert_eq!(
            args(&["--source", "gitlab", "x.json"]).unwrap_err(),
            "unknown --source `gitlab`"
        );
        assert!(
            args(&["--source", "gitlab-events", "--event", "Push Hook", "x.json"])
                .unwrap_err()
                .contains("webhook bodies only")
        );
        assert!(
            args(&["--gitlab-url", "gitlab.example.com", "x.json"])
                .unwrap_err()
                .starts_with("--gitlab-url")
        );
        assert_eq!(args(&["--bogus", "x.json"]).unwrap_err(), "unknown option `--bogus`");
        assert_eq!(args(&["x.json", "--event"]).unwrap_err(), "--event needs a value");
        assert!(
            args(&["--source", "github-webhook", "x.json"])
                .unwrap_err()
                .contains("needs --event")
        );
        assert!(
            args(&["--source", "slack", "--event", "push", "x.json"])
                .unwrap_err()
                .contains("webhook bodies only")
        );
        assert!(
            args(&["--received-at", "yesterday", "x.json"])
                .unwrap_err()
                .contains("not RFC 3339")
        );
    }

    #[test]
    fn options_are_parsed() {
        let options = args(&[
            "--source",
            "github-webhook",
            "--event",
            "push",
            "--delivery",
            "d-1",
            "--integration",
            "7",
            "--received-at",
            "2025-01-01T15:00:00+01:00",
            "a.json",
            "-",
        ])
        .expect("valid arguments");
        assert_eq!(options.source, Source::GithubWebhook);
        assert_eq!(options.event.as_deref(), Some("push"));
        assert_eq!(options.delivery.as_deref(), Some("d-1"));
        assert_eq!(options.context.integration_id.as_deref(), Some("7"));
        assert_eq!(options.context.received_at.to_rfc3339(), "2025-01-01T14:00:00+00:00");
        assert_eq!(options.paths, ["a.json", "-"]);
    }

    #[test]
    fn json_lines_are_labelled_with_their_line_numbers_and_blank_lines_skipped() {
        let mut label = String::new();
        let labels: Vec<String> = payloads("a.jsonl", b"{}\n\n{}\r\n{}")
            .into_iter()
            .map(|(position, _)| {
                write_label(&mut label, "a.jsonl", position);
                label.clone()
            })
            .collect();
        assert_eq!(labels, ["a.jsonl:1", "a.jsonl:3", "a.jsonl:4"]);
        assert_eq!(
            payloads("a.json", b"{\n}\n").len(),
            1,
            "a .json file is one payload, however many lines"
        );
        assert_eq!(
            payloads("-", b"{\n \"a\": 1\n}\n").len(),
            1,
            "stdin holding one document"
        );
        assert_eq!(payloads("-", b"{}\n{}\n").len(), 2, "stdin holding JSON Lines");
    }

    #[test]
    fn unreadable_paths_and_unrecognisable_payloads_are_error_lines() {
        let dir = std::env::temp_dir().join(format!("convert-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("odd.jsonl");
        std::fs::write(&file, "{\"hello\":1}\nnot json\n").expect("write temp file");
        let file = file.to_string_lossy().into_owned();
        let options = args(&["/nonexistent/spark.json", &file]).expect("valid arguments");
        let mut out = Vec::new();
        let summary = run(&options, &mut out, &mut io::empty()).expect("writing to memory");
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is JSON"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["input"], "/nonexistent/spark.json");
        assert_eq!(lines[1]["input"], format!("{file}:1"));
        assert!(
            lines[1]["error"]
                .as_str()
                .expect("error text")
                .contains("cannot tell the payload's source")
        );
        assert_eq!(lines[2]["input"], format!("{file}:2"));
        assert!(
            lines[2]["error"]
                .as_str()
                .expect("error text")
                .starts_with("malformed JSON")
        );
        assert!(lines.iter().all(|line| line["status"] == "error"));
        assert_eq!(summary.by_status.get("error"), Some(&3));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    fn converted(options: &Options, input: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        run(options, &mut out, &mut input.as_bytes()).expect("writing to memory");
        String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is JSON"))
            .collect()
    }

    const GITLAB_ISSUE_HOOK: &str = r#"{"object_kind":"issue","user":{"id":1,"username":"root"},"project":{"id":15},
        "object_attributes":{"id":301,"action":"open"}}"#;
    const GITLAB_MEMBER_HOOK: &str = r#"{"event_name":"user_add_to_group","user_id":64,"group_id":100}"#;

    #[test]
    fn auto_recognises_gitlab_webhook_bodies_by_object_kind() {
        let options = args(&["--gitlab-url", "https://gitlab.example.com", "-"]).expect("valid arguments");
        let lines = converted(&options, GITLAB_ISSUE_HOOK);
        assert_eq!(lines[0]["status"], "converted", "{lines:?}");
        assert_eq!(
            lines[0]["events"][0]["target"]["key"],
            "gitlab:gitlab.example.com:issue:301"
        );
        assert!(
            lines[0]["events"][0]["source_id"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );

        // A body without `object_kind` needs the event name.
        let lines = converted(&options, GITLAB_MEMBER_HOOK);
        assert!(lines[0]["error"].as_str().unwrap().contains("--event"), "{lines:?}");
        let options = args(&["--event", "Member Hook", "-"]).expect("valid arguments");
        let lines = converted(&options, GITLAB_MEMBER_HOOK);
        assert_eq!(lines[0]["events"][0]["action"], "joined", "{lines:?}");
        // The event name must agree with the body.
        let options = args(&["--source", "gitlab-webhook", "--event", "Push Hook", "-"]).expect("valid arguments");
        let lines = converted(&options, GITLAB_ISSUE_HOOK);
        assert!(lines[0]["error"].as_str().unwrap().contains("object_kind"), "{lines:?}");
    }

    #[test]
    fn gitlab_events_read_json_lines_and_json_arrays() {
        let item = |id: u64| {
            format!(
                r#"{{"id":{id},"project_id":15,"action_name":"opened","target_type":"Issue","target_id":{id},"author_id":1}}"#
            )
        };
        let options = args(&["--source", "gitlab-events", "-"]).expect("valid arguments");
        let lines = converted(&options, &format!("{}\n{}\n", item(1), item(2)));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["input"], "-:2");
        assert_eq!(lines[1]["events"][0]["source_id"], "2");

        let array = format!("[{},\n {}]", item(3), item(4));
        for source in ["gitlab-events", "auto"] {
            let options = args(&["--source", source, "-"]).expect("valid arguments");
            let lines = converted(&options, &array);
            let inputs: Vec<&str> = lines.iter().map(|line| line["input"].as_str().unwrap()).collect();
            assert_eq!(inputs, ["-:1[0]", "-:1[1]"], "{source}");
            assert_eq!(lines[1]["events"][0]["target"]["key"], "gitlab:gitlab.com:issue:4");
        }
    }
}
