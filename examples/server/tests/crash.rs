//! The host killed with SIGKILL in the middle of a run of signed deliveries, then started again on the same
//! database: every delivery it acknowledged (2xx) is stored exactly once. Runs the real `spark-host` binary, on SQLite
//! and on Postgres.

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::Digest as _;
use spark_test_support::postgres as postgres_support;

const SECRET: &str = "the webhook secret of the crash test";
const ADMIN_TOKEN: &str = "spk_the-crash-test-administrator";
/// The most deliveries a run sends; the host is killed well before.
const DELIVERIES: usize = 400;
/// The host is killed once this many deliveries were acknowledged.
const KILL_AFTER: usize = 60;

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `spark-host` on `port` with database `db`, and waits until it answers.
fn start(port: u16, db: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spark-host"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--db", db])
        .args([
            "--github-webhook-secret",
            SECRET,
            "--admin-token",
            ADMIN_TOKEN,
            "--poll-every",
            "3600",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the host starts");
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if agent
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .call()
            .is_ok_and(|response| response.status() == 200)
        {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the host did not answer within a minute");
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Delivery `n`: the recorded push with a first field naming it, so that each is an event of its own.
fn body(n: usize) -> String {
    let push = std::fs::read_to_string(format!(
        "{}/../../fixtures/github-webhooks/push.default.4.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    push.replacen('{', &format!("{{\"crash_test_delivery\":{n},"), 1)
}

/// The `source_id` the host keys delivery `n` by: the SHA-256 of its body.
fn source_id(n: usize) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(body(n).as_bytes())))
}

fn signature(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `GET {url}` as the administrator, read as JSON.
fn get_json(url: &str) -> Value {
    let text = agent()
        .get(url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn run(db: &str) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let mut host = start(port, db);
    let integration: Value = agent()
        .post(format!("{base}/api/integrations/github"))
        .header("authorization", &bearer)
        .send_empty()
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    let id = integration["id"].as_str().unwrap().to_owned();
    let webhook = integration["webhook_url"].as_str().unwrap().to_owned();

    // One sender, deliveries one after another; the host is killed under it.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (acknowledged, count) = (Arc::clone(&acknowledged), Arc::clone(&count));
        std::thread::spawn(move || {
            let agent = agent();
            for n in 0..DELIVERIES {
                let body = body(n);
                let answer = agent
                    .post(&webhook)
                    .header("x-github-event", "push")
                    .header("x-github-delivery", format!("crash-{n}"))
                    .header("x-hub-signature-256", signature(&body))
                    .send(body.as_bytes());
                match answer {
                    Ok(response) if response.status().is_success() => {
                        acknowledged.lock().unwrap().push(n);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(response) => panic!("delivery {n} answered {}", response.status()),
                    // The host is gone: the rest are not acknowledged, and the provider would send them again.
                    Err(_) => break,
                }
            }
        })
    };
    while count.load(Ordering::SeqCst) < KILL_AFTER {
        std::thread::sleep(Duration::from_millis(1));
    }
    host.kill().expect("SIGKILL");
    host.wait().unwrap();
    sender.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= KILL_AFTER && acknowledged.len() < DELIVERIES,
        "killed mid-run"
    );

    // Started again: whatever was kept and not yet processed is processed before the host answers.
    let mut host = start(port, db);
    let events = get_json(&format!("{base}/api/events?integration={id}&limit=500"));
    let stored: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["source_id"].as_str().unwrap().to_owned())
        .collect();
    let distinct: HashSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "no event stored twice");
    for n in &acknowledged {
        assert!(distinct.contains(&source_id(*n)), "acknowledged delivery {n} is stored");
    }
    let pending = get_json(&format!("{base}/api/inbox?status=pending"));
    assert_eq!(pending, serde_json::json!([]), "nothing left pending after the restart");
    host.kill().unwrap();
    host.wait().unwrap();
}

#[test]
fn a_host_killed_mid_run_loses_no_acknowledged_delivery_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("spark-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    run(dir.join("spark.sqlite3").to_str().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_host_killed_mid_run_loses_no_acknowledged_delivery_on_postgres() {
    let Some(url) = postgres_support::fresh_schema_url("a_host_killed_mid_run_loses_no_acknowledged_delivery") else {
        return;
    };
    run(&url);
}
