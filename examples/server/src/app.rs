//! The host's shared state and its axum [`Router`]: everything a test needs to run the server in-process.

use std::collections::BTreeMap;
use std::error::Error;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post, put};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use spark_integrations::oauth::{ClientConfig, OAuthClient, StateKey};
use spark_integrations::plugin::Registry;
use spark_integrations::store::PollState;
use spark_integrations::webhook::WebhookSecret;
use spark_integrations::{Integration, RoutingSecret};
use tokio::net::TcpListener;

use crate::auth;
use crate::config::Config;
use crate::db::{Db, note};
use crate::http_client::HttpClient;
use crate::routes;

/// The largest webhook body accepted: 25 MB, the largest any provider here sends.
pub const MAX_WEBHOOK_BODY: usize = spark_integrations::webhook::DEFAULT_MAX_BODY_LEN;

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub registry: Registry,
    pub db: Db,
    pub http: HttpClient,
    /// The OAuth clients of the services whose app credentials are configured, by service.
    pub oauth: BTreeMap<String, OAuthClient>,
    /// The secrets each service's provider signs webhook deliveries with, by service.
    pub signing_secrets: BTreeMap<String, Vec<WebhookSecret>>,
    /// New webhook deliveries, kept and stored in groups that share their commits.
    pub batcher: crate::inbox::Batcher,
    /// The webhook URLs found known lately, so that their deliveries skip a lookup of their own.
    pub known_routes: crate::routing::KnownRoutes,
    pub clock: Clock,
    /// This process's id among the instances sharing the database: it holds poll and refresh leases by it.
    pub instance: String,
}

/// The wall clock, plus an offset that tests move forward instead of sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        let now: DateTime<Utc> = std::time::SystemTime::now().into();
        now + TimeDelta::seconds(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Moves this clock `seconds` ahead of the wall clock.
    pub fn advance(&self, seconds: i64) {
        self.offset_secs.fetch_add(seconds, Ordering::Relaxed);
    }
}

impl AppState {
    /// Opens the database and builds the registry, OAuth clients and signing secrets from `config`'s services.
    pub fn new(config: Config) -> Result<Arc<Self>, Box<dyn Error + Send + Sync>> {
        // Without a configured key, a fresh one per process: flows in progress at a restart fail their state check
        // and start over, and callbacks must reach the instance that started the flow.
        let state_key = match &config.state_key {
            Some(key) => key.clone(),
            None => StateKey::new(hex::encode(random::<32>()?)),
        };
        let mut registry = Registry::new();
        let mut oauth = BTreeMap::new();
        let mut signing_secrets = BTreeMap::new();
        for service in &config.services {
            registry.register_shared(Arc::clone(&service.plugin))?;
            let identifier = service.plugin.identifier().to_owned();
            if let (Some(app), Some(provider)) = (&service.oauth, service.plugin.oauth_provider()) {
                let redirect_uri = config.url(&format!("integrations/{identifier}/callback"));
                let registration = ClientConfig::new(app.client_id.clone(), app.client_secret.clone(), redirect_uri)
                    .with_scopes(app.scopes.iter().cloned())
                    .with_user_scopes(app.user_scopes.iter().cloned());
                let client = OAuthClient::new(provider.clone(), registration, state_key.clone())?;
                oauth.insert(identifier.clone(), client);
            }
            signing_secrets.insert(identifier, service.signing_secrets.clone());
        }
        let db = Db::open(&config.db)?;
        bootstrap_users(&db, &config)?;
        let instance = format!("spark-server-{}", hex::encode(random::<8>()?));
        Ok(Arc::new(Self {
            config,
            registry,
            db,
            http: HttpClient::new(),
            oauth,
            signing_secrets,
            batcher: crate::inbox::Batcher::default(),
            known_routes: crate::routing::KnownRoutes::default(),
            clock: Clock::default(),
            instance,
        }))
    }

    /// The JSON the API and the start-up lines show for an integration: never a token, and no secret other than
    /// the routing secret inside `webhook_url`.
    pub fn integration_json(&self, integration: &Integration, poll: Option<&PollState>) -> Value {
        let webhook_url = integration.webhook_url(&self.config.base_url).ok().map(String::from);
        let mut value = json!({
            "id": integration.id,
            "service": integration.service,
            "name": integration.display_name,
            "account_id": integration.account_id,
            // The workspace of the account, where the service has one (Slack's team).
            "team_id": integration.tokens.as_ref().and_then(|tokens| tokens.ids.get("team_id")),
            "webhook_url": webhook_url,
            "configuration": integration.configuration,
            "connected": integration.tokens.is_some(),
        });
        if let (Some(poll), Some(object)) = (poll, value.as_object_mut()) {
            object.insert("last_polled_at".into(), json!(poll.last_polled_at));
            object.insert("next_poll_at".into(), json!(poll.next_poll_at));
            object.insert("last_poll_error".into(), json!(poll.last_error));
        }
        value
    }

    /// A new integration of `service` for the user `user_id`, with a fresh routing secret. Its id is
    /// `{service}-{user}`: one integration per service and user, which the store's unique id enforces even when two
    /// instances create it at the same moment.
    pub fn new_integration(&self, service: &str, user_id: &str) -> Result<Option<Integration>, getrandom::Error> {
        let Some(plugin) = self.registry.get(service) else {
            return Ok(None);
        };
        Ok(Some(Integration::initialize(
            plugin.as_ref(),
            integration_id(service, user_id),
            user_id,
            &random::<32>()?,
        )))
    }
}

/// The id of `user_id`'s integration of `service`: derived from both, so that there is one per service and user.
pub fn integration_id(service: &str, user_id: &str) -> String {
    format!("{service}-{user_id}")
}

/// Creates the host's tables and the `admin` user: with `--admin-token` when given (replacing a stored one), else,
/// on a database without an administrator, with a generated token printed once to standard error.
fn bootstrap_users(db: &Db, config: &Config) -> Result<(), Box<dyn Error + Send + Sync>> {
    let store = db.write();
    auth::migrate(&store)?;
    let now: DateTime<Utc> = std::time::SystemTime::now().into();
    match &config.admin_token {
        Some(token) => auth::set_admin_token(&store, token.expose_secret(), now)?,
        None => {
            let token = auth::new_token()?;
            if auth::create_admin_if_missing(&store, &token, now)? {
                note(&format!(
                    "created the `admin` user; its API token, shown this once: {token} \
                     (sign in at /login with it, or send `Authorization: Bearer <token>`)"
                ));
            }
        }
    }
    Ok(())
}

/// Every route of the host. All but the webhooks, the OAuth callback (bound to its user by the signed state), the
/// sign-in form and the health check need a signed-in user.
pub fn router(state: Arc<AppState>) -> Router {
    let signed_in = Router::new()
        .route("/", get(crate::page::index))
        .route("/logout", post(routes::account::logout))
        .route(
            "/api/users",
            get(routes::account::list_users).post(routes::account::create_user),
        )
        .route("/api/plugins", get(routes::api::plugins))
        .route("/api/integrations", get(routes::api::integrations))
        .route("/api/integrations/{service}", post(routes::api::create_integration))
        .route("/api/integrations/{id}/configuration", put(routes::api::configure))
        .route("/api/integrations/{id}/fetch", post(routes::api::fetch))
        .route("/api/events", get(routes::api::events))
        .route("/api/inbox", get(routes::inbox::list))
        .route("/api/inbox/replay", post(routes::inbox::replay))
        .route("/api/inbox/{id}/retry", post(routes::inbox::retry))
        .route("/integrations/{service}/oauth", get(routes::oauth::start))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            routes::guard::require_user,
        ));
    Router::new()
        .merge(signed_in)
        .route("/healthz", get(routes::account::healthz))
        .route("/login", get(routes::account::login_form).post(routes::account::login))
        .route("/integrations/{service}/callback", get(routes::oauth::callback))
        .route(
            "/webhook/{service}/{routing_secret}",
            // The handler checks the routing secret, then `Content-Length`, then reads with this same limit.
            post(routes::webhook::deliver).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)),
        )
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            routes::guard::harden,
        ))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes, with the background poller and naming task
/// running.
///
/// At most `--max-connections` connections are served at once (the rest wait in the kernel's backlog), and a
/// client gets `--read-timeout` to send each request's headers (an idle keep-alive connection is closed after that
/// too); handlers bound the body reads by the same timeout. On `shutdown`, no connection is accepted any more and
/// those open finish their requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    // Deliveries kept but not processed before a stop (a crash, a kill) go first, before anything new is accepted.
    let first = Arc::clone(&state);
    if let Err(error) = tokio::task::spawn_blocking(move || crate::inbox::process_due(&first, usize::MAX)).await {
        note(&format!("processing the inbox at start: {error}"));
    }
    let poller = tokio::spawn(crate::poller::run(Arc::clone(&state)));
    let inbox = tokio::spawn(crate::inbox::run(Arc::clone(&state)));
    let names = tokio::spawn(crate::enrich::run(Arc::clone(&state)));
    let checkpoints = state
        .db
        .is_sqlite()
        .then(|| tokio::spawn(checkpoint(Arc::clone(&state))));
    // The group writer: a thread of its own, since the database is blocking.
    state.batcher.open();
    // One, on either database: SQLite has one writer, and on PostgreSQL a group costs a handful of statements
    // whatever its size, so writers side by side only made smaller groups that each paid them (three writers a host
    // did about two thirds of one's throughput, for more CPU; see BENCHMARKS.md).
    let writer = {
        let state = Arc::clone(&state);
        std::thread::spawn(move || state.batcher.run(&state))
    };
    let stop_writer = Arc::clone(&state);
    let limit = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
    let read_timeout = state.config.read_timeout;
    let service = TowerToHyperService::new(router(state));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    note(&format!("accepting a connection: {error}"));
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(read_timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is no error of the host's.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    poller.abort();
    inbox.abort();
    names.abort();
    if let Some(checkpoints) = checkpoints {
        checkpoints.abort();
    }
    graceful.shutdown().await;
    // The requests have finished, their deliveries written: the writer can go.
    stop_writer.batcher.stop();
    let joined = tokio::task::spawn_blocking(move || writer.join().is_ok());
    if !matches!(joined.await, Ok(true)) {
        note("the group writer failed");
    }
    Ok(())
}

/// Copies the SQLite write-ahead log into the database ten times a second, beside the writer (see
/// [`Db::checkpoint`]). Runs until aborted.
async fn checkpoint(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let state = Arc::clone(&state);
        match tokio::task::spawn_blocking(move || state.db.checkpoint()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => note(&format!("checkpointing the database: {error}")),
            Err(error) => note(&format!("the checkpoint task failed: {error}")),
        }
    }
}

/// `N` bytes from the operating system's secure random source.
pub fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// The routing secret of a webhook URL path segment.
pub fn routing_secret(segment: &str) -> RoutingSecret {
    RoutingSecret::new(segment)
}
