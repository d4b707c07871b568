//! Page tokens (the API's `cursor`): URL-safe base64 of the last returned item's key attributes
//! as JSON. They come back from clients, so decoding bounds the size and checks that the token
//! has exactly the listing's key attributes and its partition value.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::StoreError;

/// Page tokens longer than this were not issued by us.
pub const MAX_TOKEN_LEN: usize = 2048;

/// The token for a page that ends at the item with these (string) key attributes.
pub fn encode(key: &BTreeMap<&str, &str>) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a token for a listing over `key_attrs` whose partition attribute `fixed.0` must
/// hold `fixed.1`; anything else was not issued by this listing.
pub fn decode(
    token: &str,
    key_attrs: &[&str],
    fixed: (&str, &str),
) -> Result<BTreeMap<String, String>, StoreError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(StoreError::InvalidPageToken);
    }
    let json = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| StoreError::InvalidPageToken)?;
    let plain: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidPageToken)?;
    let same_attrs =
        plain.len() == key_attrs.len() && key_attrs.iter().all(|a| plain.contains_key(*a));
    if !same_attrs || plain.get(fixed.0).map(String::as_str) != Some(fixed.1) {
        return Err(StoreError::InvalidPageToken);
    }
    Ok(plain)
}
