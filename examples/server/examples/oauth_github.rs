//! Connects a GitHub account with the OAuth flow: ureq sends the requests, a one-shot listener on 127.0.0.1
//! receives the redirect. It uses only the library, not the host; it lives in `spark-host`'s package because that
//! package already depends on an HTTP client (ureq) and an OS random source (getrandom), which the library and its
//! own examples do without.
//!
//! Register an OAuth app (or GitHub App) with the callback URL `http://127.0.0.1:8976/callback`, then:
//!
//! ```sh
//! GITHUB_CLIENT_ID=... GITHUB_CLIENT_SECRET=... cargo run -p spark-host --example oauth_github
//! ```
//!
//! `GITHUB_BASE_URL` points it at a GitHub Enterprise Server (`https://github.example.com`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line example talks to its user"
)]

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use chrono::{DateTime, Utc};
use spark_integrations::oauth::{ClientConfig, ClientSecret, Driver, OAuthClient, StateKey, TokenSet, UsedStates};
use spark_integrations::providers::github;

const LISTEN: &str = "127.0.0.1:8976";

fn main() -> Result<(), Box<dyn Error>> {
    let client_id = std::env::var("GITHUB_CLIENT_ID").map_err(|_| "set GITHUB_CLIENT_ID")?;
    let client_secret = std::env::var("GITHUB_CLIENT_SECRET").map_err(|_| "set GITHUB_CLIENT_SECRET")?;
    let provider = match std::env::var("GITHUB_BASE_URL") {
        Ok(base) => github::oauth::enterprise(&base),
        Err(_) => github::oauth::provider(),
    };
    let config = ClientConfig::new(
        client_id,
        ClientSecret::new(client_secret),
        format!("http://{LISTEN}/callback"),
    )
    .with_scopes(["read:user"]);
    // A real host loads its state key from configuration; this one lives as long as the process.
    let state_key = StateKey::new(hex(&random::<32>()?));
    let client = OAuthClient::new(provider, config, state_key)?;

    // 1. Start: the browser goes to GitHub; `pending` would live in the user's session.
    let listener = TcpListener::bind(LISTEN)?;
    let start = client.start("example-integration", "local-user", now(), &random::<32>()?);
    println!("Open this URL in a browser:\n\n  {}\n", start.url);

    // 2. The redirect comes back to the listener with `code` and `state` in the query.
    let (mut stream, _) = listener.accept()?;
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or_default();
    let query = target
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .to_owned();
    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nDone: you can close this tab.\n")?;
    drop(stream);

    // 3. The driver checks the callback, exchanges the code, persists, and looks up the account.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let http = |request: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, ureq::Error> {
        let (parts, mut body) = agent.run(request)?.into_parts();
        Ok(http::Response::from_parts(parts, body.read_to_vec()?))
    };
    let mut ledger = UsedStates::new();
    let persist = |tokens: &TokenSet| -> Result<(), std::io::Error> {
        // A real host writes `serde_json::to_vec(tokens)` to its database, encrypted.
        eprintln!("(stored a token set with scopes {:?})", tokens.scopes);
        Ok(())
    };
    let connected =
        Driver::new(&client, http).finish(start.pending, &query, "local-user", now(), &mut ledger, persist)?;

    println!("Connected GitHub account {}", connected.account.id);
    match connected.tokens.expires_at {
        Some(at) => println!("The access token expires at {at}; refresh it with Driver::refresh."),
        None => println!("The access token does not expire."),
    }
    Ok(())
}

/// The wall clock (the crate's `clock` feature of chrono is off; `SystemTime` is enough).
fn now() -> DateTime<Utc> {
    std::time::SystemTime::now().into()
}

/// `N` bytes from the operating system's secure random source.
fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
