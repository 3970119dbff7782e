//! The services this host offers: the one place in the host that names one.
//!
//! Each entry of [`COMPILED_IN`] declares the command-line settings its service reads and builds, from their values,
//! a [`Service`]: the plugin (pointed at the URLs given), its OAuth app, and the secrets its webhooks are signed
//! with. Everything else in the host (routes, poller, page, API) works through the [`Registry`] of these plugins
//! and never branches on a service's name, so adding a service is one entry here.
//!
//! [`Registry`]: spark_integrations::plugin::Registry

use std::fmt;
use std::sync::Arc;

use spark_integrations::oauth::ClientSecret;
use spark_integrations::plugin::Plugin;
use spark_integrations::providers::github::{self, GithubPlugin};
use spark_integrations::providers::gitlab::{self, GitlabPlugin};
use spark_integrations::providers::slack::{self, SlackPlugin};
use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookSecret};

use crate::config::{ConfigError, Setting, Values, setting};

/// The `User-Agent` of the host's API requests (GitHub asks for the application's name).
pub const USER_AGENT: &str = "spark-integrations-example-server";

/// A service the host offers, built from the command line.
#[derive(Clone)]
pub struct Service {
    /// The plugin, pointed at the endpoints configured.
    pub plugin: Arc<dyn Plugin>,
    /// The OAuth app registered with the provider, when its credentials are configured.
    pub oauth: Option<OAuthApp>,
    /// The secrets the provider signs this host's webhook deliveries with (empty: deliveries are refused).
    pub signing_secrets: Vec<WebhookSecret>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("plugin", &self.plugin.identifier())
            .field("oauth", &self.oauth)
            .field("signing_secrets", &self.signing_secrets)
            .finish()
    }
}

/// An OAuth app: the client credentials and the scopes the host asks for.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// The client id issued by the provider.
    pub client_id: String,
    /// The client secret issued with it.
    pub client_secret: ClientSecret,
    /// The scopes to request.
    pub scopes: Vec<String>,
    /// The scopes to request for the authorizing user, on providers that separate them.
    pub user_scopes: Vec<String>,
}

impl OAuthApp {
    /// The app from the values of `id_flag` and `secret_flag`, requesting `scopes`; `None` when neither is set.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Incomplete`] when only one of the two is set.
    fn from_flags(
        values: &Values<'_>,
        id_flag: &'static str,
        secret_flag: &'static str,
        scopes: &[&str],
    ) -> Result<Option<Self>, ConfigError> {
        Ok(values.pair(id_flag, secret_flag)?.map(|(client_id, secret)| Self {
            client_id,
            client_secret: ClientSecret::new(secret),
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            user_scopes: Vec::new(),
        }))
    }
}

/// One compiled-in service: the settings it reads, and how to build it from their values.
#[derive(Debug)]
pub struct Entry {
    /// Its flags, shown by `--help` after the host's own.
    pub settings: &'static [Setting],
    /// Builds the service from the values of its settings.
    pub build: fn(&Values<'_>) -> Result<Service, ConfigError>,
}

/// The services compiled into this host, in the order they are offered.
pub const COMPILED_IN: &[Entry] = &[
    Entry {
        settings: &[
            setting(
                "--github-client-id",
                "SPARK_GITHUB_CLIENT_ID",
                false,
                "GitHub OAuth app client id",
            ),
            setting(
                "--github-client-secret",
                "SPARK_GITHUB_CLIENT_SECRET",
                true,
                "GitHub OAuth app client secret",
            ),
            setting(
                "--github-webhook-secret",
                "SPARK_GITHUB_WEBHOOK_SECRET",
                true,
                "GitHub webhook secret",
            ),
            setting(
                "--github-web-url",
                "SPARK_GITHUB_WEB_URL",
                false,
                "GitHub web [https://github.com]",
            ),
            setting(
                "--github-api-url",
                "SPARK_GITHUB_API_URL",
                false,
                "GitHub API [https://api.github.com]",
            ),
        ],
        build: build_github,
    },
    Entry {
        settings: &[
            setting(
                "--slack-client-id",
                "SPARK_SLACK_CLIENT_ID",
                false,
                "Slack app client id",
            ),
            setting(
                "--slack-client-secret",
                "SPARK_SLACK_CLIENT_SECRET",
                true,
                "Slack app client secret",
            ),
            setting(
                "--slack-signing-secret",
                "SPARK_SLACK_SIGNING_SECRET",
                true,
                "Slack app signing secret",
            ),
            setting(
                "--slack-web-url",
                "SPARK_SLACK_WEB_URL",
                false,
                "Slack web [https://slack.com]",
            ),
            setting(
                "--slack-api-url",
                "SPARK_SLACK_API_URL",
                false,
                "Slack Web API [https://slack.com/api]",
            ),
        ],
        build: build_slack,
    },
    Entry {
        settings: &[
            setting(
                "--gitlab-url",
                "SPARK_GITLAB_URL",
                false,
                "GitLab instance, web and API ({url}/api/v4) [https://gitlab.com]",
            ),
            setting(
                "--gitlab-client-id",
                "SPARK_GITLAB_CLIENT_ID",
                false,
                "GitLab OAuth application id",
            ),
            setting(
                "--gitlab-client-secret",
                "SPARK_GITLAB_CLIENT_SECRET",
                true,
                "GitLab OAuth application secret",
            ),
            setting(
                "--gitlab-webhook-token",
                "SPARK_GITLAB_WEBHOOK_TOKEN",
                true,
                "GitLab webhook secret token (X-Gitlab-Token)",
            ),
            setting(
                "--gitlab-signing-token",
                "SPARK_GITLAB_SIGNING_TOKEN",
                true,
                "GitLab webhook signing token (whsec_...)",
            ),
        ],
        build: build_gitlab,
    },
];

/// GitHub: OAuth pages on the web URL, the REST API (events, `/user`) on the API URL.
fn build_github(values: &Values<'_>) -> Result<Service, ConfigError> {
    let web = values.url("--github-web-url", "https://github.com")?;
    let api = values.url("--github-api-url", "https://api.github.com")?;
    let provider = github::oauth::provider()
        .with_authorize_url(format!("{web}/login/oauth/authorize"))
        .with_token_url(format!("{web}/login/oauth/access_token"))
        .with_api_base(api);
    let plugin = GithubPlugin::new()
        .with_oauth_provider(provider)
        .with_poll_user_agent(USER_AGENT);
    Ok(Service {
        plugin: Arc::new(plugin),
        oauth: OAuthApp::from_flags(
            values,
            "--github-client-id",
            "--github-client-secret",
            &["read:user", "repo"],
        )?,
        signing_secrets: values.secret("--github-webhook-secret").into_iter().collect(),
    })
}

/// Slack: the authorize page on the web URL, the Web API (`oauth.v2.access`, `auth.test`) on the API URL.
fn build_slack(values: &Values<'_>) -> Result<Service, ConfigError> {
    let web = values.url("--slack-web-url", "https://slack.com")?;
    let api = values.url("--slack-api-url", "https://slack.com/api")?;
    let provider = slack::oauth::with_host(&web)
        .with_token_url(format!("{api}/oauth.v2.access"))
        .with_api_base(api);
    Ok(Service {
        plugin: Arc::new(SlackPlugin::new().with_oauth_provider(provider)),
        oauth: OAuthApp::from_flags(
            values,
            "--slack-client-id",
            "--slack-client-secret",
            &[
                "channels:history",
                "groups:history",
                "reactions:read",
                "files:read",
                "app_mentions:read",
                // Names for the ids events carry: `users.info`, `conversations.info`.
                "users:read",
                "channels:read",
            ],
        )?,
        signing_secrets: values.secret("--slack-signing-secret").into_iter().collect(),
    })
}

/// GitLab (gitlab.com or a self-managed instance): OAuth at `{url}/oauth/...`, the API at `{url}/api/v4`; webhooks
/// verified by the secret token, the signing token, or both (the plugin tells them apart by the `whsec_` prefix).
fn build_gitlab(values: &Values<'_>) -> Result<Service, ConfigError> {
    let url = values.url("--gitlab-url", gitlab::GITLAB_COM)?;
    let plugin = GitlabPlugin::with_base_url(&url)
        .map_err(|error| ConfigError::Invalid {
            name: "--gitlab-url",
            reason: error.to_string(),
        })?
        .with_poll_user_agent(USER_AGENT);
    let token = values.secret("--gitlab-webhook-token");
    let signing = values.secret("--gitlab-signing-token");
    // Each secret must be read as the kind its flag says: the plugin's verifier goes by the prefix alone.
    if token
        .as_ref()
        .is_some_and(|token| token.expose_secret().starts_with(gitlab::SIGNING_TOKEN_PREFIX))
    {
        return Err(ConfigError::Invalid {
            name: "--gitlab-webhook-token",
            reason: format!(
                "a secret token must not start with `{}` (that marks a signing token: use --gitlab-signing-token)",
                gitlab::SIGNING_TOKEN_PREFIX
            ),
        });
    }
    if let Some(signing) = &signing {
        let prefixed = signing.expose_secret().starts_with(gitlab::SIGNING_TOKEN_PREFIX);
        if !prefixed || StandardWebhooksVerifier::check_secret(signing).is_err() {
            return Err(ConfigError::Invalid {
                name: "--gitlab-signing-token",
                reason: format!(
                    "a signing token is `{}` and base64, as GitLab shows it",
                    gitlab::SIGNING_TOKEN_PREFIX
                ),
            });
        }
    }
    Ok(Service {
        plugin: Arc::new(plugin),
        oauth: OAuthApp::from_flags(
            values,
            "--gitlab-client-id",
            "--gitlab-client-secret",
            gitlab::oauth::SCOPES,
        )?,
        signing_secrets: token.into_iter().chain(signing).collect(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(args: &[&str], env: &'static [(&'static str, &'static str)]) -> Result<Config, super::ConfigError> {
        Config::parse(args.iter().map(|arg| (*arg).to_owned()), move |name| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn gitlab(config: &Config) -> &super::Service {
        config
            .services
            .iter()
            .find(|service| service.plugin.identifier() == "gitlab")
            .expect("GitLab is compiled in")
    }

    const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn gitlab_defaults_to_gitlab_com_and_reads_its_flags_and_variables() {
        let config = parse(&[], &[]).unwrap();
        let service = gitlab(&config);
        let provider = service.plugin.oauth_provider().unwrap();
        assert_eq!(provider.authorize_url(), "https://gitlab.com/oauth/authorize");
        assert_eq!(provider.token_url(), "https://gitlab.com/oauth/token");
        assert_eq!(provider.api_base(), "https://gitlab.com/api/v4");
        assert!(service.oauth.is_none() && service.signing_secrets.is_empty());

        let config = parse(
            &[
                "--gitlab-url",
                "https://gitlab.example.com/",
                "--gitlab-client-id",
                "app",
            ],
            &[
                ("SPARK_GITLAB_URL", "https://ignored.example.com"),
                ("SPARK_GITLAB_CLIENT_SECRET", "gloas-secret"),
                ("SPARK_GITLAB_WEBHOOK_TOKEN", "plain-token"),
                ("SPARK_GITLAB_SIGNING_TOKEN", SIGNING),
            ],
        )
        .unwrap();
        let service = gitlab(&config);
        let provider = service.plugin.oauth_provider().unwrap();
        assert_eq!(provider.token_url(), "https://gitlab.example.com/oauth/token");
        assert_eq!(provider.api_base(), "https://gitlab.example.com/api/v4");
        let app = service.oauth.as_ref().unwrap();
        assert_eq!(
            (app.client_id.as_str(), app.scopes.join(" ")),
            ("app", "read_api read_user".to_owned())
        );
        let secrets: Vec<&str> = service
            .signing_secrets
            .iter()
            .map(|secret| secret.expose_secret())
            .collect();
        assert_eq!(secrets, ["plain-token", SIGNING]);
        let shown = format!("{config:?}");
        for secret in ["gloas-secret", "plain-token", SIGNING] {
            assert!(!shown.contains(secret), "{secret} is redacted: {shown}");
        }
    }

    #[test]
    fn gitlab_settings_are_checked_without_echoing_secrets() {
        let error = parse(&["--gitlab-url", "gitlab.example.com"], &[]).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid value for `--gitlab-url`"),
            "{error}"
        );
        let error = parse(&["--gitlab-url", "https://user:pw@gitlab.example.com"], &[]).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid value for `--gitlab-url`"),
            "{error}"
        );
        let error = parse(&["--gitlab-client-secret", "gloas-secret"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--gitlab-client-secret` is given but `--gitlab-client-id` is not: set both or neither"
        );
        for (flag, value) in [
            ("--gitlab-webhook-token", "whsec_looks-like-a-signing-token"),
            ("--gitlab-signing-token", "no-prefix-at-all"),
            ("--gitlab-signing-token", "whsec_not*base64"),
            ("--gitlab-signing-token", "whsec_"),
        ] {
            let error = parse(&[flag, value], &[]).unwrap_err().to_string();
            assert!(error.starts_with(&format!("invalid value for `{flag}`")), "{error}");
            assert!(
                value == "whsec_" || !error.contains(value),
                "the secret is not echoed: {error}"
            );
        }
    }
}
