//! Pagination cursors as clients see them: the store's page token with an HMAC-SHA256 tag,
//! `<token>.<base64url(tag)>`. The tag covers the listing the cursor belongs to (route and
//! filters) and the token, so a client can pass a cursor back but cannot forge, alter or
//! move one to another listing: the store never sees a start key the API did not issue.
//!
//! The key is per deployment (`CURSOR_KEY_PARAM` / `CURSOR_KEY`, see the API's `config`), or
//! derived from the token configuration when none is set (see [`CursorKey::derived`]).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::InputError;

type HmacSha256 = Hmac<Sha256>;

/// Longer cursors are refused unread (store tokens are a few hundred bytes at most).
pub const MAX_CURSOR_LEN: usize = 2048;
/// base64url (no padding) of a 32-byte tag.
const TAG_LEN: usize = 43;
/// Domain separation: a tag made for anything else never verifies as a cursor.
const LABEL: &[u8] = b"ctguard cursor v1\0";

/// The cursor signing key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct CursorKey {
    mac: HmacSha256,
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

impl CursorKey {
    /// A configured key (any length; HMAC hashes long keys).
    pub fn new(key: &[u8]) -> Self {
        Self {
            // HMAC accepts keys of any length; this cannot fail.
            mac: <HmacSha256 as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        }
    }

    /// A key derived from configuration secrets (`parts`, e.g. every configured token hash):
    /// HMAC-SHA256 keyed with a fixed label over the parts, length-prefixed.
    pub fn derived<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut mac = Self::new(b"ctguard cursor key derivation v1").mac;
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Self::new(&mac.finalize().into_bytes())
    }

    fn tag(&self, listing: &str, token: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(LABEL);
        mac.update(&(listing.len() as u64).to_be_bytes());
        mac.update(listing.as_bytes());
        mac.update(token.as_bytes());
        mac
    }

    /// The cursor for `token` (a store page token) in `listing` (route and filters).
    pub fn seal(&self, listing: &str, token: &str) -> String {
        let tag = self.tag(listing, token).finalize().into_bytes();
        format!("{token}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The store token inside `cursor`, if this key issued it for `listing`;
    /// `invalid_cursor` for anything else (tampered, truncated, other key, other listing).
    pub fn open<'c>(&self, listing: &str, cursor: &'c str) -> Result<&'c str, InputError> {
        let invalid = || {
            InputError::new(
                "invalid_cursor",
                "the cursor is not one this API issued for this listing \
                 (pass next_cursor back unchanged, with the same filters)",
            )
        };
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let (token, tag) = cursor.rsplit_once('.').ok_or_else(invalid)?;
        if token.is_empty() || tag.len() != TAG_LEN {
            return Err(invalid());
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        // Constant-time comparison.
        self.tag(listing, token)
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_cursor_opens_only_with_its_key_and_listing() {
        let key = CursorKey::new(b"k1");
        let cursor = key.seal("certs", "eyJwayI6ImEifQ");
        assert_eq!(key.open("certs", &cursor).unwrap(), "eyJwayI6ImEifQ");
        assert!(cursor.starts_with("eyJwayI6ImEifQ."));
        assert_eq!(
            CursorKey::new(b"k2")
                .open("certs", &cursor)
                .unwrap_err()
                .code,
            "invalid_cursor"
        );
        assert!(key.open("keys", &cursor).is_err());
        assert!(key.open("certs\nname=x", &cursor).is_err());
    }

    #[test]
    fn tampered_truncated_and_oversized_cursors_are_refused() {
        let key = CursorKey::new(b"k");
        let cursor = key.seal("keys", "12");
        let (token, tag) = cursor.rsplit_once('.').unwrap();
        let flipped = {
            let mut t: Vec<u8> = tag.bytes().collect();
            t[0] = if t[0] == b'A' { b'B' } else { b'A' };
            String::from_utf8(t).unwrap()
        };
        for bad in [
            String::new(),
            token.to_owned(),
            format!("13.{tag}"),
            format!("{token}.{flipped}"),
            cursor[..cursor.len() - 1].to_owned(),
            format!("{cursor}A"),
            format!(".{tag}"),
            format!("{token}.{}", "A".repeat(TAG_LEN)),
            format!("{token}.{}", "!".repeat(TAG_LEN)),
            format!("{}.{tag}", "1".repeat(MAX_CURSOR_LEN)),
        ] {
            assert!(key.open("keys", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_keys_depend_on_every_part_and_its_boundaries() {
        let a = CursorKey::derived([&b"ab"[..], b"c"]).seal("l", "t");
        let b = CursorKey::derived([&b"a"[..], b"bc"]).seal("l", "t");
        let c = CursorKey::derived([&b"ab"[..], b"c"]).seal("l", "t");
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert!(!format!("{:?}", CursorKey::new(b"secret")).contains("secret"));
    }
}
