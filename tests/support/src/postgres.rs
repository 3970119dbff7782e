//! Postgres test databases: each test gets a schema of its own on the server named by `SPARK_TEST_POSTGRES_URL`,
//! so tests run in parallel. Without that variable, or without a reachable server, a test prints that it was
//! skipped and why and passes; under `CI=true` it fails instead (`.ci/run` starts a server).

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spark_integrations::store::PostgresStore;
use spark_integrations::store::postgres::{self, Config, NoTls};

/// The variable holding the connection URL of a server the tests may create schemas on.
pub const URL_VARIABLE: &str = "SPARK_TEST_POSTGRES_URL";

/// The connection settings of a fresh, empty schema (set as the `search_path`), or `None` after printing why
/// Postgres tests are skipped.
pub fn fresh_schema(test: &str) -> Option<Config> {
    let (_, mut config, schema) = create_schema(test)?;
    config.options(&format!("-c search_path={schema}"));
    Some(config)
}

/// Like [`fresh_schema`], as a connection URL (the `search_path` set through its `options` parameter), for
/// programs configured with a URL.
pub fn fresh_schema_url(test: &str) -> Option<String> {
    let (url, _, schema) = create_schema(test)?;
    if url::Url::parse(&url).is_err() {
        return skip(
            test,
            &format!("{URL_VARIABLE} is in keyword form; the host needs a postgres:// URL"),
        );
    }
    // Percent-encoded by hand: the client decodes `%20`, not the `+` of form encoding.
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}options=-c%20search_path%3D{schema}"))
}

/// Creates a fresh, empty schema on the server of [`URL_VARIABLE`]: its URL, settings and the schema's name.
fn create_schema(test: &str) -> Option<(String, Config, String)> {
    let url = match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => url,
        _ => return skip(test, &format!("{URL_VARIABLE} is not set")),
    };
    let mut config: Config = match url.parse() {
        Ok(config) => config,
        Err(error) => return skip(test, &format!("{URL_VARIABLE} is not a connection URL: {error}")),
    };
    config.connect_timeout(Duration::from_secs(5));
    let mut client = match config.connect(NoTls) {
        Ok(client) => client,
        Err(error) => return skip(test, &format!("no server reachable at {URL_VARIABLE}: {error}")),
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "spark_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .expect("the test user may create schemas");
    Some((url, config, schema))
}

/// A store on a fresh schema, or `None` when Postgres tests are skipped.
pub fn store(test: &str) -> Option<PostgresStore> {
    fresh_schema(test).map(|config| connect(&config))
}

/// Another connection (another instance) to the schema of `config`.
pub fn connect(config: &Config) -> PostgresStore {
    PostgresStore::from_client(config.connect(NoTls).expect("connect")).expect("open and migrate")
}

fn skip<T>(test: &str, why: &str) -> Option<T> {
    // The harness names each test's thread after the test.
    let current = std::thread::current();
    let test = current.name().unwrap_or(test);
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: Postgres tests must run under CI=true, but {why}"
    );
    // Straight to the stream, past the test harness's capture of `eprintln!`, so that the skip shows.
    let line = format!("skipped {test}: {why} (see README, \"Running on Postgres\")\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    None
}

/// Closes, from the server's side, every connection whose `application_name` is `name`, as a restart or a failover
/// does, and waits until they are gone. Answers how many there were.
pub fn terminate_connections(name: &str) -> usize {
    let url = std::env::var(URL_VARIABLE).expect("only called when Postgres tests run");
    let mut admin = postgres::Client::connect(&url, NoTls).expect("connect");
    let closed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .expect("terminate")
        .len();
    // Terminating is asynchronous: wait until the backends are gone.
    for _ in 0..500 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .expect("count")
            .get(0);
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    closed
}
