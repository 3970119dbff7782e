//! HMAC helpers shared by every signature scheme: key once per secret, feed the signed parts in order (never a
//! concatenated copy of the body), compare in constant time with [`Mac::verify_slice`].

use hmac::{Hmac, KeyInit, Mac};

/// HMAC-SHA256, used by GitHub, Slack and Standard Webhooks.
pub(crate) type HmacSha256 = Hmac<sha2::Sha256>;

/// HMAC-SHA1, used only by GitHub's legacy `X-Hub-Signature`.
pub(crate) type HmacSha1 = Hmac<sha1::Sha1>;

/// Whether any of `keys` signed the concatenation of `parts` with any of `tags`.
///
/// The parts are fed to the MAC one after the other, so a prefix such as Slack's `v0:{timestamp}:` costs no copy of
/// the body. The MAC over the parts is computed once per key; each tag is compared with [`Mac::verify_slice`],
/// which checks the length and compares in constant time.
pub(crate) fn signed_by_any<M: Mac + KeyInit + Clone>(
    keys: &[impl AsRef<[u8]>],
    parts: &[&[u8]],
    tags: &[&[u8]],
) -> bool {
    keys.iter().any(|key| {
        let mac = keyed::<M>(key.as_ref(), parts);
        match tags {
            [tag] => mac.verify_slice(tag).is_ok(),
            _ => tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()),
        }
    })
}

/// The MAC keyed with `key` after absorbing `parts` in order.
pub(crate) fn keyed<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> M {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}
