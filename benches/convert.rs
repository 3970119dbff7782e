//! Converter throughput, measured against `serde_json::from_slice::<serde_json::Value>` of the same bytes.
//!
//! Data: `fixtures/github-events/gharchive-2025-01-01-15.part1.jsonl` (1024 real Events API items, GH Archive hour
//! 2025-01-01 15:00 UTC) and `fixtures/github-webhooks/push.default.4.json` (a ~9 KB push delivery from GitHub's
//! docs samples), and the real and documented Slack Events API envelopes of `fixtures/slack/` (the recorded
//! slack-web goldens and Slack's reference examples; the blanked java-sdk skeletons and hand-written files are left
//! out). To recapture, copy newer files from the shared corpus under the same names (see `fixtures/README.md`).
//!
//! Run: `cargo bench --bench convert`. Criterion measures each variant; the final "rounds" measurement then runs
//! every variant once per round, many rounds, and prints the median ratio converter / `Value`. Take ratios from the
//! rounds: these virtual machines slow down 1.5-2x at random, which skews variants measured one after another.
//! `ROUNDS=N` sets the number of rounds (default 200).
#![allow(clippy::print_stdout, reason = "a benchmark reports its numbers on stdout")]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput};
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
    push: Vec<u8>,
    slack: Vec<Vec<u8>>,
}

impl Data {
    fn load() -> Self {
        Self {
            gharchive: fixture("github-events/gharchive-2025-01-01-15.part1.jsonl"),
            push: fixture("github-webhooks/push.default.4.json"),
            slack: slack_envelopes(),
        }
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.gharchive
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
    }
}

// The variants. Each returns something derived from its result so the work cannot be optimized away.

fn gharchive_value(data: &Data) -> usize {
    data.lines()
        .map(|line| {
            serde_json::from_slice::<serde_json::Value>(black_box(line)).map_or(0, |value| value.is_object() as usize)
        })
        .sum()
}

fn gharchive_convert(data: &Data, context: &ConvertContext) -> usize {
    data.lines()
        .map(|line| {
            GithubConverter
                .convert(Payload::Polled { body: black_box(line) }, context)
                .is_ok() as usize
        })
        .sum()
}

fn push_value(data: &Data) -> usize {
    serde_json::from_slice::<serde_json::Value>(black_box(&data.push)).map_or(0, |value| value.is_object() as usize)
}

fn push_convert(data: &Data, context: &ConvertContext) -> usize {
    let payload = Payload::Webhook {
        event: Some("push"),
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        body: black_box(&data.push),
    };
    GithubConverter.convert(payload, context).is_ok() as usize
}

fn bench_gharchive(c: &mut Criterion, data: &Data, context: &ConvertContext) {
    let mut group = c.benchmark_group("github_events_gharchive");
    group.throughput(Throughput::Bytes(data.gharchive.len() as u64));
    group.bench_function("value", |b| b.iter(|| gharchive_value(data)));
    group.bench_function("convert", |b| b.iter(|| gharchive_convert(data, context)));
    group.finish();
}

fn bench_push(c: &mut Criterion, data: &Data, context: &ConvertContext) {
    let mut group = c.benchmark_group("github_webhook_push");
    group.throughput(Throughput::Bytes(data.push.len() as u64));
    group.bench_function("value", |b| b.iter(|| push_value(data)));
    group.bench_function("convert", |b| b.iter(|| push_convert(data, context)));
    group.finish();
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

fn slack_value(data: &Data) -> usize {
    data.slack
        .iter()
        .map(|body| {
            serde_json::from_slice::<serde_json::Value>(black_box(body)).map_or(0, |value| value.is_object() as usize)
        })
        .sum()
}

fn slack_convert(data: &Data, context: &ConvertContext) -> usize {
    data.slack
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

fn bench_slack(c: &mut Criterion, data: &Data, context: &ConvertContext) {
    let mut group = c.benchmark_group("slack_envelopes");
    group.throughput(Throughput::Bytes(data.slack.iter().map(|body| body.len() as u64).sum()));
    group.bench_function("value", |b| b.iter(|| slack_value(data)));
    group.bench_function("convert", |b| b.iter(|| slack_convert(data, context)));
    group.finish();
}

/// Times the Slack envelopes are converted per round, so that a round's time is well above timer noise.
const SLACK_REPEAT: usize = 20;

fn time(run: impl FnOnce() -> usize) -> Duration {
    let start = Instant::now();
    black_box(run());
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Every variant once per round; the ratio of each pair is taken within the round, then the median over rounds.
fn rounds(data: &Data, context: &ConvertContext) {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let (mut gharchive, mut push, mut slack) = (
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
    );
    let (mut gharchive_times, mut push_times, mut slack_times) = (
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
    );
    for _ in 0..rounds {
        let value = time(|| gharchive_value(data));
        let convert = time(|| gharchive_convert(data, context));
        gharchive.push(convert.as_secs_f64() / value.as_secs_f64());
        gharchive_times.push((value.as_secs_f64(), convert.as_secs_f64()));
        let value = time(|| (0..PUSH_REPEAT).map(|_| push_value(data)).sum());
        let convert = time(|| (0..PUSH_REPEAT).map(|_| push_convert(data, context)).sum());
        push.push(convert.as_secs_f64() / value.as_secs_f64());
        push_times.push((value.as_secs_f64(), convert.as_secs_f64()));
        let value = time(|| (0..SLACK_REPEAT).map(|_| slack_value(data)).sum());
        let convert = time(|| (0..SLACK_REPEAT).map(|_| slack_convert(data, context)).sum());
        slack.push(convert.as_secs_f64() / value.as_secs_f64());
        slack_times.push((value.as_secs_f64(), convert.as_secs_f64()));
    }
    let per_item = |times: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64, per: f64| {
        let mut values: Vec<f64> = times.iter().map(pick).map(|t| t / per * 1e6).collect();
        median(&mut values)
    };
    let items = data.lines().count() as f64;
    println!("rounds: {rounds} (median of per-round ratios converter / serde_json::Value)");
    println!(
        "  github_events_gharchive ({} items, {} bytes): ratio {:.3}  (value {:.2} us/item, convert {:.2} us/item)",
        items,
        data.gharchive.len(),
        median(&mut gharchive),
        per_item(&gharchive_times, |t| t.0, items),
        per_item(&gharchive_times, |t| t.1, items),
    );
    println!(
        "  github_webhook_push ({} bytes): ratio {:.3}  (value {:.2} us, convert {:.2} us)",
        data.push.len(),
        median(&mut push),
        per_item(&push_times, |t| t.0, PUSH_REPEAT as f64),
        per_item(&push_times, |t| t.1, PUSH_REPEAT as f64),
    );
    let envelopes = data.slack.len() as f64;
    println!(
        "  slack_envelopes ({} envelopes, {} bytes): ratio {:.3}  (value {:.2} us/envelope, convert {:.2} us/envelope)",
        envelopes,
        data.slack.iter().map(Vec::len).sum::<usize>(),
        median(&mut slack),
        per_item(&slack_times, |t| t.0, envelopes * SLACK_REPEAT as f64),
        per_item(&slack_times, |t| t.1, envelopes * SLACK_REPEAT as f64),
    );
}

fn main() {
    let data = Data::load();
    let context = context();
    let mut criterion = Criterion::default().configure_from_args();
    bench_gharchive(&mut criterion, &data, &context);
    bench_push(&mut criterion, &data, &context);
    bench_slack(&mut criterion, &data, &context);
    criterion.final_summary();
    rounds(&data, &context);
}
