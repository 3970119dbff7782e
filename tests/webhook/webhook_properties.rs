//! Properties of every scheme, checked against an independent signer (`webhook_support::reference`): what is signed
//! verifies, and any single-bit change of the body, the timestamp or the signature is refused.

use crate::webhook_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use spark_integrations::providers::github::GithubVerifier;
use spark_integrations::providers::slack::SlackVerifier;
use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookError, WebhookSecret, WebhookVerifier};
use webhook_support::*;

/// A delivery in one of the three schemes: what was signed and how to verify it.
#[derive(Debug, Clone)]
struct Signed {
    scheme: Scheme,
    secret: Vec<u8>,
    id: String,
    timestamp: String,
    body: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Scheme {
    Github,
    Slack,
    Standard,
}

impl Signed {
    /// The signature's bytes, as the sender computes them.
    fn tag(&self) -> Vec<u8> {
        let (id, ts, body) = (self.id.as_bytes(), self.timestamp.as_bytes(), self.body.as_slice());
        match self.scheme {
            Scheme::Github => reference::hmac_sha256(&self.secret, &[body]),
            Scheme::Slack => reference::hmac_sha256(&self.secret, &[b"v0:", ts, b":", body]),
            Scheme::Standard => reference::hmac_sha256(&self.secret, &[id, b".", ts, b".", body]),
        }
    }

    /// The request headers carrying `tag` and `timestamp` (which may differ from what was signed), or `None` if
    /// `timestamp` cannot be sent as a header value at all.
    fn headers(&self, tag: &[u8], timestamp: &[u8]) -> Option<HeaderMap> {
        let mut map = match self.scheme {
            Scheme::Github => headers(&[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", &self.id),
                ("X-Hub-Signature-256", &format!("sha256={}", hex::encode(tag))),
            ]),
            Scheme::Slack => headers(&[("X-Slack-Signature", &format!("v0={}", hex::encode(tag)))]),
            Scheme::Standard => headers(&[
                ("webhook-id", &self.id),
                ("webhook-signature", &format!("v1,{}", STANDARD.encode(tag))),
            ]),
        };
        let timestamp = HeaderValue::from_bytes(timestamp).ok()?;
        match self.scheme {
            Scheme::Github => {}
            Scheme::Slack => drop(map.insert("X-Slack-Request-Timestamp", timestamp)),
            Scheme::Standard => drop(map.insert("webhook-timestamp", timestamp)),
        }
        Some(map)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
        // Signed "now": the timestamp itself, so only a change of its value can make it stale.
        let now = at(self.timestamp.parse().expect("generated timestamps are decimal"));
        match self.scheme {
            Scheme::Github => {
                let secret = String::from_utf8(self.secret.clone()).expect("GitHub secrets are generated as text");
                GithubVerifier::new().verify(&[WebhookSecret::new(secret)], headers, body, now)
            }
            Scheme::Slack => {
                let secret = String::from_utf8(self.secret.clone()).expect("Slack secrets are generated as text");
                SlackVerifier::new().verify(&[WebhookSecret::new(secret)], headers, body, now)
            }
            Scheme::Standard => {
                let secret = WebhookSecret::new(standard_secret(&self.secret));
                StandardWebhooksVerifier::new().verify(&[secret], headers, body, now)
            }
        }
        .map(|_| ())
    }
}

fn signed() -> impl Strategy<Value = Signed> {
    let scheme = prop_oneof![Just(Scheme::Github), Just(Scheme::Slack), Just(Scheme::Standard)];
    (
        scheme,
        ".{1,40}",
        "[A-Za-z0-9_-]{1,40}",
        0_i64..=4_102_444_800,
        prop::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_flat_map(|(scheme, text_secret, id, timestamp, body)| {
            let secret = match scheme {
                // Standard Webhooks keys are bytes; the others are used as the secret text's UTF-8.
                Scheme::Standard => prop::collection::vec(any::<u8>(), 1..64).boxed(),
                Scheme::Github | Scheme::Slack => Just(text_secret.into_bytes()).boxed(),
            };
            (Just(scheme), secret, Just(id), Just(timestamp.to_string()), Just(body))
        })
        .prop_map(|(scheme, secret, id, timestamp, body)| Signed {
            scheme,
            secret,
            id,
            timestamp,
            body,
        })
}

/// Which bit of which part to flip; indexes are taken modulo the part's length.
#[derive(Debug, Clone, Copy)]
enum Flip {
    Body(usize, u8),
    Timestamp(usize, u8),
    Signature(usize, u8),
}

fn flip() -> impl Strategy<Value = Flip> {
    prop_oneof![
        (any::<usize>(), 0_u8..8).prop_map(|(i, bit)| Flip::Body(i, bit)),
        (any::<usize>(), 0_u8..8).prop_map(|(i, bit)| Flip::Timestamp(i, bit)),
        (any::<usize>(), 0_u8..8).prop_map(|(i, bit)| Flip::Signature(i, bit)),
    ]
}

fn flip_bit(bytes: &mut [u8], index: usize, bit: u8) {
    let len = bytes.len();
    bytes[index % len] ^= 1 << bit;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn verify_accepts_what_was_signed(signed in signed()) {
        let headers = signed.headers(&signed.tag(), signed.timestamp.as_bytes()).expect("decimal timestamps are valid");
        prop_assert_eq!(signed.verify(&headers, &signed.body), Ok(()));
    }

    #[test]
    fn any_single_bit_change_is_refused(signed in signed(), flip in flip()) {
        let (mut body, mut timestamp, mut tag) = (signed.body.clone(), signed.timestamp.clone().into_bytes(), signed.tag());
        match flip {
            Flip::Body(index, bit) => {
                prop_assume!(!body.is_empty());
                flip_bit(&mut body, index, bit);
            }
            Flip::Timestamp(index, bit) => {
                // GitHub signs no timestamp.
                prop_assume!(!matches!(signed.scheme, Scheme::Github));
                flip_bit(&mut timestamp, index, bit);
            }
            // A bit of the signature's value (its text can also change case, which is not a different value).
            Flip::Signature(index, bit) => flip_bit(&mut tag, index, bit),
        }
        // A timestamp that no longer fits in a header value cannot even be sent: refused by HTTP itself.
        if let Some(headers) = signed.headers(&tag, &timestamp) {
            let result = signed.verify(&headers, &body);
            prop_assert!(result.is_err(), "{:?} accepted after {:?}", signed, flip);
        }
    }

    #[test]
    fn verifiers_never_panic_on_arbitrary_headers(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 7),
        body in prop::collection::vec(any::<u8>(), 0..256),
        now in any::<i32>(),
    ) {
        let names = [
            "X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery", "X-Slack-Request-Timestamp",
            "X-Slack-Signature", "webhook-timestamp", "webhook-signature",
        ];
        let mut map = HeaderMap::new();
        for (name, value) in names.iter().zip(&values) {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                map.insert(*name, value);
            }
        }
        map.insert("webhook-id", HeaderValue::from_static("msg_1"));
        let secrets = [WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
        let now = at(i64::from(now));
        let verifiers: [&dyn WebhookVerifier; 3] =
            [&GithubVerifier::new().allow_legacy_sha1(), &SlackVerifier::new(), &StandardWebhooksVerifier::new()];
        for verifier in verifiers {
            // Random bytes cannot carry a valid signature: every one is refused, none panics.
            prop_assert!(verifier.verify(&secrets, &map, &body, now).is_err());
        }
    }
}
