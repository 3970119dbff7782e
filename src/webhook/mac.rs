//! MAC and token comparisons shared by every signature scheme: key once per secret, feed the signed parts in order
//! (never a concatenated copy of the body), compare in constant time over raw bytes.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

type HmacSha256 = Hmac<Sha256>;

/// Whether any of `keys` signed the concatenation of `parts` with HMAC-SHA256 giving any of `tags` (raw digest
/// bytes: decode hex or base64 first). The building block of GitHub's, Slack's and Standard Webhooks' schemes, open
/// to any other.
///
/// The parts are fed in order, so a prefix such as `{id}.{timestamp}.` costs no copy of the body; each tag is
/// checked for length and compared in constant time.
///
/// ```
/// use spark_integrations::webhook::hmac_sha256_matches;
///
/// // RFC 4231, test case 2.
/// let tag = hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")?;
/// assert!(hmac_sha256_matches(&[b"Jefe"], &[b"what do ya want ", b"for nothing?"], &[&tag]));
/// assert!(!hmac_sha256_matches(&[b"Jeff"], &[b"what do ya want for nothing?"], &[&tag]));
/// # Ok::<(), hex::FromHexError>(())
/// ```
pub fn hmac_sha256_matches(keys: &[impl AsRef<[u8]>], parts: &[&[u8]], tags: &[&[u8]]) -> bool {
    keys.iter().any(|key| {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.as_ref()).expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        match tags {
            [tag] => mac.verify_slice(tag).is_ok(),
            _ => tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()),
        }
    })
}

/// Whether the token a delivery carried equals any of `secrets`, for schemes that send a shared secret instead of a
/// signature (GitLab's `X-Gitlab-Token`).
///
/// Both sides are hashed with SHA-256 and the digests compared in constant time, so neither the content nor the
/// length of a secret leaks through timing; every secret is compared, whichever matches.
///
/// ```
/// use spark_integrations::webhook::token_matches_any;
///
/// assert!(token_matches_any(b"s3cret", &[b"old".as_slice(), b"s3cret"]));
/// assert!(!token_matches_any(b"s3cre", &[b"s3cret"]));
/// ```
pub fn token_matches_any(token: &[u8], secrets: &[impl AsRef<[u8]>]) -> bool {
    let given = Sha256::digest(token);
    secrets.iter().fold(false, |matched, secret| {
        let expected = Sha256::digest(secret.as_ref());
        matched | bool::from(given.ct_eq(&expected))
    })
}
