//! `Debug` of every secret-bearing type shows no secret.

use crate::oauth_support;

use oauth_support::*;
use spark_integrations::oauth::{
    AuthorizationCode, Authorized, ClientSecret, Driver, PkceVerifier, StateKey, TokenSet,
};
use spark_integrations::{AccessToken, RefreshToken};

const SECRETS: &[&str] = &[
    CLIENT_SECRET,
    STATE_KEY,
    "ghu_access",
    "ghr_refresh",
    "xoxp-user",
    "the-code",
];

fn assert_redacted(what: &str, debug: String) {
    for secret in SECRETS {
        assert!(!debug.contains(secret), "{what} shows {secret}: {debug}");
    }
}

#[test]
fn secret_newtypes_are_redacted() {
    assert_eq!(
        format!("{:?}", ClientSecret::new(CLIENT_SECRET)),
        "ClientSecret([redacted])"
    );
    assert_eq!(format!("{:?}", StateKey::new(STATE_KEY)), "StateKey([redacted])");
    assert_eq!(format!("{:?}", PkceVerifier::new("v")), "PkceVerifier([redacted])");
    assert_eq!(
        format!("{:?}", AuthorizationCode::new("the-code")),
        "AuthorizationCode([redacted])"
    );
    assert_eq!(format!("{}", AccessToken::new("ghu_access")), "[redacted]");
    assert_eq!(
        format!("{:?}", RefreshToken::new("ghr_refresh")),
        "RefreshToken([redacted])"
    );
}

#[test]
fn flow_values_are_redacted() {
    let client = github_client();
    assert_redacted("OAuthClient", format!("{client:?}"));
    assert_redacted("ClientConfig", format!("{:?}", client.config()));

    let start = client.start("integration-1", "user-7", now(), &RANDOM);
    let verifier = serde_json::to_value(&start.pending).unwrap()["verifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let debug = format!("{start:?}");
    assert!(
        !debug.contains(&verifier),
        "Authorize/PendingAuth show the verifier: {debug}"
    );
    assert!(debug.contains("PkceVerifier([redacted])"));

    let state = query_param(&start.url, "state");
    let verified = client
        .callback(start.pending, &format!("code=the-code&state={state}"), "user-7", now())
        .unwrap();
    let debug = format!("{verified:?}");
    assert_redacted("VerifiedCallback", debug.clone());
    assert!(!debug.contains(&verifier));

    let body = r#"{"access_token":"ghu_access","refresh_token":"ghr_refresh","expires_in":28800,"token_type":"bearer",
        "authed_user":{"access_token":"xoxp-user"}}"#;
    let persist = client.token_response(&json(200, body), now()).unwrap();
    assert_redacted("Persist", format!("{persist:?}"));
    let mut tokens = persist.persisted();
    assert_redacted("TokenSet", format!("{tokens:?}"));

    let slack = slack_client().token_response(
        &json(200, &format!(r#"{{"ok":true,"access_token":"xoxb-bot",{}"#, &body[1..])),
        now(),
    );
    let slack = slack.unwrap().persisted();
    assert!(slack.user_token.is_some());
    assert_redacted("TokenSet with UserToken", format!("{slack:?}"));

    let authorized = client.account_request(&tokens, now());
    assert!(matches!(authorized, Authorized::Send(_)));
    assert_redacted("Authorized", format!("{authorized:?}"));

    let driver = Driver::new(&client, |_request: http::Request<Vec<u8>>| {
        Err::<http::Response<Vec<u8>>, std::io::Error>(std::io::Error::other("offline"))
    });
    assert_redacted("Driver", format!("{driver:?}"));
    tokens.refresh_token = None;
    let error = driver.call(&mut tokens, http::Request::new(Vec::new()), now(), |_: &TokenSet| {
        Ok::<(), std::io::Error>(())
    });
    assert_redacted("DriverError", format!("{error:?}"));
}
