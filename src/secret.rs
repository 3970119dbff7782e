//! Redacted holders for secrets: signing secrets, client secrets, tokens.
//!
//! A secret's `Debug` and `Display` print `[redacted]`; the value comes out only through a method named
//! `expose_secret`, so that every place that reads it is easy to find in review. Equality is constant time.

use subtle::ConstantTimeEq;

/// Declares a newtype over `String` that never prints its value.
///
/// Each secret kind gets its own type (a client secret cannot be passed where a token is expected); all share this
/// one definition.
macro_rules! secret_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Clone)]
        $vis struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Call it only where the value is sent or stored, never to print it.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                $crate::secret::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}
pub(crate) use secret_type;

/// Implements `Serialize` and `Deserialize` for secret types the host must store (tokens, routing secrets, the PKCE
/// verifier of a pending authorization). The serialized form is the secret in clear: that is its purpose, so store
/// it encrypted and never log it. Secrets the host only configures (client and signing secrets) stay unserializable.
macro_rules! serde_as_string {
    ($($name:ty),* $(,)?) => {$(
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.expose_secret())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(deserializer).map(Self::new)
            }
        }
    )*};
}
pub(crate) use serde_as_string;

secret_type! {
    /// A secret string with no more specific type: `Debug` and `Display` print `[redacted]`.
    ///
    /// ```
    /// use spark_integrations::Secret;
    /// let secret = Secret::new("It's a Secret to Everybody");
    /// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    /// assert_eq!(secret.to_string(), "[redacted]");
    /// assert_eq!(secret.expose_secret(), "It's a Secret to Everybody");
    /// ```
    pub struct Secret;
}

/// Compares two byte strings in time that depends only on their lengths, never on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

secret_type! {
    /// An OAuth access token: sent with API requests, never printed.
    pub struct AccessToken;
}

secret_type! {
    /// An OAuth refresh token: exchanged for new access tokens, never printed.
    pub struct RefreshToken;
}

serde_as_string!(AccessToken, RefreshToken);
