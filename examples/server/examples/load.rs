//! Load generator for the example host: signed GitHub push deliveries over keep-alive connections on loopback.
//!
//! Start the host with a webhook secret and an administrator token, then point this at it (both on 127.0.0.1):
//!
//! ```sh
//! export SPARK_ADMIN_TOKEN=spk_load-test-administrator
//! cargo run --release -p spark-host -- --db /tmp/load.sqlite3 --github-webhook-secret s3cret &
//! cargo run --release -p spark-host --example load -- --url http://127.0.0.1:8080 --db /tmp/load.sqlite3 \
//!     --secret s3cret --token "$SPARK_ADMIN_TOKEN" --count 30000 --seconds 60 --connections 8
//! ```
//!
//! Several instances on one Postgres database: give `--url` a comma-separated list (connections are spread over
//! them in turn, so a redelivery often reaches another instance than the first delivery) and `--db` the same
//! `postgres://` URL as the hosts.
//!
//! It creates (or reuses) the GitHub integration through `POST /api/integrations/github`, then sends `--count`
//! deliveries of a recorded ~9 KB push body (`fixtures/github-webhooks/push.default.4.json`), each with a fresh
//! `X-GitHub-Delivery` except every tenth, which redelivers an earlier one, for at most `--seconds`. Each of the
//! `--connections` threads keeps one HTTP/1.1 connection open and sends requests one after another. At the end it
//! prints throughput, latency percentiles, the status histogram and the number of distinct deliveries sent, then
//! opens the host's database (read-only for SQLite) and checks that each distinct delivery is stored exactly once.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports to its user"
)]

use std::collections::{BTreeMap, HashSet};
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use spark_integrations::store::postgres;
use spark_integrations::store::rusqlite::{Connection, OpenFlags};

/// The recorded push delivery every request carries.
const BODY: &[u8] = include_bytes!("../../../fixtures/github-webhooks/push.default.4.json");

/// Every `REDELIVER_EVERY`th request redelivers an earlier delivery id (10 %).
const REDELIVER_EVERY: usize = 10;

struct Options {
    /// The hosts' base URLs.
    urls: Vec<String>,
    db: String,
    secret: String,
    /// An API token of the host's (the administrator's): creating the integration needs a signed-in user.
    token: String,
    count: usize,
    seconds: u64,
    connections: usize,
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        urls: vec!["http://127.0.0.1:8080".into()],
        db: "./spark.sqlite3".into(),
        secret: std::env::var("SPARK_GITHUB_WEBHOOK_SECRET").unwrap_or_default(),
        token: std::env::var("SPARK_ADMIN_TOKEN").unwrap_or_default(),
        count: 20_000,
        seconds: 60,
        connections: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => {
                options.urls = value
                    .split(',')
                    .map(|url| url.trim().trim_end_matches('/').to_owned())
                    .collect();
            }
            "--db" => options.db = value,
            "--secret" => options.secret = value,
            "--token" => options.token = value,
            "--count" => options.count = value.parse()?,
            "--seconds" => options.seconds = value.parse()?,
            "--connections" => options.connections = value.parse::<usize>()?.max(1),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if options.secret.is_empty() {
        return Err("give the host's --github-webhook-secret with --secret (or SPARK_GITHUB_WEBHOOK_SECRET)".into());
    }
    for url in &options.urls {
        let host = url.trim_start_matches("http://");
        if !(host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")) {
            return Err("the load generator only targets loopback addresses".into());
        }
    }
    Ok(options)
}

/// What one connection measured.
#[derive(Default)]
struct Measured {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, usize>,
    sent_ids: HashSet<String>,
    errors: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    let addresses: Vec<String> = options
        .urls
        .iter()
        .map(|url| url.trim_start_matches("http://").to_owned())
        .collect();
    let first = addresses.first().ok_or("give at least one --url")?;

    // The integration to deliver to: the host answers with the existing one if there is one.
    let mut connection = Client::connect(first)?;
    let bearer = format!("Bearer {}", options.token);
    let (status, body) = connection.request("POST", "/api/integrations/github", &[("Authorization", &bearer)], b"")?;
    if status != 200 && status != 201 {
        return Err(format!("creating the integration answered {status}").into());
    }
    let integration: serde_json::Value = serde_json::from_slice(&body)?;
    let integration_id = integration["id"].as_str().ok_or("no integration id")?.to_owned();
    let webhook_url = integration["webhook_url"].as_str().ok_or("no webhook URL")?;
    let path = webhook_url
        .find("/webhook/")
        .and_then(|at| webhook_url.get(at..))
        .ok_or("unexpected webhook URL")?
        .to_owned();

    let run = format!(
        "load-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );

    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..options.connections)
        .map(|thread| {
            let (next, results, address, path, secret, run) = (
                Arc::clone(&next),
                Arc::clone(&results),
                addresses[thread % addresses.len()].clone(),
                path.clone(),
                options.secret.clone(),
                run.clone(),
            );
            let count = options.count;
            std::thread::spawn(move || {
                let mut measured = Measured::default();
                let mut client = Client::connect(&address).ok();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count || Instant::now() >= deadline {
                        break;
                    }
                    // Every tenth request redelivers the id sent a few requests earlier (maybe still in flight
                    // on another connection: the host must store it once either way).
                    let id_index = if index % REDELIVER_EVERY == REDELIVER_EVERY - 1 {
                        index - 3
                    } else {
                        index
                    };
                    let delivery = format!("{run}-{id_index}");
                    // GitHub's signature covers only the body, so the host keys events by the body's hash: each
                    // delivery carries a body of its own (the recorded push, marked with its delivery id).
                    let body = body_of(&delivery);
                    let signature = sign(&secret, &body);
                    let headers = [
                        ("Content-Type", "application/json"),
                        ("X-GitHub-Event", "push"),
                        ("X-GitHub-Delivery", delivery.as_str()),
                        ("X-Hub-Signature-256", signature.as_str()),
                    ];
                    let begun = Instant::now();
                    let answer = match client.as_mut() {
                        Some(client) => client.request("POST", &path, &headers, &body),
                        None => Err("not connected".into()),
                    };
                    match answer {
                        Ok((status, _)) => {
                            let elapsed = u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX);
                            measured.latencies_us.push(elapsed);
                            *measured.statuses.entry(status).or_default() += 1;
                            measured.sent_ids.insert(delivery);
                        }
                        Err(_) => {
                            measured.errors += 1;
                            client = Client::connect(&address).ok();
                        }
                    }
                }
                results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(measured);
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a load thread panicked")?;
    }
    let elapsed = started.elapsed();

    let results = std::mem::take(&mut *results.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut latencies: Vec<u64> = results.iter().flat_map(|m| m.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let mut statuses = BTreeMap::new();
    let mut distinct = HashSet::new();
    let mut errors = 0;
    for measured in results {
        for (status, count) in measured.statuses {
            *statuses.entry(status).or_insert(0) += count;
        }
        distinct.extend(measured.sent_ids);
        errors += measured.errors;
    }
    let answered = latencies.len();
    let percentile = |p: f64| -> f64 {
        let rank = ((p / 100.0) * answered as f64).ceil() as usize;
        latencies
            .get(rank.saturating_sub(1).min(answered.saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "deliveries answered: {answered} in {:.2} s over {} connections to {} host(s)",
        elapsed.as_secs_f64(),
        options.connections,
        addresses.len()
    );
    println!(
        "throughput:          {:.0} deliveries/s",
        answered as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency ms:          p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        percentile(50.0),
        percentile(95.0),
        percentile(99.0),
        percentile(100.0)
    );
    println!("statuses:            {statuses:?}  transport errors: {errors}");
    println!("distinct deliveries: {}", distinct.len());

    // Stored exactly once: the events table is unique on (integration, source_id); count this run's rows.
    let expected: HashSet<String> = distinct.iter().map(|delivery| source_id(&body_of(delivery))).collect();
    let (rows, unique) = stored(&options.db, &integration_id, &expected)?;
    println!(
        "stored:              {rows} events, {unique} distinct, for {} distinct deliveries sent",
        distinct.len()
    );
    let all_ok = statuses.keys().all(|status| *status == 200) && errors == 0;
    if usize::try_from(rows).ok() != Some(distinct.len()) || unique != rows || !all_ok {
        return Err("FAILED: not every delivery answered 200 and stored exactly once".into());
    }
    println!("check:               every response 200, every distinct delivery stored exactly once");
    Ok(())
}

/// The body of delivery `delivery`: the recorded push with a first field naming the delivery.
fn body_of(delivery: &str) -> Vec<u8> {
    let mut body = format!("{{\"spark_load_delivery\":\"{delivery}\",").into_bytes();
    body.extend_from_slice(&BODY[1..]);
    body
}

/// `sha256=<hex>` of HMAC-SHA256 over `body`, as GitHub signs.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `source_id` the host stores a delivery of `body` under: the body's SHA-256.
fn source_id(body: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
}

/// How many rows of the integration's events have one of the `expected` source ids, and how many distinct ones, in
/// the hosts' database: a SQLite file (opened read-only) or a `postgres://` URL.
fn stored(db: &str, integration_id: &str, expected: &HashSet<String>) -> Result<(i64, i64), Box<dyn Error>> {
    const QUERY: &str = "SELECT source_id FROM events WHERE integration_id = ";
    let source_ids: Vec<String> = if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let mut client = postgres::Client::connect(db, postgres::NoTls)?;
        let rows = client.query(&format!("{QUERY}$1"), &[&integration_id])?;
        rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?
    } else {
        let db = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut statement = db.prepare(&format!("{QUERY}?1"))?;
        let rows = statement.query_map([integration_id], |row| row.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let found: Vec<&String> = source_ids.iter().filter(|id| expected.contains(*id)).collect();
    let distinct: HashSet<&String> = found.iter().copied().collect();
    Ok((i64::try_from(found.len())?, i64::try_from(distinct.len())?))
}

/// A minimal HTTP/1.1 client on one keep-alive connection: enough for a load generator, no more.
struct Client {
    host: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(address: &str) -> Result<Self, Box<dyn Error>> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self {
            host: address.to_owned(),
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one request and reads the whole response: its status and body.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), Box<dyn Error>> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.writer.write_all(&bytes)?;

        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).ok_or("no status line")?.parse()?;
        let mut length = 0;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err("connection closed".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, body))
    }
}
