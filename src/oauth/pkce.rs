//! PKCE (RFC 7636) with the S256 method, the only one this crate sends.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secret::secret_type;

secret_type! {
    /// A PKCE code verifier: kept in [`PendingAuth`](super::PendingAuth), sent only in the token request.
    ///
    /// ```
    /// use spark_integrations::oauth::PkceVerifier;
    /// // RFC 7636 appendix B.
    /// let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    /// assert_eq!(verifier.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /// ```
    pub struct PkceVerifier;
}

crate::secret::serde_as_string!(PkceVerifier);

/// The `code_challenge_method` this crate always uses.
pub const CHALLENGE_METHOD: &str = "S256";

impl PkceVerifier {
    /// The S256 `code_challenge`: BASE64URL(SHA-256(verifier)) without padding.
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.expose_secret().as_bytes()))
    }

    /// A 43-character verifier (256 bits) derived from the caller's random bytes.
    pub(crate) fn derive(random: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"spark-integrations oauth pkce verifier\0")
            .chain_update(random)
            .finalize();
        Self::new(URL_SAFE_NO_PAD.encode(digest))
    }
}
