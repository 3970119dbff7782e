//! Refresh: when it is due, the request, keeping the old refresh token, and "refresh first" for API calls.

use crate::oauth_support;

use chrono::TimeDelta;
use http::Method;
use oauth_support::*;
use spark_integrations::oauth::{Authorized, Freshness, TokenError, TokenSet};
use spark_integrations::{AccessToken, RefreshToken};

/// A GitHub App user token issued at `now()`: 8 hours, with a refresh token valid ~6 months.
fn issued() -> TokenSet {
    let body = r#"{"access_token":"ghu_old","expires_in":28800,"refresh_token":"ghr_old","refresh_token_expires_in":15811200,"scope":"","token_type":"bearer"}"#;
    github_client()
        .token_response(&json(200, body), now())
        .unwrap()
        .persisted()
}

#[test]
fn refresh_is_due_inside_the_margin() {
    let client = github_client().with_refresh_margin(TimeDelta::minutes(10));
    let tokens = issued();
    let expires_at = tokens.expires_at.unwrap();
    assert_eq!(client.freshness(&tokens, now()), Freshness::Fresh);
    assert!(!client.refresh_due(&tokens, expires_at - TimeDelta::minutes(11)));
    assert!(client.refresh_due(&tokens, expires_at - TimeDelta::minutes(10)));
    assert_eq!(
        client.freshness(&tokens, expires_at - TimeDelta::minutes(1)),
        Freshness::Due
    );
    assert_eq!(client.freshness(&tokens, expires_at), Freshness::Expired);
    assert!(client.refresh_due(&tokens, expires_at + TimeDelta::hours(1)));
    // The default margin is five minutes.
    assert!(!github_client().refresh_due(&tokens, expires_at - TimeDelta::minutes(6)));
    assert!(github_client().refresh_due(&tokens, expires_at - TimeDelta::minutes(5)));
}

#[test]
fn tokens_without_expiry_are_never_due() {
    let tokens = TokenSet::new(AccessToken::new("gho_forever"));
    assert!(!github_client().refresh_due(&tokens, now() + TimeDelta::days(3650)));
}

#[test]
fn refresh_request_is_a_form_post_with_the_refresh_token() {
    let request = github_client().refresh_request(&issued(), now()).unwrap();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.uri(), "https://github.com/login/oauth/access_token");
    assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(request.headers()["accept"], "application/json");
    assert_eq!(
        body_text(&request),
        format!(
            "grant_type=refresh_token&refresh_token=ghr_old&client_id=Iv1.8a61f9b3a7aba766&client_secret={CLIENT_SECRET}"
        )
    );
}

#[test]
fn refresh_keeps_the_old_refresh_token_when_none_is_returned() {
    let client = slack_client();
    let mut previous = TokenSet::new(AccessToken::new("xoxe.xoxb-old"));
    previous.refresh_token = Some(RefreshToken::new("xoxe-1-keep"));
    previous.scopes = vec!["chat:write".into()];
    previous.ids.insert("team_id".into(), "T1".into());
    let later = now() + TimeDelta::hours(11);
    let response = json(
        200,
        r#"{"ok":true,"access_token":"xoxe.xoxb-new","token_type":"bot","expires_in":43200}"#,
    );
    let tokens = client
        .refresh_response(&previous, &response, later)
        .unwrap()
        .persisted();
    assert_eq!(tokens.access_token.expose_secret(), "xoxe.xoxb-new");
    assert_eq!(tokens.refresh_token.as_ref().unwrap().expose_secret(), "xoxe-1-keep");
    assert_eq!(tokens.expires_at, Some(later + TimeDelta::hours(12)));
    assert_eq!(tokens.scopes, ["chat:write"]);
    assert_eq!(tokens.ids["team_id"], "T1");
}

#[test]
fn refresh_replaces_the_refresh_token_when_one_is_returned() {
    let response = json(
        200,
        r#"{"access_token":"ghu_new","expires_in":28800,"refresh_token":"ghr_new","refresh_token_expires_in":15811200,"token_type":"bearer","scope":""}"#,
    );
    let later = now() + TimeDelta::hours(8);
    let step = github_client().refresh_response(&issued(), &response, later).unwrap();
    assert_eq!(step.tokens().refresh_token.as_ref().unwrap().expose_secret(), "ghr_new");
    assert_eq!(
        step.persisted().refresh_expires_at,
        Some(later + TimeDelta::seconds(15_811_200))
    );
}

#[test]
fn bad_refresh_token_is_terminal_and_5xx_is_retryable() {
    let client = github_client();
    let error = client
        .refresh_response(&issued(), &json(200, r#"{"error":"bad_refresh_token"}"#), now())
        .unwrap_err();
    assert!(error.needs_reauthorization());
    let error = client.refresh_response(&issued(), &json(503, "{}"), now()).unwrap_err();
    assert!(error.is_retryable());
}

#[test]
fn no_refresh_token_or_an_expired_one_means_authorize_again() {
    let client = github_client();
    let error = client
        .refresh_request(&TokenSet::new(AccessToken::new("t")), now())
        .unwrap_err();
    assert_eq!(error, TokenError::NoRefreshToken);
    let tokens = issued();
    let refresh_expiry = tokens.refresh_expires_at.unwrap();
    let error = client.refresh_request(&tokens, refresh_expiry).unwrap_err();
    assert_eq!(
        error,
        TokenError::RefreshExpired {
            expired_at: refresh_expiry
        }
    );
    assert!(error.needs_reauthorization());
}

#[test]
fn authenticated_requests_carry_the_token_or_say_refresh_first() {
    let client = github_client();
    let tokens = issued();
    let Authorized::Send(request) = client
        .api_request(&tokens, Method::GET, "/user/repos?per_page=100", now())
        .unwrap()
    else {
        panic!("a fresh token is sent");
    };
    assert_eq!(request.uri(), "https://api.github.com/user/repos?per_page=100");
    assert_eq!(request.headers()["authorization"], "Bearer ghu_old");
    assert_eq!(request.headers()["user-agent"], "spark-integrations");
    assert!(
        !format!("{request:?}").contains("ghu_old"),
        "the header is marked sensitive"
    );

    let due = tokens.expires_at.unwrap() - TimeDelta::minutes(1);
    let Authorized::RefreshFirst(request) = client.api_request(&tokens, Method::GET, "/user", due).unwrap() else {
        panic!("a due token is refreshed first");
    };
    assert!(request.headers().get("authorization").is_none());
    assert_eq!(request.uri(), "https://api.github.com/user");
}

#[test]
fn expired_without_refresh_token_means_reauthorize_and_due_without_one_still_sends() {
    let client = github_client();
    let mut tokens = issued();
    tokens.refresh_token = None;
    let expires_at = tokens.expires_at.unwrap();
    let request = || {
        http::Request::get("https://api.github.com/user")
            .body(Vec::new())
            .unwrap()
    };
    assert!(matches!(
        client.authorize_request(&tokens, request(), expires_at),
        Authorized::Reauthorize
    ));
    assert!(matches!(
        client.authorize_request(&tokens, request(), expires_at - TimeDelta::minutes(1)),
        Authorized::Send(_)
    ));
}

#[test]
fn account_lookup_requests_and_responses() {
    let github = github_client();
    let tokens = issued();
    let Authorized::Send(request) = github.account_request(&tokens, now()) else {
        panic!("fresh")
    };
    assert_eq!(
        (request.method().as_str(), request.uri().to_string().as_str()),
        ("GET", "https://api.github.com/user")
    );
    let account = github
        .account_response(&json(200, r#"{"login":"octocat","id":1,"name":"The Octocat"}"#))
        .unwrap();
    assert_eq!(
        (account.id.as_str(), account.name.as_deref()),
        ("octocat", Some("The Octocat"))
    );
    assert!(
        github
            .account_response(&json(401, r#"{"message":"Bad credentials"}"#))
            .is_err()
    );

    let slack = slack_client();
    let Authorized::Send(request) = slack.account_request(&TokenSet::new(AccessToken::new("xoxb-1")), now()) else {
        panic!("no expiry")
    };
    assert_eq!(
        (request.method().as_str(), request.uri().to_string().as_str()),
        ("POST", "https://slack.com/api/auth.test")
    );
    let body = r#"{"ok":true,"url":"https://subarachnoid.slack.com/","team":"Subarachnoid Workspace","user":"grace","team_id":"T12345678","user_id":"W12345678"}"#;
    let account = slack.account_response(&json(200, body)).unwrap();
    assert_eq!(
        (account.id.as_str(), account.name.as_deref()),
        ("W12345678", Some("grace"))
    );
    let error = slack
        .account_response(&json(200, r#"{"ok":false,"error":"invalid_auth"}"#))
        .unwrap_err();
    insta::assert_snapshot!(error, @"token refused by account lookup (invalid_auth)");
    assert!(slack.account_response(&json(503, "")).unwrap_err().is_retryable());
}
