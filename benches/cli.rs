//! The `convert` example end to end, measured against a `serde_json::Value` round trip over the same file.
//!
//! Data: `fixtures/github-events/gharchive-2025-01-01-15.part1.jsonl` (1024 real Events API items, GH Archive hour
//! 2025-01-01 15:00 UTC, 2.5 MB), the example's input format.
//!
//! - `example`: the example's own code (`examples/convert.rs`, compiled in here as a module), with the arguments
//!   `--received-at 2025-01-01T16:00:00Z PATH` (source `auto`, the default): read the file, recognise, convert and
//!   write one JSON line per item into a `BufWriter` over `std::io::sink()`, as it writes to standard output.
//! - `value`: read the same file, parse each line into a `serde_json::Value` and write it back with
//!   `serde_json::to_writer` and a newline, into the same kind of writer.
//!
//! Run: `cargo bench --bench cli` (`ROUNDS=N` sets the number of rounds, default 100). Every variant runs once per
//! round (`harness`); the table gives each variant's median time and the median of the per-round ratio
//! example / `value`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports its numbers on stdout, and a bad argument on stderr"
)]

mod harness;

#[allow(
    dead_code,
    reason = "the example's `main` and usage text are not called: the benchmark drives its `run`"
)]
#[path = "../examples/convert.rs"]
mod example;

use std::hint::black_box;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use harness::{Rounds, Variant};

const FIXTURE: &str = "fixtures/github-events/gharchive-2025-01-01-15.part1.jsonl";

/// The example's pipeline: what `cargo run --example convert -- PATH > out.jsonl` does, writing into a sink.
#[inline(never)]
fn example(options: &example::Options) -> usize {
    let mut out = BufWriter::new(io::sink());
    let summary = example::run(options, &mut out, &mut io::empty()).expect("writing to a sink cannot fail");
    summary.by_status.values().sum()
}

/// Each line parsed into a `serde_json::Value` and written back, the file read whole as the example reads it.
#[inline(never)]
fn value(path: &Path) -> usize {
    let bytes = std::fs::read(path).expect("the fixture is readable");
    let mut out = BufWriter::new(io::sink());
    let mut lines = 0;
    for line in bytes.split(|byte| *byte == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: serde_json::Value = serde_json::from_slice(line).expect("every line is JSON");
        serde_json::to_writer(&mut out, &value).expect("writing to a sink cannot fail");
        out.write_all(b"\n").expect("writing to a sink cannot fail");
        lines += 1;
    }
    out.flush().expect("writing to a sink cannot fail");
    lines
}

fn main() {
    let settings = harness::settings(100);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let path_text = path.to_string_lossy().into_owned();
    let options = example::parse_args(
        ["--received-at", "2025-01-01T16:00:00Z", path_text.as_str()]
            .into_iter()
            .map(str::to_owned),
    )
    .expect("valid arguments");
    // Both variants go through the same items: check it once, outside the measurement.
    let items = value(&path);
    assert_eq!(example(&options), items, "the example converts every line");
    let bytes = std::fs::metadata(&path).expect("the fixture is readable").len();

    let variants: Vec<Variant<'_>> = vec![
        ("value", Box::new(|| _ = black_box(value(black_box(&path))))),
        ("example", Box::new(|| _ = black_box(example(black_box(&options))))),
    ];
    let rounds = Rounds::run(settings, &variants);

    println!(
        "cli: {} rounds, every variant once per round; medians over rounds (ROUNDS=N to change)",
        settings.rounds
    );
    println!("input: {FIXTURE}, {items} lines, {bytes} bytes");
    println!("value = read, parse each line into serde_json::Value, write it back as a JSON line");
    println!("example = the convert example's run(): read, recognise, convert, write JSON lines");
    println!("ratio = example time / value time, taken within each round");
    println!("{:<10} {:>10} {:>10}", "variant", "ms", "MB/s");
    for name in ["value", "example"] {
        let seconds = rounds.median_seconds(name);
        println!(
            "{:<10} {:>10.2} {:>10.0}",
            name,
            seconds * 1e3,
            bytes as f64 / seconds / 1e6
        );
    }
    println!("ratio {:.3}", rounds.median_time_ratio("example", "value"));
}
