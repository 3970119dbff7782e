//! Replays of captured, correctly signed GitHub deliveries. GitHub's signature covers the body only, not
//! `X-GitHub-Delivery` or `X-GitHub-Event`, so an attacker who captured one delivery can resend its body under a fresh
//! delivery id or another event name with a valid signature. Each resend must be stored as nothing new: a duplicate
//! of the first delivery, or refused by the converter when the body lacks that event's fields.

use chrono::{TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use spark_integrations::convert::ConvertContext;
use spark_integrations::plugin::{Plugin, intake_for};
use spark_integrations::providers::github::GithubPlugin;
use spark_integrations::store::{ActivityStore, EventQuery, MemoryStore, ingest_conversion};
use spark_integrations::webhook::WebhookSecret;

const SECRET: &str = "the repository's webhook secret";

/// The headers of a delivery of `body` as `event` with id `delivery`, signed as GitHub signs.
fn signed(event: &str, delivery: &str, body: &[u8]) -> HeaderMap {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", event.parse().expect("header"));
    headers.insert("x-github-delivery", delivery.parse().expect("header"));
    headers.insert("x-hub-signature-256", signature.parse().expect("header"));
    headers
}

/// What delivering `body` as `event` under `delivery` did to `store`: `Ok((inserted, duplicates))`, or the
/// conversion's refusal.
fn deliver(store: &mut MemoryStore, event: &str, delivery: &str, body: &[u8]) -> Result<(usize, usize), String> {
    let plugin = GithubPlugin::new();
    let headers = signed(event, delivery, body);
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
    let accepted = intake_for(&plugin, &[WebhookSecret::new(SECRET)], &headers, body, now)
        .expect("a correct signature is accepted, whatever the headers beside it say");
    let converter = plugin.converter().expect("GitHub converts");
    let conversion = converter
        .convert(accepted.payload, &ConvertContext::new(now).with_integration("github-1"))
        .map_err(|error| error.to_string())?;
    let report = ingest_conversion(store, "github-1", &conversion).expect("the memory store does not fail");
    Ok((report.inserted, report.duplicates))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/github-webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn stored(store: &MemoryStore) -> Vec<(String, String)> {
    let events = store
        .recent_events(&EventQuery::latest(100))
        .expect("memory store")
        .events;
    events
        .into_iter()
        .map(|stored| (stored.event.domain.into_string(), stored.event.action.into_string()))
        .collect()
}

#[test]
fn a_signed_push_resent_under_a_new_delivery_id_is_stored_once() {
    let push = fixture("push.default.4.json");
    let mut store = MemoryStore::new();
    assert_eq!(deliver(&mut store, "push", "delivery-1", &push), Ok((1, 0)));
    assert_eq!(
        deliver(&mut store, "push", "delivery-1", &push),
        Ok((0, 1)),
        "GitHub's own redelivery"
    );
    for fresh in ["delivery-2", "delivery-3", "00000000-0000-0000-0000-000000000000"] {
        assert_eq!(deliver(&mut store, "push", fresh, &push), Ok((0, 1)), "{fresh}");
    }
    assert_eq!(stored(&store), [("repository".to_owned(), "push".to_owned())]);
}

#[test]
fn a_signed_push_resent_under_other_event_names_is_never_stored_as_them() {
    let push = fixture("push.default.4.json");
    let mut store = MemoryStore::new();
    assert_eq!(deliver(&mut store, "push", "delivery-1", &push), Ok((1, 0)));
    for (n, event) in ["public", "fork", "watch", "delete", "push"].into_iter().enumerate() {
        let outcome = deliver(&mut store, event, &format!("forged-{n}"), &push);
        // Either the body lacks what that event needs, or it is the same body as before: a duplicate.
        assert!(matches!(outcome, Ok((0, 1)) | Err(_)), "{event}: {outcome:?}");
    }
    assert_eq!(
        stored(&store),
        [("repository".to_owned(), "push".to_owned())],
        "stored once, as what it was"
    );
}

#[test]
fn every_recorded_delivery_resent_under_every_name_adds_nothing() {
    let names = [
        "push", "public", "fork", "watch", "delete", "create", "issues", "release", "member",
    ];
    for file in [
        "fork.default.0.json",
        "watch.started.0.json",
        "delete.default.0.json",
        "public.default.0.json",
    ] {
        let body = fixture(file);
        let original = file.split('.').next().expect("named after its event");
        let mut store = MemoryStore::new();
        assert_eq!(deliver(&mut store, original, "delivery-1", &body), Ok((1, 0)), "{file}");
        let first = stored(&store);
        for (n, event) in names.into_iter().enumerate() {
            let outcome = deliver(&mut store, event, &format!("forged-{n}"), &body);
            assert!(matches!(outcome, Ok((0, 1)) | Err(_)), "{file} as {event}: {outcome:?}");
        }
        assert_eq!(stored(&store), first, "{file}");
    }
}
