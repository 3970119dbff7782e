//! A whole flow through the driver against a scripted in-memory HTTP client that checks every request exactly.

use crate::oauth_support;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;

use chrono::TimeDelta;
use oauth_support::*;
use spark_integrations::oauth::{Driver, DriverError, TokenSet, UsedStates};

/// One expected request and the response to give.
struct Exchange {
    method: &'static str,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: String,
    response: http::Response<Vec<u8>>,
}

/// An HTTP client that plays a script: each request must match the next exchange exactly.
#[derive(Default)]
struct Scripted {
    script: RefCell<VecDeque<Exchange>>,
}

impl Scripted {
    fn expect(&self, exchange: Exchange) {
        self.script.borrow_mut().push_back(exchange);
    }

    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Infallible> {
        let expected = self
            .script
            .borrow_mut()
            .pop_front()
            .expect("an unexpected extra request");
        assert_eq!(request.method(), expected.method);
        assert_eq!(request.uri(), expected.uri);
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        assert_eq!(headers, expected.headers, "headers of {}", expected.uri);
        assert_eq!(body_text(&request), expected.body, "body of {}", expected.uri);
        Ok(expected.response)
    }

    fn finished(&self) -> bool {
        self.script.borrow().is_empty()
    }
}

const TOKEN_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/x-www-form-urlencoded"),
    ("accept", "application/json"),
    ("user-agent", "spark-integrations"),
    ("x-github-api-version", "2022-11-28"),
];

#[test]
fn github_flow_from_start_to_refreshed_api_call() {
    let client = github_client();
    let http = Scripted::default();
    let driver = Driver::new(&client, |request| http.send(request));

    let start = client.start("integration-1", "user-7", now(), &RANDOM);
    let state = query_param(&start.url, "state");
    let verifier = serde_json::to_value(&start.pending).unwrap()["verifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let callback_at = now() + TimeDelta::seconds(40);

    http.expect(Exchange {
        method: "POST",
        uri: "https://github.com/login/oauth/access_token",
        headers: TOKEN_HEADERS,
        body: format!(
            "grant_type=authorization_code&code=0c1f8e9a&redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fgithub%2Fcallback\
             &client_id=Iv1.8a61f9b3a7aba766&client_secret={CLIENT_SECRET}&code_verifier={verifier}"
        ),
        response: form(
            200,
            "access_token=ghu_first&expires_in=28800&refresh_token=ghr_first&refresh_token_expires_in=15811200&scope=&token_type=bearer",
        ),
    });
    http.expect(Exchange {
        method: "GET",
        uri: "https://api.github.com/user",
        headers: &[
            ("user-agent", "spark-integrations"),
            ("x-github-api-version", "2022-11-28"),
            ("authorization", "Bearer ghu_first"),
        ],
        body: String::new(),
        response: json(200, r#"{"login":"octocat","id":583231,"name":"The Octocat"}"#),
    });

    let mut ledger = UsedStates::new();
    let mut stored: Vec<TokenSet> = Vec::new();
    let connected = driver
        .finish(
            start.pending.clone(),
            &format!("code=0c1f8e9a&state={state}"),
            "user-7",
            callback_at,
            &mut ledger,
            |tokens: &TokenSet| {
                stored.push(tokens.clone());
                Ok::<(), Infallible>(())
            },
        )
        .unwrap();
    assert!(http.finished());
    assert_eq!(connected.integration_id, "integration-1");
    assert_eq!(connected.account.id, "octocat");
    assert_eq!(stored, std::slice::from_ref(&connected.tokens), "persisted before use");
    assert_eq!(connected.tokens.expires_at, Some(callback_at + TimeDelta::hours(8)));

    // The same callback again (a replayed cookie and URL) sends nothing.
    let replay = driver.finish(
        start.pending,
        &format!("code=0c1f8e9a&state={state}"),
        "user-7",
        callback_at,
        &mut ledger,
        |_: &TokenSet| Ok::<(), Infallible>(()),
    );
    assert!(matches!(replay, Err(DriverError::Callback(_))), "{replay:?}");

    // Eight hours later the token is due: the driver refreshes, persists, then sends the call.
    let later = callback_at + TimeDelta::hours(8) - TimeDelta::minutes(2);
    http.expect(Exchange {
        method: "POST",
        uri: "https://github.com/login/oauth/access_token",
        headers: TOKEN_HEADERS,
        body: format!("grant_type=refresh_token&refresh_token=ghr_first&client_id=Iv1.8a61f9b3a7aba766&client_secret={CLIENT_SECRET}"),
        response: json(200, r#"{"access_token":"ghu_second","expires_in":28800,"token_type":"bearer","scope":""}"#),
    });
    http.expect(Exchange {
        method: "GET",
        uri: "https://api.github.com/repos/octocat/Hello-World/events",
        headers: &[
            ("accept", "application/vnd.github+json"),
            ("user-agent", "spark-integrations"),
            ("x-github-api-version", "2022-11-28"),
            ("authorization", "Bearer ghu_second"),
        ],
        body: String::new(),
        response: json(200, "[]"),
    });
    let mut tokens = connected.tokens;
    let request = http::Request::get("https://api.github.com/repos/octocat/Hello-World/events")
        .header("accept", "application/vnd.github+json")
        .body(Vec::new())
        .unwrap();
    let response = driver
        .call(&mut tokens, request, later, |new: &TokenSet| {
            stored.push(new.clone());
            Ok::<(), Infallible>(())
        })
        .unwrap();
    assert_eq!(response.body(), b"[]");
    assert!(http.finished());
    assert_eq!(tokens.access_token.expose_secret(), "ghu_second");
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "ghr_first",
        "kept: none was returned"
    );
    assert_eq!(stored.last(), Some(&tokens));
}

#[test]
fn a_failed_persist_withholds_the_tokens() {
    let client = github_client();
    let http = Scripted::default();
    let driver = Driver::new(&client, |request| http.send(request));
    let mut tokens = TokenSet::new(spark_integrations::AccessToken::new("ghu_old"));
    tokens.refresh_token = Some(spark_integrations::RefreshToken::new("ghr_old"));
    tokens.expires_at = Some(now());
    http.expect(Exchange {
        method: "POST",
        uri: "https://github.com/login/oauth/access_token",
        headers: TOKEN_HEADERS,
        body: format!("grant_type=refresh_token&refresh_token=ghr_old&client_id=Iv1.8a61f9b3a7aba766&client_secret={CLIENT_SECRET}"),
        response: json(200, r#"{"access_token":"ghu_new","refresh_token":"ghr_new","expires_in":28800}"#),
    });
    let error = driver
        .call(
            &mut tokens,
            http::Request::get("https://api.github.com/user")
                .body(Vec::new())
                .unwrap(),
            now(),
            |_: &TokenSet| Err(std::io::Error::other("database down")),
        )
        .unwrap_err();
    assert!(matches!(error, DriverError::Storage(_)), "{error:?}");
    assert!(http.finished(), "the API call was not sent");
    assert_eq!(tokens.access_token.expose_secret(), "ghu_old");
}

#[test]
fn transport_errors_are_retryable() {
    let client = github_client();
    let driver = Driver::new(
        &client,
        |_: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, std::io::Error> {
            Err(std::io::Error::other("connection refused"))
        },
    );
    let mut tokens = TokenSet::new(spark_integrations::AccessToken::new("ghu"));
    tokens.refresh_token = Some(spark_integrations::RefreshToken::new("ghr"));
    let error = driver
        .refresh(&tokens, now(), |_: &TokenSet| Ok::<(), Infallible>(()))
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(matches!(error, DriverError::Transport(_)));
}
