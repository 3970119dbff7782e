//! Serde for the secrets that the host must store (tokens, the PKCE verifier in [`PendingAuth`]).
//!
//! The serialized form is the secret in clear: that is its purpose. Store it encrypted.
//!
//! [`PendingAuth`]: super::PendingAuth

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::pkce::PkceVerifier;
use crate::secret::{AccessToken, RefreshToken};

macro_rules! serde_as_string {
    ($($name:ty),*) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.expose_secret())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    )*};
}

serde_as_string!(AccessToken, RefreshToken, PkceVerifier);
