//! GitHub's OAuth rules as data: endpoints on github.com (or a GitHub Enterprise Server), space-separated scopes,
//! errors reported with HTTP 200, account = `GET /user` -> `login`.

use crate::oauth::{AccountLookup, ErrorClass, Provider};
/// GitHub's error codes beyond RFC 6749 (docs.github.com "Troubleshooting OAuth app access token request errors").
const ERRORS: &[(&str, ErrorClass)] = &[
    ("bad_verification_code", ErrorClass::Reauthorize),
    ("bad_refresh_token", ErrorClass::Reauthorize),
    ("expired_token", ErrorClass::Reauthorize),
    ("incorrect_client_credentials", ErrorClass::Configuration),
    ("redirect_uri_mismatch", ErrorClass::Configuration),
    ("unverified_user_email", ErrorClass::Configuration),
    ("unsupported_grant_type", ErrorClass::Configuration),
    ("incorrect_device_code", ErrorClass::Reauthorize),
];

/// GitHub's REST API wants a `User-Agent` and recommends the version header.
const HEADERS: &[(&str, &str)] = &[
    ("user-agent", "spark-integrations"),
    ("x-github-api-version", "2022-11-28"),
];

/// GitHub on github.com: `https://github.com/login/oauth/*` and `https://api.github.com`.
///
/// ```
/// let github = spark_integrations::providers::github::oauth::provider();
/// assert_eq!(github.token_url(), "https://github.com/login/oauth/access_token");
/// ```
pub fn provider() -> Provider {
    with_hosts("https://github.com", "https://api.github.com")
}

/// A GitHub Enterprise Server at `base_url` (such as `https://github.example.com`): OAuth under
/// `{base_url}/login/oauth/`, the API under `{base_url}/api/v3`.
///
/// ```
/// let ghe = spark_integrations::providers::github::oauth::enterprise("https://github.example.com/");
/// assert_eq!(ghe.authorize_url(), "https://github.example.com/login/oauth/authorize");
/// assert_eq!(ghe.api_base(), "https://github.example.com/api/v3");
/// ```
pub fn enterprise(base_url: &str) -> Provider {
    let base = base_url.trim_end_matches('/');
    with_hosts(base, &format!("{base}/api/v3"))
}

fn with_hosts(web: &str, api: &str) -> Provider {
    let builder = Provider::builder(
        super::SERVICE,
        format!("{web}/login/oauth/authorize"),
        format!("{web}/login/oauth/access_token"),
        api,
        AccountLookup::get("/user", "/login").with_name("/name"),
    );
    let builder = ERRORS
        .iter()
        .fold(builder, |builder, (code, class)| builder.error_code(*code, *class));
    HEADERS
        .iter()
        .fold(builder, |builder, (name, value)| builder.header(*name, *value))
        .build()
        .expect("GitHub's rules are valid for any base URL that `OAuthClient::new` accepts (tested)")
}
