//! `/keys`: public keys authorized on their own (every certificate for the key is authorized).

use http::StatusCode;
use lambda_http::{Body, Response};

use ctguard::api_input::body::KeyJson;
use ctguard::api_input::query::KEYS_LISTING;
use ctguard::hash::Sha256Hash;
use ctguard::model::AuthorizedKey;
use ctguard::store::{InventoryStore, PutOutcome};

use super::{
    Ctx, MAX_NAMES, MAX_NOTE_CHARS, PageView, check_text, normalize_name, page_request, parse_hash,
};
use crate::body::{self, ContentKind};
use crate::error::{ApiError, ApiResult};
use crate::material::public_key_with_names;
use crate::push;
use crate::response::{json, no_content, upserted};

/// Sorted, deduplicated, normalised names, at most [`MAX_NAMES`].
fn key_names(names: &[String]) -> ApiResult<Vec<String>> {
    if names.len() > MAX_NAMES {
        return Err(ApiError::bad_request(
            "too_many_names",
            format!("{} names; at most {MAX_NAMES} are accepted", names.len()),
        ));
    }
    let mut names = names
        .iter()
        .map(|n| normalize_name("dns_names", n))
        .collect::<ApiResult<Vec<_>>>()?;
    names.sort();
    names.dedup();
    Ok(names)
}

fn key_from_request(ctx: &Ctx<'_>) -> ApiResult<AuthorizedKey> {
    let kind = body::content_kind(ctx.request, &[ContentKind::Json, ContentKind::Pem])?;
    let bytes = body::bytes(ctx.request, ctx.settings.max_body_bytes)?;
    let (pubkey_sha256, dns_names, note, expires_at): (Sha256Hash, _, _, _) = match kind {
        ContentKind::Json => {
            let input: KeyJson = body::json(bytes)?;
            let (hash, cert_names) = match (input.pubkey_sha256.as_deref(), input.pem.as_deref()) {
                (Some(hash), None) => (parse_hash("pubkey_sha256", hash)?, Vec::new()),
                (None, Some(pem)) => public_key_with_names(pem.as_bytes())?,
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request(
                        "invalid_field",
                        "give either pubkey_sha256 or pem, not both",
                    ));
                }
                (None, None) => {
                    return Err(ApiError::bad_request(
                        "missing_field",
                        "give pubkey_sha256, or pem (a public key or certificate)",
                    ));
                }
            };
            // A certificate's own names always count: a push is held to all of them.
            let mut names = cert_names;
            names.extend(input.dns_names);
            (
                hash,
                key_names(&names)?,
                check_text("note", input.note, MAX_NOTE_CHARS)?,
                input.expires_at,
            )
        }
        _ => {
            let (hash, names) = public_key_with_names(bytes)?;
            (hash, key_names(&names)?, None, None)
        }
    };
    if expires_at.is_some_and(|t| t <= ctx.now) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "expires_at is in the past",
        ));
    }
    Ok(AuthorizedKey {
        pubkey_sha256,
        dns_names,
        note,
        sources: vec![ctx.caller.label.clone()],
        source: ctx.caller.label.clone(),
        added_at: ctx.now,
        expires_at,
        compromised: None,
    })
}

/// POST /keys: 201 when new, 200 when known. A push adds a key or its label to a known key's
/// sources, nothing else; an admin replaces the record ([`crate::push`]).
pub async fn post<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let key = key_from_request(ctx)?;
    let (outcome, stored) = push::write_key(store, ctx.caller, &key).await?;
    tracing::info!(pubkey = %stored.pubkey_sha256, by = %ctx.caller.label, ?outcome, "key authorized");
    let location = format!("/keys/{}", stored.pubkey_sha256);
    upserted(outcome == PutOutcome::Created, &location, &stored)
}

/// GET /keys?limit=&cursor=
pub async fn list<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let page = store.list_keys(&page_request(ctx, KEYS_LISTING)?).await?;
    json(StatusCode::OK, &PageView::new(page, ctx, KEYS_LISTING))
}

/// DELETE /keys/{pubkey_sha256}
pub async fn delete<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let pubkey = parse_hash("pubkey_sha256", ctx.param)?;
    if store.delete_key(&pubkey).await? {
        tracing::info!(%pubkey, by = %ctx.caller.label, "key deleted");
        Ok(no_content())
    } else {
        Err(ApiError::not_found(format!(
            "no authorized key with hash {pubkey}"
        )))
    }
}
