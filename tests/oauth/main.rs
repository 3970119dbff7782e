//! OAuth (`src/oauth/`) with GitHub's, Slack's and GitLab's rules: starting an authorization, the callback, token
//! responses, refresh, the whole flow through the driver, and secrets kept out of `Debug`.

mod oauth_support;

mod gitlab_oauth;
mod oauth_callback;
mod oauth_flow;
mod oauth_refresh;
mod oauth_secrets;
mod oauth_start;
mod oauth_tokens;
