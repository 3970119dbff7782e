//! Converter throughput, measured against `serde_json::from_slice::<serde_json::Value>` of the same bytes.
//!
//! Data: `fixtures/github-events/gharchive-2025-01-01-15.part1.jsonl` (1024 real Events API items, GH Archive hour
//! 2025-01-01 15:00 UTC) and `fixtures/github-webhooks/push.default.4.json` (a ~9 KB push delivery from GitHub's
//! docs samples), and the real and documented Slack Events API envelopes of `fixtures/slack/` (the recorded
//! slack-web goldens and Slack's reference examples; the blanked java-sdk skeletons and hand-written files are left
//! out). To recapture, copy newer files from the shared corpus under the same names (see `fixtures/README.md`).
//!
//! Run: `cargo bench --bench convert` (`ROUNDS=N` sets the number of rounds, default 200). Every variant runs once
//! per round (`harness`); the table gives each variant's median time and throughput and the median of the per-round
//! ratio converter / `Value`. Take ratios from the rounds: these virtual machines slow down 1.5-2x at random, which
//! skews variants measured one after another.
//!
//! Two more variants give the push webhook's floor, what any conversion of it costs: `push_hash`, the SHA-256 of the
//! body (its events' `source_id`), and `push_scan`, a validating scan of the body that builds nothing
//! (`serde::de::IgnoredAny`). They are printed below the table as ratios to `push_value`, like the converter's, and
//! so is the converter's own work: per round, its time minus the hash's, over the `Value` parse's.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports its numbers on stdout, and a bad argument on stderr"
)]

mod harness;

use std::hint::black_box;
use std::ops::Range;
use std::path::Path;

use chrono::{TimeZone, Utc};
use harness::{Rounds, Variant};
use spark_integrations::convert::{ConvertContext, Converter, Payload};
use spark_integrations::providers::github::GithubConverter;
use spark_integrations::providers::slack::SlackConverter;

/// Times converting one push webhook is repeated per round, so that a round's time is well above timer noise.
const PUSH_REPEAT: usize = 100;

fn fixture(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path);
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn context() -> ConvertContext {
    ConvertContext::new(
        Utc.with_ymd_and_hms(2025, 1, 1, 16, 0, 0)
            .single()
            .expect("a valid time"),
    )
}

struct Data {
    gharchive: Vec<u8>,
    /// Where each non-empty line of `gharchive` is, found once before the rounds: splitting the file is neither
    /// parsing nor converting, and a byte-by-byte split inside each variant cost about 1 µs per item in both.
    lines: Vec<Range<usize>>,
    push: Vec<u8>,
    slack: Vec<Vec<u8>>,
    /// The same envelopes without the whitespace between tokens: the recorded files are pretty-printed (about 40 % of
    /// their bytes are indentation), while Slack sends compact JSON.
    slack_compact: Vec<Vec<u8>>,
}

impl Data {
    fn load() -> Self {
        let gharchive = fixture("github-events/gharchive-2025-01-01-15.part1.jsonl");
        let slack = slack_envelopes();
        let mut lines = Vec::new();
        let mut start = 0;
        for (end, _) in gharchive.iter().enumerate().filter(|(_, byte)| **byte == b'\n') {
            lines.push(start..end);
            start = end + 1;
        }
        lines.push(start..gharchive.len());
        lines.retain(|line| !line.is_empty());
        Self {
            gharchive,
            lines,
            push: fixture("github-webhooks/push.default.4.json"),
            slack_compact: slack.iter().map(|body| compact_same_value(body)).collect(),
            slack,
        }
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().map(|line| &self.gharchive[line.clone()])
    }
}

// The variants. Each returns something derived from its result so the work cannot be optimized away, and each is
// compiled as a function of its own (`inline(never)`): inlined into a larger caller, the converter's code was
// optimized differently, and ran about 12 % slower in the rounds before the harness (BENCHMARKS.md).

#[inline(never)]
fn gharchive_value(data: &Data) -> usize {
    data.lines()
        .map(|line| {
            serde_json::from_slice::<serde_json::Value>(black_box(line)).map_or(0, |value| value.is_object() as usize)
        })
        .sum()
}

#[inline(never)]
fn gharchive_convert(data: &Data, context: &ConvertContext) -> usize {
    data.lines()
        .map(|line| {
            GithubConverter
                .convert(Payload::Polled { body: black_box(line) }, context)
                .is_ok() as usize
        })
        .sum()
}

#[inline(never)]
fn push_value(data: &Data) -> usize {
    serde_json::from_slice::<serde_json::Value>(black_box(&data.push)).map_or(0, |value| value.is_object() as usize)
}

/// The SHA-256 of the push body: the converter hashes every webhook body for its events' `source_id`.
#[inline(never)]
fn push_hash(data: &Data) -> usize {
    use sha2::Digest as _;
    usize::from(sha2::Sha256::digest(black_box(&data.push))[0])
}

/// A validating scan of the push body that builds nothing: the least any reader of it does.
#[inline(never)]
fn push_scan(data: &Data) -> usize {
    serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&data.push)).is_ok() as usize
}

#[inline(never)]
fn push_convert(data: &Data, context: &ConvertContext) -> usize {
    let payload = Payload::Webhook {
        event: Some("push"),
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        body: black_box(&data.push),
    };
    GithubConverter.convert(payload, context).is_ok() as usize
}

/// The recorded and documented Slack envelopes, in file name order.
fn slack_envelopes() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/slack");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.ends_with(".json")
                && !name.contains("handwritten")
                && !name.starts_with(|first: char| first.is_ascii_uppercase())
        })
        .collect();
    names.sort();
    names.iter().map(|name| fixture(&format!("slack/{name}"))).collect()
}

/// `compact(json)`, checked to read as the same JSON value.
fn compact_same_value(json: &[u8]) -> Vec<u8> {
    let compacted = compact(json);
    let value = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).expect("the fixtures are JSON");
    assert_eq!(value(&compacted), value(json), "compacting changed a Slack envelope");
    compacted
}

/// `json` without the whitespace between its tokens (strings are copied as they are, escapes included).
fn compact(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            (in_string, escaped) = match (escaped, byte) {
                (true, _) => (true, false),
                (false, b'\\') => (true, true),
                (false, b'"') => (false, false),
                (false, _) => (true, false),
            };
        } else if byte == b'"' {
            in_string = true;
        } else if byte.is_ascii_whitespace() {
            continue;
        }
        out.push(byte);
    }
    out
}

#[inline(never)]
fn slack_value(envelopes: &[Vec<u8>]) -> usize {
    envelopes
        .iter()
        .map(|body| {
            serde_json::from_slice::<serde_json::Value>(black_box(body)).map_or(0, |value| value.is_object() as usize)
        })
        .sum()
}

#[inline(never)]
fn slack_convert(envelopes: &[Vec<u8>], context: &ConvertContext) -> usize {
    envelopes
        .iter()
        .map(|body| {
            let payload = Payload::Webhook {
                event: None,
                delivery_id: None,
                body: black_box(body),
            };
            SlackConverter.convert(payload, context).is_ok() as usize
        })
        .sum()
}

/// Times the Slack envelopes are converted per round, so that a round's time is well above timer noise.
const SLACK_REPEAT: usize = 20;

/// One input of the table: its `Value` and converter variants, and what one pass over it holds.
struct Input {
    name: &'static str,
    value: &'static str,
    convert: &'static str,
    /// Payloads in one pass (items, envelopes, or the one push body).
    payloads: usize,
    /// What a payload is, for the per-payload times.
    unit: &'static str,
    /// Bytes in one pass.
    bytes: usize,
    /// Passes per run.
    repeat: usize,
}

fn main() {
    let settings = harness::settings(200);
    let data = &Data::load();
    let context = &context();
    let variants: Vec<Variant<'_>> = vec![
        ("gharchive_value", Box::new(|| _ = black_box(gharchive_value(data)))),
        (
            "gharchive_convert",
            Box::new(|| _ = black_box(gharchive_convert(data, context))),
        ),
        (
            "push_value",
            Box::new(|| _ = black_box(repeat(PUSH_REPEAT, || push_value(data)))),
        ),
        (
            "push_convert",
            Box::new(|| _ = black_box(repeat(PUSH_REPEAT, || push_convert(data, context)))),
        ),
        (
            "push_hash",
            Box::new(|| _ = black_box(repeat(PUSH_REPEAT, || push_hash(data)))),
        ),
        (
            "push_scan",
            Box::new(|| _ = black_box(repeat(PUSH_REPEAT, || push_scan(data)))),
        ),
        (
            "slack_value",
            Box::new(|| _ = black_box(repeat(SLACK_REPEAT, || slack_value(&data.slack)))),
        ),
        (
            "slack_convert",
            Box::new(|| _ = black_box(repeat(SLACK_REPEAT, || slack_convert(&data.slack, context)))),
        ),
        (
            "slack_compact_value",
            Box::new(|| _ = black_box(repeat(SLACK_REPEAT, || slack_value(&data.slack_compact)))),
        ),
        (
            "slack_compact_convert",
            Box::new(|| _ = black_box(repeat(SLACK_REPEAT, || slack_convert(&data.slack_compact, context)))),
        ),
    ];
    let rounds = Rounds::run(settings, &variants);

    let inputs = [
        Input {
            name: "github_events_gharchive",
            value: "gharchive_value",
            convert: "gharchive_convert",
            payloads: data.lines().count(),
            unit: "item",
            bytes: data.gharchive.len(),
            repeat: 1,
        },
        Input {
            name: "github_webhook_push",
            value: "push_value",
            convert: "push_convert",
            payloads: 1,
            unit: "body",
            bytes: data.push.len(),
            repeat: PUSH_REPEAT,
        },
        Input {
            name: "slack_envelopes",
            value: "slack_value",
            convert: "slack_convert",
            payloads: data.slack.len(),
            unit: "envelope",
            bytes: data.slack.iter().map(Vec::len).sum(),
            repeat: SLACK_REPEAT,
        },
        Input {
            name: "slack_envelopes_compact",
            value: "slack_compact_value",
            convert: "slack_compact_convert",
            payloads: data.slack_compact.len(),
            unit: "envelope",
            bytes: data.slack_compact.iter().map(Vec::len).sum(),
            repeat: SLACK_REPEAT,
        },
    ];
    println!(
        "convert: {} rounds, every variant once per round; medians over rounds (ROUNDS=N to change)",
        settings.rounds
    );
    println!("value = serde_json::from_slice::<serde_json::Value> of the same bytes; us per payload; MB = 1e6 bytes");
    println!("ratio = convert time / value time, taken within each round");
    println!(
        "{:<24} {:>5} {:>9} {:>9} {:>9} {:>11} {:>11} {:>13} {:>7}",
        "input", "count", "bytes", "unit", "value us", "convert us", "value MB/s", "convert MB/s", "ratio"
    );
    for input in inputs {
        let passes = input.repeat as f64;
        let value = rounds.median_seconds(input.value) / passes;
        let convert = rounds.median_seconds(input.convert) / passes;
        let per_payload = |seconds: f64| seconds / input.payloads as f64 * 1e6;
        let rate = |seconds: f64| input.bytes as f64 / seconds / 1e6;
        println!(
            "{:<24} {:>5} {:>9} {:>9} {:>9.2} {:>11.2} {:>11.0} {:>13.0} {:>7.3}",
            input.name,
            input.payloads,
            input.bytes,
            input.unit,
            per_payload(value),
            per_payload(convert),
            rate(value),
            rate(convert),
            rounds.median_time_ratio(input.convert, input.value),
        );
    }
    let push_us = |variant: &str| rounds.median_seconds(variant) / PUSH_REPEAT as f64 * 1e6;
    println!(
        "push floor: sha256 {:.2} us (ratio {:.3}), validating scan {:.2} us (ratio {:.3})",
        push_us("push_hash"),
        rounds.median_time_ratio("push_hash", "push_value"),
        push_us("push_scan"),
        rounds.median_time_ratio("push_scan", "push_value"),
    );
    println!(
        "push without its hash: convert - sha256 {:.2} us (ratio {:.3})",
        push_us("push_convert") - push_us("push_hash"),
        without_hash(&rounds),
    );
}

/// The median over rounds of (the push conversion's time minus the push hash's) over the push `Value` parse's, all
/// three from the same round: the converter's own work beside the hash it includes.
fn without_hash(rounds: &Rounds) -> f64 {
    let ratios = rounds
        .times("push_convert")
        .iter()
        .zip(rounds.times("push_hash"))
        .zip(rounds.times("push_value"))
        .map(|((convert, hash), value)| (convert - hash) / value)
        .collect();
    harness::median(ratios)
}

/// Runs `run` `times` times, summing its results.
fn repeat(times: usize, run: impl Fn() -> usize) -> usize {
    (0..times).map(|_| run()).sum()
}
