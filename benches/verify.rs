//! Webhook verification throughput beside a bare HMAC-SHA256 (`hmac` + `sha2`, what the crate builds on) and, with
//! the `bench-ring` feature, `ring`'s HMAC (an independent, assembly-optimized implementation) over the same bytes, in
//! the same run.
//!
//! Run: `cargo bench --bench verify --features bench-ring` (without the feature, `ring` is left out and rates are
//! compared with the bare HMAC only). `ROUNDS=N` sets the number of rounds per size (default 60).
//!
//! For 1 KiB, 25 KiB and 1 MiB bodies, every variant runs once per round (`harness`), each run verifying or signing
//! about 2 MB; the table gives each variant's median time per call and rate, and the median of its per-round rate
//! ratio to each reference. Shared VMs slow down at random; a slowdown then hits all variants of a round alike and
//! the median ratio stays put where variants timed one after another drift.
//!
//! Variants: `github_verify` and `slack_verify` (the full `verify`, headers and all), `hmac_sha2` (a bare
//! `Hmac<Sha256>` keyed and run over the body) and `ring_hmac` (`ring::hmac::sign` with a prebuilt key). Bodies are
//! synthetic JSON objects of the given size (`{"type":"event_callback","event_id":"Ev1","pad":"xxx…"}`). Since
//! 2026-11-30 no verifier reads the body beyond hashing it (the converter is its one reader), so the Slack verifier no
//! longer scans its envelope here.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports its numbers on stdout, and a bad argument on stderr"
)]

mod harness;

use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use harness::{Rounds, Variant};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{WebhookSecret, WebhookVerifier};

const SECRET: &str = "It's a Secret to Everybody";
const TIMESTAMP: &str = "1531420618";
const SIZES: [(&str, usize); 3] = [("1KiB", 1 << 10), ("25KiB", 25 << 10), ("1MiB", 1 << 20)];
/// Bytes each variant handles per round (in several calls for small bodies).
const BYTES_PER_ROUND: usize = 2_000_000;

/// The variants the others are compared with: the bare HMAC, and `ring` when it is built.
const REFERENCES: &[&str] = if cfg!(feature = "bench-ring") {
    &["hmac_sha2", "ring_hmac"]
} else {
    &["hmac_sha2"]
};

/// A variant's name and the operation it times, once.
type Operation = (&'static str, fn(&Fixture));

/// One request: its body and the headers each scheme needs, signed with `SECRET`.
struct Fixture {
    body: Vec<u8>,
    github: HeaderMap,
    slack: HeaderMap,
    secrets: [WebhookSecret; 1],
    now: DateTime<Utc>,
    #[cfg(feature = "bench-ring")]
    ring_key: ring::hmac::Key,
}

/// HMAC-SHA256 of the concatenated parts.
fn sign(parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("HMAC takes any key");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

impl Fixture {
    fn new(size: usize) -> Self {
        let head = br#"{"type":"event_callback","event_id":"Ev1","pad":""#;
        let mut body = head.to_vec();
        body.resize(size - 2, b'x');
        body.extend_from_slice(b"\"}");
        let github_tag = sign(&[&body]);
        let slack_tag = sign(&[b"v0:", TIMESTAMP.as_bytes(), b":", &body]);
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
            #[cfg(feature = "bench-ring")]
            ring_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes()),
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

    #[cfg(feature = "bench-ring")]
    fn ring_hmac(&self) {
        black_box(ring::hmac::sign(&self.ring_key, black_box(&self.body)));
    }

    /// The variants, each running its operation `calls` times.
    fn variants(&self, calls: usize) -> Vec<Variant<'_>> {
        let variants: Vec<Operation> = vec![
            ("github_verify", Self::github_verify),
            ("slack_verify", Self::slack_verify),
            ("hmac_sha2", Self::bare_hmac),
            #[cfg(feature = "bench-ring")]
            ("ring_hmac", Self::ring_hmac),
        ];
        variants
            .into_iter()
            .map(|(name, run)| -> Variant<'_> {
                (
                    name,
                    Box::new(move || {
                        for _ in 0..calls {
                            run(self);
                        }
                    }),
                )
            })
            .collect()
    }
}

fn main() {
    let settings = harness::settings(60);
    println!(
        "verify: {} rounds per size, every variant once per round (about {} MB each); medians over rounds \
         (ROUNDS=N to change)",
        settings.rounds,
        BYTES_PER_ROUND / 1_000_000
    );
    println!("GB/s = 1e9 bytes/s; / reference = the variant's rate / the reference's rate, within each round");
    if !cfg!(feature = "bench-ring") {
        println!("(ring_hmac left out: run with `--features bench-ring` to compare with ring)");
    }
    print!("{:<8} {:<14} {:>11} {:>8}", "size", "variant", "time/call", "GB/s");
    for reference in REFERENCES {
        print!(" {:>13}", format!("/ {reference}"));
    }
    println!();
    for (name, size) in SIZES {
        let fixture = Fixture::new(size);
        let calls = (BYTES_PER_ROUND / size).max(1);
        let variants = fixture.variants(calls);
        let rounds = Rounds::run(settings, &variants);
        for (variant, _) in &variants {
            let seconds = rounds.median_seconds(variant) / calls as f64;
            print!(
                "{name:<8} {variant:<14} {:>11} {:>8.3}",
                format_seconds(seconds),
                size as f64 / seconds / 1e9
            );
            for reference in REFERENCES {
                // Same bytes per run, so the rate ratio is the reference's time over the variant's.
                print!(" {:>13.3}", rounds.median_time_ratio(reference, variant));
            }
            println!();
        }
    }
}

/// `1.98 us`, `752 us`, `1.16 ms`.
fn format_seconds(seconds: f64) -> String {
    match seconds {
        s if s < 1e-3 => format!("{:.3} us", s * 1e6),
        s => format!("{:.3} ms", s * 1e3),
    }
}
