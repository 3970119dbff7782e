//! The host's settings: command-line flags, each with a `SPARK_*` environment variable as fallback.
//!
//! A flag wins over its variable; a variable wins over the default. Secrets are kept in the library's redacted
//! types from the moment they are read, so printing a [`Config`] (or an error about one) never shows them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use spark_integrations::Secret;
use spark_integrations::oauth::StateKey;
use spark_integrations::webhook::WebhookSecret;
use url::Url;

use crate::services::{COMPILED_IN, Service};

/// Everything the host is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// The database: a SQLite file, or a PostgreSQL server.
    pub db: Database,
    /// The public URL of this host: OAuth callback and webhook URLs are built from it.
    pub base_url: Url,
    /// The services offered, with their plugins, OAuth apps and webhook signing secrets: the compiled-in ones
    /// ([`COMPILED_IN`]) as the flags configure them. A program embedding the host may add its own before building
    /// the state.
    pub services: Vec<Service>,
    /// The key OAuth `state`s are signed with. Instances behind one load balancer share it, so that any of them
    /// can finish a flow another started; `None` draws a fresh one at each start.
    pub state_key: Option<StateKey>,
    /// How often the background task looks for integrations due for a poll.
    pub poll_every: Duration,
    /// The token of the built-in `admin` user; without it, a fresh database gets a generated one, printed once.
    pub admin_token: Option<Secret>,
    /// The most connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and then its body: a stalled request is closed
    /// after this.
    pub read_timeout: Duration,
    /// How many days processed deliveries stay in the inbox (failed and pending ones stay until handled).
    pub inbox_keep_days: u32,
}

/// Where the host stores integrations and activity: `--db` is a SQLite file path, or a `postgres://` (or
/// `postgresql://`) URL for several instances on one shared database. `Debug` hides the password (see
/// [`PostgresUrl`]).
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

impl Database {
    fn parse(text: &str) -> Result<Self, ConfigError> {
        if !text.starts_with("postgres://") && !text.starts_with("postgresql://") {
            return Ok(Self::Sqlite(PathBuf::from(text)));
        }
        // Checked here, so that a typo is a flag error at start-up and not a connection error later.
        let url = Url::parse(text).map_err(|error| invalid("--db", error))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("--db", "a postgres:// URL names a host"));
        }
        Ok(Self::Postgres(PostgresUrl(text.to_owned())))
    }
}

/// A PostgreSQL connection URL. It may hold a password: `Debug` shows the URL with the password replaced.
#[derive(Clone)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL, password included, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Database::parse` checked that it parses and has a host, so the password can be replaced.
        let Ok(mut url) = Url::parse(&self.0) else {
            return f.write_str("\"postgres://(unreadable)\"");
        };
        if url.password().is_some() && url.set_password(Some("redacted")).is_err() {
            return f.write_str("\"postgres://(unreadable)\"");
        }
        // Passwords can also come as a `password=` query parameter.
        if url.query_pairs().any(|(key, _)| key == "password") {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| {
                    let value = if key == "password" {
                        "redacted".into()
                    } else {
                        value.into_owned()
                    };
                    (key.into_owned(), value)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        write!(f, "{:?}", url.as_str())
    }
}

/// Why the settings could not be read. Never holds a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown flag `{0}` (see --help)")]
    UnknownFlag(String),
    #[error("flag `{0}` needs a value")]
    MissingValue(String),
    #[error("invalid value for `{name}`: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("`{given}` is given but `{missing}` is not: set both or neither")]
    Incomplete { given: &'static str, missing: &'static str },
}

/// One setting: its flag, its environment variable, whether it is a secret (never echoed), and what it is for.
#[derive(Debug)]
pub struct Setting {
    flag: &'static str,
    env: &'static str,
    secret: bool,
    help: &'static str,
}

/// The host's own settings; each service adds its own ([`crate::services::Entry::settings`]).
const HOST_SETTINGS: &[Setting] = &[
    setting(
        "--listen",
        "SPARK_LISTEN",
        false,
        "address to listen on [127.0.0.1:8080]",
    ),
    setting(
        "--db",
        "SPARK_DB",
        false,
        "SQLite database file, or a postgres:// URL [./spark.sqlite3]",
    ),
    setting(
        "--base-url",
        "SPARK_BASE_URL",
        false,
        "public URL of this host [http://{listen}]",
    ),
    setting(
        "--state-key",
        "SPARK_STATE_KEY",
        true,
        "key that signs OAuth states, 32+ bytes; the same on every instance [random at each start]",
    ),
    setting(
        "--poll-every",
        "SPARK_POLL_EVERY",
        false,
        "seconds between scheduler runs [60]",
    ),
    setting(
        "--admin-token",
        "SPARK_ADMIN_TOKEN",
        true,
        "API token of the built-in `admin` user [generated once, printed to stderr]",
    ),
    setting(
        "--max-connections",
        "SPARK_MAX_CONNECTIONS",
        false,
        "connections served at once [128]",
    ),
    setting(
        "--inbox-keep-days",
        "SPARK_INBOX_KEEP_DAYS",
        false,
        "days processed webhook deliveries are kept for replay [30]",
    ),
    setting(
        "--read-timeout",
        "SPARK_READ_TIMEOUT",
        false,
        "seconds a client may take to send a request's headers, then its body [30]",
    ),
];

/// A setting: `flag`, read from the variable `env` when the flag is not given; `secret` ones are never echoed.
pub const fn setting(flag: &'static str, env: &'static str, secret: bool, help: &'static str) -> Setting {
    Setting {
        flag,
        env,
        secret,
        help,
    }
}

/// Every setting: the host's, then each compiled-in service's.
fn all_settings() -> impl Iterator<Item = &'static Setting> {
    HOST_SETTINGS
        .iter()
        .chain(COMPILED_IN.iter().flat_map(|entry| entry.settings.iter()))
}

/// The usage text for `--help`.
pub fn usage() -> String {
    let mut text =
        String::from("usage: spark-host [FLAG VALUE]...\n\nEach flag may also come from its environment variable.\n\n");
    for setting in all_settings() {
        let note = if setting.secret {
            " (a secret: never printed)"
        } else {
            ""
        };
        let _ = writeln!(
            text,
            "  {:<24} {:<29} {}{note}",
            setting.flag, setting.env, setting.help
        );
    }
    text
}

/// The values of the settings: the flag's, else the environment variable's; an empty value counts as unset.
pub struct Values<'a> {
    given: HashMap<&'static str, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: only which flags were given.
        f.debug_set().entries(self.given.keys()).finish()
    }
}

impl Values<'_> {
    /// The value of `flag`, if set.
    pub fn get(&self, flag: &str) -> Option<String> {
        let setting = all_settings().find(|setting| setting.flag == flag)?;
        self.given
            .get(setting.flag)
            .cloned()
            .or_else(|| (self.env)(setting.env))
            .filter(|value| !value.is_empty())
    }

    /// A secret setting, kept in the library's redacted type from the moment it is read.
    pub fn secret(&self, flag: &str) -> Option<WebhookSecret> {
        self.get(flag).map(WebhookSecret::new)
    }

    /// Two settings that go together (a client id and its secret): both, or neither.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Incomplete`] when only one is set.
    pub fn pair(&self, first: &'static str, second: &'static str) -> Result<Option<(String, String)>, ConfigError> {
        match (self.get(first), self.get(second)) {
            (Some(a), Some(b)) => Ok(Some((a, b))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::Incomplete {
                given: first,
                missing: second,
            }),
            (None, Some(_)) => Err(ConfigError::Incomplete {
                given: second,
                missing: first,
            }),
        }
    }

    /// An `http` or `https` URL setting without its trailing `/`, or `default`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for a value that is not such a URL.
    pub fn url(&self, flag: &'static str, default: &str) -> Result<String, ConfigError> {
        let url = self.get(flag).unwrap_or_else(|| default.to_owned());
        let parsed = Url::parse(&url).map_err(|error| invalid(flag, error))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(flag, "the scheme must be http or https"));
        }
        Ok(url.trim_end_matches('/').to_owned())
    }
}

impl Config {
    /// Reads the settings from `args` (without the program name) and then `env` for what the flags leave out.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut given = HashMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let setting = all_settings()
                .find(|setting| setting.flag == flag)
                .ok_or_else(|| ConfigError::UnknownFlag(flag.clone()))?;
            let value = match inline {
                Some(value) => value,
                None => args.next().ok_or_else(|| ConfigError::MissingValue(flag.clone()))?,
            };
            given.insert(setting.flag, value);
        }
        let values = Values { given, env: &env };
        let value = |flag: &str| values.get(flag);
        let listen: SocketAddr = parse("--listen", value("--listen").as_deref().unwrap_or("127.0.0.1:8080"))?;
        let base_url = value("--base-url").unwrap_or_else(|| format!("http://{listen}"));
        let base_url = Url::parse(&base_url).map_err(|error| invalid("--base-url", error))?;
        if base_url.query().is_some() || base_url.fragment().is_some() || base_url.cannot_be_a_base() {
            return Err(invalid("--base-url", "a base URL has no query or fragment"));
        }
        let poll_every: u64 = parse("--poll-every", value("--poll-every").as_deref().unwrap_or("60"))?;
        if poll_every == 0 {
            return Err(invalid("--poll-every", "must be at least 1 second"));
        }
        let max_connections: usize = parse(
            "--max-connections",
            value("--max-connections").as_deref().unwrap_or("128"),
        )?;
        if max_connections == 0 {
            return Err(invalid("--max-connections", "must be at least 1"));
        }
        let read_timeout: u64 = parse("--read-timeout", value("--read-timeout").as_deref().unwrap_or("30"))?;
        if read_timeout == 0 {
            return Err(invalid("--read-timeout", "must be at least 1 second"));
        }
        if let Some(token) = value("--admin-token")
            && token.len() < 16
        {
            return Err(invalid("--admin-token", "use at least 16 characters"));
        }
        let inbox_keep_days: u32 = parse(
            "--inbox-keep-days",
            value("--inbox-keep-days").as_deref().unwrap_or("30"),
        )?;
        Ok(Self {
            inbox_keep_days,
            listen,
            admin_token: value("--admin-token").map(Secret::new),
            max_connections,
            read_timeout: Duration::from_secs(read_timeout),
            db: Database::parse(value("--db").as_deref().unwrap_or("./spark.sqlite3"))?,
            base_url,
            services: COMPILED_IN
                .iter()
                .map(|entry| (entry.build)(&values))
                .collect::<Result<_, _>>()?,
            state_key: value("--state-key").map(StateKey::new),
            poll_every: Duration::from_secs(poll_every),
        })
    }

    /// `{base_url}/{path}`, with exactly one `/` between them.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

fn parse<T: std::str::FromStr<Err: std::fmt::Display>>(name: &'static str, text: &str) -> Result<T, ConfigError> {
    text.parse().map_err(|error| invalid(name, error))
}

fn invalid(name: &'static str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn defaults_flags_and_environment() {
        let config = Config::parse([], env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.poll_every, Duration::from_secs(60));
        let identifiers: Vec<_> = config
            .services
            .iter()
            .map(|service| service.plugin.identifier())
            .collect();
        assert_eq!(identifiers.len(), COMPILED_IN.len(), "every compiled-in service, once");
        assert_eq!(identifiers[..2], ["github", "slack"]);
        let slack = config.services[1].plugin.oauth_provider().unwrap();
        assert_eq!(slack.token_url(), "https://slack.com/api/oauth.v2.access");
        assert!(config.services.iter().all(|service| service.oauth.is_none()));

        let args = [
            "--listen",
            "127.0.0.1:9000",
            "--poll-every=5",
            "--github-client-id",
            "cli",
        ]
        .map(String::from);
        let config = Config::parse(
            args,
            env(&[
                ("SPARK_GITHUB_CLIENT_SECRET", "shh"),
                ("SPARK_LISTEN", "127.0.0.1:1"),
                ("SPARK_STATE_KEY", "a state key shared by the instances"),
            ]),
        )
        .unwrap();
        assert!(config.state_key.is_some());
        assert!(
            !format!("{config:?}").contains("shared by"),
            "the state key is redacted"
        );
        assert_eq!(
            config.listen.to_string(),
            "127.0.0.1:9000",
            "the flag wins over the variable"
        );
        assert_eq!(config.url("/webhook"), "http://127.0.0.1:9000/webhook");
        assert_eq!(config.poll_every, Duration::from_secs(5));
        let client = config.services[0].oauth.as_ref().unwrap();
        assert_eq!(client.client_id, "cli");
        assert!(!format!("{config:?}").contains("shh"), "secrets are redacted");
    }

    #[test]
    fn errors_name_the_flag_never_the_secret() {
        let error = Config::parse(["--github-client-secret=hunter2"].map(String::from), env(&[])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--github-client-secret` is given but `--github-client-id` is not: set both or neither"
        );
        let error = Config::parse(["--bogus"].map(String::from), env(&[])).unwrap_err();
        assert_eq!(error.to_string(), "unknown flag `--bogus` (see --help)");
        let error = Config::parse(["--poll-every", "0"].map(String::from), env(&[])).unwrap_err();
        assert!(error.to_string().starts_with("invalid value for `--poll-every`"));
        let error = Config::parse(["--db", "postgres://"].map(String::from), env(&[])).unwrap_err();
        assert!(error.to_string().starts_with("invalid value for `--db`"), "{error}");
    }

    #[test]
    fn the_database_is_a_file_or_a_postgres_url_whose_password_is_never_shown() {
        let config = Config::parse([], env(&[])).unwrap();
        assert!(matches!(&config.db, Database::Sqlite(path) if path.to_str() == Some("./spark.sqlite3")));

        const URL: &str = "postgres://spark:hunter2@db.internal:5432/spark?sslmode=disable&password=hunter3";
        let config = Config::parse([], env(&[("SPARK_DB", URL)])).unwrap();
        let Database::Postgres(postgres) = &config.db else {
            panic!("a postgres URL selects Postgres: {:?}", config.db);
        };
        assert_eq!(postgres.expose(), URL, "connected to as given");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(
            shown.contains(
                r#"Postgres("postgres://spark:redacted@db.internal:5432/spark?sslmode=disable&password=redacted")"#
            ),
            "{shown}"
        );
    }
}
