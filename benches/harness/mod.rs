//! The benchmarks' harness: rounds in which every variant runs once, and medians over the rounds.
//!
//! The project's virtual machines slow down 1.5-2x at random. A slowdown hits every variant of a round alike, so the
//! ratio of two variants taken within each round holds still where variants timed one after another drift; the
//! benchmarks report the median of those per-round ratios, beside each variant's median time.
//!
//! - `ROUNDS=N` sets the number of measured rounds (each benchmark has its own default). Rounds first run uncounted
//!   for half a second, as a warm-up.
//! - Run without `--bench` (`cargo bench` passes it; `cargo test --benches` does not), a benchmark runs a single
//!   round without warm-up, to check that every variant runs.
//! - Any other argument is refused: there are no filters or options.

use std::time::{Duration, Instant};

/// How long rounds run uncounted before the measurement.
const WARM_UP: Duration = Duration::from_millis(500);

/// A variant: its name and a closure running it once (which keeps its result from being optimized away, with
/// `std::hint::black_box`).
pub(crate) type Variant<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// How the benchmark was started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Measured rounds.
    pub(crate) rounds: usize,
    /// Whether to warm up first.
    pub(crate) warm_up: bool,
}

/// Reads the command line and `ROUNDS`; exits with a message on an argument it does not know.
pub(crate) fn settings(default_rounds: usize) -> Settings {
    let mut bench = false;
    for argument in std::env::args().skip(1) {
        if argument == "--bench" {
            bench = true;
        } else {
            eprintln!(
                "unknown argument {argument:?}: this benchmark takes no options or filters; \
                 set ROUNDS=N for the number of rounds (default {default_rounds})"
            );
            std::process::exit(2);
        }
    }
    if !bench {
        eprintln!("not run by `cargo bench` (no --bench argument): one round to check that every variant runs");
        return Settings {
            rounds: 1,
            warm_up: false,
        };
    }
    let rounds = match std::env::var("ROUNDS") {
        Ok(value) => match value.parse() {
            Ok(rounds) if rounds > 0 => rounds,
            _ => {
                eprintln!("ROUNDS={value:?} is not a positive number of rounds");
                std::process::exit(2);
            }
        },
        Err(_) => default_rounds,
    };
    Settings { rounds, warm_up: true }
}

/// The time of every variant in every measured round.
#[derive(Debug)]
pub(crate) struct Rounds {
    names: Vec<&'static str>,
    /// `seconds[variant][round]`.
    seconds: Vec<Vec<f64>>,
}

impl Rounds {
    /// Runs every variant once per round, in the given order, for `settings.rounds` rounds (after the warm-up).
    pub(crate) fn run(settings: Settings, variants: &[Variant<'_>]) -> Self {
        if settings.warm_up {
            let start = Instant::now();
            while start.elapsed() < WARM_UP {
                for (_, run) in variants {
                    run();
                }
            }
        }
        let mut seconds = vec![Vec::with_capacity(settings.rounds); variants.len()];
        for _ in 0..settings.rounds {
            for ((_, run), times) in variants.iter().zip(&mut seconds) {
                let start = Instant::now();
                run();
                times.push(start.elapsed().as_secs_f64());
            }
        }
        Self {
            names: variants.iter().map(|(name, _)| *name).collect(),
            seconds,
        }
    }

    /// The median time of one run of `variant`, in seconds.
    pub(crate) fn median_seconds(&self, variant: &str) -> f64 {
        median(self.times(variant).to_vec())
    }

    /// The median over rounds of `variant`'s time divided by `reference`'s time in the same round.
    pub(crate) fn median_time_ratio(&self, variant: &str, reference: &str) -> f64 {
        let ratios = self
            .times(variant)
            .iter()
            .zip(self.times(reference))
            .map(|(variant, reference)| variant / reference)
            .collect();
        median(ratios)
    }

    /// The time of `variant` in each round, in round order, in seconds.
    pub(crate) fn times(&self, variant: &str) -> &[f64] {
        let index = self
            .names
            .iter()
            .position(|name| *name == variant)
            .unwrap_or_else(|| panic!("no variant {variant:?} was run"));
        &self.seconds[index]
    }
}

/// The median: the middle value, or the mean of the two middle values.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    }
}
