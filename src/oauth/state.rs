//! `state`: what the host keeps between the authorize redirect and the callback ([`PendingAuth`]), how `state` is
//! derived and bound, and how "accepted once" is enforced ([`StateLedger`]).
//!
//! `state` = BASE64URL(HMAC-SHA256(state key, provider, integration id, user id, expiry, nonce)). The callback
//! recomputes it from the [`PendingAuth`] and compares in constant time, so a `PendingAuth` edited by its holder
//! (say, an unsigned cookie naming another integration) no longer matches. Single use has two layers: the callback
//! consumes the `PendingAuth` by value, and since a cookie can be replayed, it yields a [`StateId`] that the host
//! must record with an insert-if-absent ([`StateLedger::mark_used`]) before the token request is released.

use std::collections::HashMap;
use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::StateKey;
use super::pkce::PkceVerifier;

/// How long a `state` is accepted after [`OAuthClient::start`](super::OAuthClient::start): 10 minutes.
pub const STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// An authorization in progress: keep it in the user's session (it serializes with serde) and hand it back to
/// [`OAuthClient::callback`](super::OAuthClient::callback).
///
/// It holds the PKCE verifier: store it where only the server can read it (an encrypted session cookie or a
/// server-side session). `Debug` redacts the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuth {
    pub(crate) provider: String,
    pub(crate) integration_id: String,
    pub(crate) user_id: String,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) nonce: String,
    pub(crate) verifier: PkceVerifier,
}

impl PendingAuth {
    /// The provider the authorization was started with.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The integration the tokens will belong to.
    pub fn integration_id(&self) -> &str {
        &self.integration_id
    }

    /// The user who started the authorization.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// When the `state` stops being accepted.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// The identifier to record as used when the callback arrives.
    pub fn state_id(&self) -> StateId {
        StateId(self.nonce.clone())
    }

    /// The `state` value this pending authorization expects.
    pub(crate) fn state(&self, key: &StateKey) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"spark-integrations oauth state v1");
        let expires = self.expires_at.timestamp().to_be_bytes();
        for field in [
            self.provider.as_bytes(),
            self.integration_id.as_bytes(),
            self.user_id.as_bytes(),
            &expires,
            self.nonce.as_bytes(),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The 128-bit nonce derived from the caller's random bytes.
    pub(crate) fn derive_nonce(random: &[u8]) -> String {
        let digest = Sha256::new()
            .chain_update(b"spark-integrations oauth state nonce\0")
            .chain_update(random)
            .finalize();
        URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap_or_default())
    }
}

/// A non-secret identifier of one authorization attempt, for the host's record of used states.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StateId(String);

impl StateId {
    /// The identifier as text, for a database key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The host's record of `state`s already accepted: what makes a replayed callback fail with
/// [`CallbackError::AlreadyUsed`](super::CallbackError::AlreadyUsed).
///
/// Implement it with an insert-if-absent in the host's database (a unique key on the id); entries may be deleted
/// once `expires_at` has passed, since an expired state is refused anyway. The crate's stores implement it
/// ([`MemoryStore`](crate::store::MemoryStore), and `SqliteStore` / `PostgresStore` behind their features), and
/// [`UsedStates`] is one in memory.
pub trait StateLedger {
    /// Why the record could not be written.
    type Error;

    /// Records `id` as used. Returns `true` if it was not recorded before, `false` if it was.
    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, Self::Error>;
}

/// A [`StateLedger`] in memory: for tests and single-process hosts.
#[derive(Debug, Clone, Default)]
pub struct UsedStates {
    used: HashMap<StateId, DateTime<Utc>>,
}

impl UsedStates {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets states that expired before `now`; call it now and then to bound memory.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.used.retain(|_, expires_at| *expires_at >= now);
    }

    /// How many states are recorded.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// Whether no state is recorded.
    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }
}

impl StateLedger for UsedStates {
    type Error = Infallible;

    fn mark_used(&mut self, id: &StateId, expires_at: DateTime<Utc>) -> Result<bool, Infallible> {
        Ok(self.used.insert(id.clone(), expires_at).is_none())
    }
}
