//! Token responses: GitHub's JSON and form-encoded answers, Slack's `ok` envelope, the retry policy.

use crate::oauth_support;

use chrono::TimeDelta;
use oauth_support::*;
use spark_integrations::oauth::{OAuthClient, TokenError, TokenSet};

fn parse(client: &OAuthClient, response: &http::Response<Vec<u8>>) -> Result<TokenSet, TokenError> {
    client
        .token_response(response, now())
        .map(|persist| persist.persisted())
}

#[test]
fn github_json_error_with_http_200() {
    let body = r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}"#;
    let error = parse(&github_client(), &json(200, body)).unwrap_err();
    assert_eq!(
        error,
        TokenError::Reauthorize {
            code: "bad_verification_code".into(),
            description: Some("The code passed is incorrect or expired.".into())
        }
    );
    assert!(error.needs_reauthorization());
    assert!(!error.is_retryable());
    insta::assert_snapshot!(error, @"grant rejected (bad_verification_code): authorize again");
}

#[test]
fn github_form_encoded_error() {
    let body = "error=redirect_uri_mismatch&error_description=The+redirect_uri+MUST+match+the+registered+callback+URL+for+this+application.&error_uri=https%3A%2F%2Fdocs.github.com";
    let error = parse(&github_client(), &form(200, body)).unwrap_err();
    assert_eq!(
        error,
        TokenError::Configuration {
            code: "redirect_uri_mismatch".into(),
            description: Some("The redirect_uri MUST match the registered callback URL for this application.".into())
        }
    );
    assert!(!error.needs_reauthorization() && !error.is_retryable());
}

#[test]
fn github_form_encoded_success() {
    let body = "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer";
    let tokens = parse(&github_client(), &form(200, body)).unwrap();
    assert_eq!(
        tokens.access_token.expose_secret(),
        "gho_16C7e42F292c6912E7710c838347Ae178B4a"
    );
    assert_eq!(tokens.scopes, ["repo", "gist"]);
    assert_eq!(tokens.token_type, "bearer");
    assert_eq!(tokens.expires_at, None, "OAuth app tokens do not expire");
    assert_eq!(tokens.refresh_token, None);
}

#[test]
fn form_encoded_body_without_content_type_is_still_read() {
    let response = http::Response::new(b"access_token=gho_x&token_type=bearer&scope=".to_vec());
    assert_eq!(
        parse(&github_client(), &response).unwrap().access_token.expose_secret(),
        "gho_x"
    );
}

#[test]
fn github_app_user_token_expiry_comes_from_the_injected_clock() {
    let body = r#"{"access_token":"ghu_16C7e42F292c6912E7710c838347Ae178B4a","expires_in":28800,"refresh_token":"ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498","refresh_token_expires_in":15811200,"scope":"","token_type":"bearer"}"#;
    let tokens = parse(&github_client(), &json(200, body)).unwrap();
    assert_eq!(tokens.expires_at, Some(now() + TimeDelta::hours(8)));
    assert_eq!(tokens.refresh_expires_at, Some(now() + TimeDelta::seconds(15_811_200)));
    assert!(tokens.refresh_token.unwrap().expose_secret().starts_with("ghr_"));
    assert!(tokens.scopes.is_empty());
    // The same from a form-encoded answer, where numbers are strings.
    let body =
        "access_token=ghu_x&expires_in=28800&refresh_token=ghr_y&refresh_token_expires_in=15811200&token_type=bearer";
    let tokens = parse(&github_client(), &form(200, body)).unwrap();
    assert_eq!(tokens.expires_at, Some(now() + TimeDelta::hours(8)));
}

#[test]
fn slack_ok_false_with_http_200_and_400() {
    for status in [200, 400] {
        let error = parse(&slack_client(), &json(status, r#"{"ok":false,"error":"invalid_code"}"#)).unwrap_err();
        assert_eq!(
            error,
            TokenError::Reauthorize {
                code: "invalid_code".into(),
                description: None
            },
            "status {status}"
        );
    }
    let error = parse(
        &slack_client(),
        &json(200, r#"{"ok":false,"error":"bad_client_secret"}"#),
    )
    .unwrap_err();
    assert!(matches!(error, TokenError::Configuration { ref code, .. } if code == "bad_client_secret"));
    let error = parse(&slack_client(), &json(200, r#"{"ok":false,"error":"some_new_error"}"#)).unwrap_err();
    insta::assert_snapshot!(error, @"token endpoint error some_new_error (http 200)");
    let error = parse(&slack_client(), &json(200, r#"{"ok":false}"#)).unwrap_err();
    assert!(matches!(error, TokenError::Provider { ref code, .. } if code == "unknown_error"));
}

#[test]
fn slack_ok_true_without_a_token() {
    let body = r#"{"ok":true,"app_id":"A0KRD7HC3","team":{"id":"T9TK3CUKW","name":"Slack Softworks"}}"#;
    let error = parse(&slack_client(), &json(200, body)).unwrap_err();
    assert_eq!(error, TokenError::MissingAccessToken);
    insta::assert_snapshot!(error, @"token response has no access_token");
}

#[test]
fn slack_bot_token_at_top_level_and_user_token_under_authed_user() {
    let body = r#"{
        "ok": true,
        "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        "token_type": "bot",
        "scope": "commands,incoming-webhook",
        "bot_user_id": "U0KRQLJ9H",
        "app_id": "A0KRD7HC3",
        "team": {"name": "Slack Softworks", "id": "T9TK3CUKW"},
        "enterprise": {"name": "slack-sports", "id": "E12345678"},
        "authed_user": {
            "id": "U1234",
            "scope": "chat:write",
            "access_token": "xoxp-1234",
            "token_type": "user"
        }
    }"#;
    let tokens = parse(&slack_client(), &json(200, body)).unwrap();
    assert!(tokens.access_token.expose_secret().starts_with("xoxb-"));
    assert_eq!(tokens.token_type, "bot");
    assert_eq!(tokens.scopes, ["commands", "incoming-webhook"]);
    let user = tokens.user_token.as_ref().unwrap();
    assert_eq!(user.access_token.expose_secret(), "xoxp-1234");
    assert_eq!(user.token_type, "user");
    assert_eq!(user.scopes, ["chat:write"]);
    insta::assert_json_snapshot!(tokens.ids, @r#"
    {
      "app_id": "A0KRD7HC3",
      "authed_user_id": "U1234",
      "bot_user_id": "U0KRQLJ9H",
      "enterprise_id": "E12345678",
      "team_id": "T9TK3CUKW",
      "team_name": "Slack Softworks"
    }
    "#);
}

#[test]
fn slack_user_token_only_becomes_the_access_token() {
    let body = r#"{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"search:read","access_token":"xoxp-only","token_type":"user","refresh_token":"xoxe-1-r","expires_in":43200},"team":{"id":"T1"}}"#;
    let tokens = parse(&slack_client(), &json(200, body)).unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "xoxp-only");
    assert_eq!(tokens.expires_at, Some(now() + TimeDelta::hours(12)));
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "xoxe-1-r");
    assert!(tokens.user_token.is_none());
}

#[test]
fn server_errors_and_rate_limits_are_retryable() {
    for status in [500, 502, 503] {
        let error = parse(&github_client(), &response(status, "text/html", "<html>oops</html>")).unwrap_err();
        assert!(error.is_retryable(), "{status}: {error:?}");
    }
    let limited = http::Response::builder()
        .status(429)
        .header("retry-after", "30")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        parse(&slack_client(), &limited).unwrap_err(),
        TokenError::Retryable {
            status: 429,
            code: None,
            retry_after: Some(30)
        }
    );
    let error = parse(&slack_client(), &json(200, r#"{"ok":false,"error":"ratelimited"}"#)).unwrap_err();
    assert!(error.is_retryable());
    let error = parse(&github_client(), &json(400, r#"{"error":"temporarily_unavailable"}"#)).unwrap_err();
    assert!(error.is_retryable());
}

#[test]
fn standard_invalid_grant_is_terminal() {
    let error = parse(&github_client(), &json(400, r#"{"error":"invalid_grant"}"#)).unwrap_err();
    assert!(error.needs_reauthorization());
}

#[test]
fn malformed_bodies_name_the_problem_without_echoing_values() {
    let error = parse(&github_client(), &json(200, r#"{"access_token":"gho_secret","#)).unwrap_err();
    assert!(matches!(error, TokenError::Malformed { .. }), "{error:?}");
    assert!(!error.to_string().contains("gho_secret"));
    let error = parse(&github_client(), &json(200, r#"["gho_secret"]"#)).unwrap_err();
    insta::assert_snapshot!(error, @"token response is malformed: json body is not an object");
    let error = parse(
        &github_client(),
        &json(200, r#"{"access_token":"gho_secret","expires_in":"soon"}"#),
    )
    .unwrap_err();
    assert_eq!(
        error,
        TokenError::InvalidField {
            path: "/expires_in".into()
        }
    );
    let error = parse(
        &slack_client(),
        &json(200, r#"{"ok":true,"authed_user":{"access_token":["xoxp"]}}"#),
    )
    .unwrap_err();
    insta::assert_snapshot!(error, @"token response field /authed_user/access_token has an unexpected type");
    let error = parse(&github_client(), &response(404, "text/html", "not found")).unwrap_err();
    assert_eq!(error, TokenError::Status { status: 404 });
}
