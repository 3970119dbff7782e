//! GitHub's OAuth rules as data: endpoints on github.com (or a GitHub Enterprise Server), space-separated scopes,
//! errors reported with HTTP 200, account = `GET /user` -> `login`.

use http::Method;

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
    Provider {
        id: super::SERVICE,
        authorize_url: format!("{web}/login/oauth/authorize"),
        token_url: format!("{web}/login/oauth/access_token"),
        api_base: api.to_owned(),
        scope_separator: " ",
        user_scope_param: None,
        success_flag: None,
        user_token_at: None,
        ids: &[],
        errors: ERRORS,
        headers: HEADERS,
        account: AccountLookup {
            method: Method::GET,
            path: "/user",
            id: "/login",
            name: Some("/name"),
        },
    }
}
