//! Webhook verification throughput beside a bare HMAC-SHA256 (`hmac` + `sha2`) and `ring`'s HMAC over the same
//! bytes, in the same run.
//!
//! Run: `cargo bench --bench verify`. Two parts:
//! 1. criterion groups `verify/<size>` for 1 KiB, 25 KiB and 1 MiB bodies: the GitHub and Slack verifiers (full
//!    `verify`, headers and all), the bare HMAC, and `ring::hmac`;
//! 2. interleaved rounds: every variant once per round, many rounds, printing the median ratio of each variant's
//!    rate to `ring`'s. Shared VMs slow down at random; a slowdown then hits all variants of a round alike and the
//!    median ratio stays put where separate criterion groups drift.
//!
//! Bodies are synthetic JSON objects of the given size (`{"type":"event_callback","event_id":"Ev1","pad":"xxx…"}`),
//! so the Slack verifier also reads its envelope, as it does for real deliveries.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{WebhookSecret, WebhookVerifier};

const SECRET: &str = "It's a Secret to Everybody";
const TIMESTAMP: &str = "1531420618";
const SIZES: [(&str, usize); 3] = [("1KiB", 1 << 10), ("25KiB", 25 << 10), ("1MiB", 1 << 20)];

/// One request: its body and the headers each scheme needs, signed with `SECRET`.
struct Fixture {
    body: Vec<u8>,
    github: HeaderMap,
    slack: HeaderMap,
    secrets: [WebhookSecret; 1],
    now: DateTime<Utc>,
    ring_key: ring::hmac::Key,
}

impl Fixture {
    fn new(size: usize) -> Self {
        let head = br#"{"type":"event_callback","event_id":"Ev1","pad":""#;
        let mut body = head.to_vec();
        body.resize(size - 2, b'x');
        body.extend_from_slice(b"\"}");
        let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let github_tag = ring::hmac::sign(&ring_key, &body);
        let mut context = ring::hmac::Context::with_key(&ring_key);
        for part in [b"v0:".as_slice(), TIMESTAMP.as_bytes(), b":", &body] {
            context.update(part);
        }
        let slack_tag = context.sign();
        let mut github = HeaderMap::new();
        github.insert("X-GitHub-Event", "push".parse().unwrap());
        github.insert(
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap(),
        );
        github.insert(
            "X-Hub-Signature-256",
            format!("sha256={}", hex::encode(github_tag)).parse().unwrap(),
        );
        let mut slack = HeaderMap::new();
        slack.insert("X-Slack-Request-Timestamp", TIMESTAMP.parse().unwrap());
        slack.insert(
            "X-Slack-Signature",
            format!("v0={}", hex::encode(slack_tag)).parse().unwrap(),
        );
        Self {
            body,
            github,
            slack,
            secrets: [WebhookSecret::new(SECRET)],
            now: Utc.timestamp_opt(1_531_420_618, 0).unwrap(),
            ring_key,
        }
    }

    fn github_verify(&self) {
        let delivery = GithubVerifier::new().verify(&self.secrets, &self.github, black_box(&self.body), self.now);
        assert!(black_box(delivery).is_ok());
    }

    fn slack_verify(&self) {
        let delivery = SlackVerifier::new().verify(&self.secrets, &self.slack, black_box(&self.body), self.now);
        assert!(black_box(delivery).is_ok());
    }

    fn bare_hmac(&self) {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(black_box(&self.body));
        black_box(mac.finalize());
    }

    fn ring_hmac(&self) {
        black_box(ring::hmac::sign(&self.ring_key, black_box(&self.body)));
    }
}

type Variant = (&'static str, fn(&Fixture));

const VARIANTS: [Variant; 4] = [
    ("github_verify", Fixture::github_verify),
    ("slack_verify", Fixture::slack_verify),
    ("hmac_sha2", Fixture::bare_hmac),
    ("ring_hmac", Fixture::ring_hmac),
];

fn criterion_groups(c: &mut Criterion) {
    for (name, size) in SIZES {
        let fixture = Fixture::new(size);
        let mut group = c.benchmark_group(format!("verify/{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        group.sample_size(30);
        for (variant, run) in VARIANTS {
            group.bench_function(variant, |b| b.iter(|| run(&fixture)));
        }
        group.finish();
    }
}

/// Every variant once per round (about 2 ms each), `ROUNDS` rounds; prints each variant's median rate and the
/// median of its per-round ratio to `ring`.
fn interleaved_rounds() {
    const ROUNDS: usize = 60;
    println!("\ninterleaved rounds ({ROUNDS} per size; rates in GB/s = 1e9 bytes/s; ratio = variant rate / ring rate)");
    println!("{:<8} {:<14} {:>8} {:>14}", "size", "variant", "GB/s", "median ratio");
    for (name, size) in SIZES {
        let fixture = Fixture::new(size);
        let iterations = (2_000_000 / size).max(1);
        let mut rates = vec![Vec::with_capacity(ROUNDS); VARIANTS.len()];
        for _ in 0..ROUNDS {
            for ((_, run), rates) in VARIANTS.iter().zip(&mut rates) {
                let start = Instant::now();
                for _ in 0..iterations {
                    run(&fixture);
                }
                let seconds = start.elapsed().as_secs_f64();
                rates.push((size * iterations) as f64 / seconds / 1e9);
            }
        }
        let ring = VARIANTS
            .iter()
            .position(|(variant, _)| *variant == "ring_hmac")
            .unwrap();
        for ((variant, _), variant_rates) in VARIANTS.iter().zip(&rates) {
            let ratios: Vec<f64> = variant_rates
                .iter()
                .zip(&rates[ring])
                .map(|(rate, ring)| rate / ring)
                .collect();
            println!(
                "{name:<8} {variant:<14} {:>8.3} {:>14.3}",
                median(variant_rates.clone()),
                median(ratios)
            );
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion);
    criterion.final_summary();
    interleaved_rounds();
}
