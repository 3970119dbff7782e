//! An integration host built on the library: webhooks, OAuth, polling and a page, over HTTP with SQLite or
//! PostgreSQL.
//!
//! ```sh
//! cargo run --release -p spark-host -- --github-webhook-secret ... --github-client-id ... \
//!     --github-client-secret ... --slack-signing-secret ...
//! ```
//!
//! Every flag also reads from its `SPARK_*` environment variable; `--help` lists them. The library is sans-IO: this
//! program is where the I/O lives (axum serves, ureq calls out, SQLite or PostgreSQL stores, the clock and the OS random source
//! are read here). `README.md` ("Running the example host") says how to register the GitHub and Slack apps.

use std::error::Error;
use std::io::Write as _;

use spark_integrations::store::IntegrationStore;
use tokio::net::TcpListener;

use spark_host::config::{self, Config};
use spark_host::{app, db};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        std::io::stdout().write_all(config::usage().as_bytes())?;
        return Ok(());
    }
    let config = Config::parse(args, |name| std::env::var(name).ok())?;
    let listen = config.listen;
    // The database is blocking (the Postgres client even panics when used on a runtime thread): open it, and read
    // it, on a blocking thread, as every handler does.
    let state = tokio::task::spawn_blocking(move || -> Result<_, Box<dyn Error + Send + Sync>> {
        let state = app::AppState::new(config)?;
        // Which integrations exist, never their webhook URLs: those hold routing secrets, shown to their owners only.
        let mut stdout = std::io::stdout().lock();
        for integration in state.db.read().list_integrations()? {
            let line =
                serde_json::json!({"id": integration.id, "service": integration.service, "user": integration.user_id});
            writeln!(stdout, "{line}")?;
        }
        Ok(state)
    })
    .await??;

    let listener = TcpListener::bind(listen).await?;
    db::note(&format!("listening on http://{}", listener.local_addr()?));
    app::serve(listener, state, async {
        // Ctrl-C stops accepting, lets requests in flight finish, then exits.
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
