//! `/keys`: public keys authorized on their own (every certificate for the key within the
//! key's names is authorized), from a hash, a PEM key or certificate, or a CSR; and
//! `/keys/compromised`, keys that authorize nothing and make every certificate `critical`.

use axum::response::Response;
use http::StatusCode;

use ctguard::api_input::body::{CompromisedJson, KeyJson};
use ctguard::api_input::query::KEYS_LISTING;
use ctguard::hash::Sha256Hash;
use ctguard::model::{AuthorizedKey, Compromise};
use ctguard::store::{InventoryStore, PutOutcome};

use super::{
    Ctx, MAX_NAMES, MAX_NOTE_CHARS, PageView, check_text, normalize_name, page_request, parse_hash,
};
use crate::body::{self, ContentKind};
use crate::error::{ApiError, ApiResult};
use crate::material::{public_key_with_names, verified_csr};
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

/// The key of a request, given exactly one way: a hash, a PEM key or certificate, or a CSR
/// (signature verified). The names the material itself carries: a certificate's, a CSR's.
fn key_material(
    pubkey_sha256: Option<&str>,
    pem: Option<&str>,
    csr: Option<&str>,
) -> ApiResult<(Sha256Hash, Material)> {
    match (pubkey_sha256, pem, csr) {
        (Some(hash), None, None) => Ok((parse_hash("pubkey_sha256", hash)?, Material::Hash)),
        (None, Some(pem), None) => {
            let (hash, names) = public_key_with_names(pem.as_bytes())?;
            Ok((hash, Material::Certificate(names)))
        }
        (None, None, Some(csr)) => {
            let (hash, names) = verified_csr(csr.as_bytes())?;
            Ok((hash, Material::Csr(names)))
        }
        (None, None, None) => Err(ApiError::bad_request(
            "missing_field",
            "give pubkey_sha256, pem (a public key or certificate) or csr (a PEM certificate \
             request)",
        )),
        _ => Err(ApiError::bad_request(
            "invalid_field",
            "give only one of pubkey_sha256, pem and csr",
        )),
    }
}

/// Where a key came from, with the names it carries.
enum Material {
    Hash,
    /// A certificate's names (none for a bare public key): always part of the key's scope.
    Certificate(Vec<String>),
    /// A CSR's requested names: the key's scope unless the caller gives `dns_names`.
    Csr(Vec<String>),
}

impl Material {
    /// The key's scope from the material's names and the caller's `dns_names`.
    fn scope(self, given: Vec<String>) -> Vec<String> {
        match self {
            Material::Hash => given,
            Material::Certificate(mut names) => {
                names.extend(given);
                names
            }
            Material::Csr(names) if given.is_empty() => names,
            Material::Csr(_) => given,
        }
    }
}

fn key_from_request(ctx: &Ctx<'_>) -> ApiResult<AuthorizedKey> {
    let kind = body::content_kind(&ctx.request.headers, &[ContentKind::Json, ContentKind::Pem])?;
    let bytes = ctx.body()?;
    let (pubkey_sha256, dns_names, note, expires_at): (Sha256Hash, _, _, _) = match kind {
        ContentKind::Json => {
            let input: KeyJson = body::json(bytes)?;
            let (hash, material) = key_material(
                input.pubkey_sha256.as_deref(),
                input.pem.as_deref(),
                input.csr.as_deref(),
            )?;
            (
                hash,
                key_names(&material.scope(input.dns_names))?,
                check_text("note", input.note, MAX_NOTE_CHARS)?,
                input.expires_at,
            )
        }
        _ if ctguard::csr::is_pem_request(bytes) => {
            let (hash, names) = verified_csr(bytes)?;
            (hash, key_names(&names)?, None, None)
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

/// POST /keys/compromised (admin): marks a key compromised. From then on it authorizes
/// nothing and every new certificate for it is `critical` (`compromised_key`), pushed or
/// not. 201 when the key was not in the inventory, 200 when it was (its record keeps its
/// names and sources and loses its expiry, so the mark lasts).
pub async fn compromised<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let kind = body::content_kind(&ctx.request.headers, &[ContentKind::Json, ContentKind::Pem])?;
    let bytes = ctx.body()?;
    let (pubkey_sha256, note) = match kind {
        ContentKind::Json => {
            let input: CompromisedJson = body::json(bytes)?;
            let (hash, _) = key_material(
                input.pubkey_sha256.as_deref(),
                input.pem.as_deref(),
                input.csr.as_deref(),
            )?;
            (hash, check_text("note", input.note, MAX_NOTE_CHARS)?)
        }
        _ if ctguard::csr::is_pem_request(bytes) => (verified_csr(bytes)?.0, None),
        _ => (public_key_with_names(bytes)?.0, None),
    };
    let key = AuthorizedKey {
        pubkey_sha256,
        dns_names: Vec::new(),
        note: None,
        source: ctx.caller.label.clone(),
        sources: vec![ctx.caller.label.clone()],
        added_at: ctx.now,
        expires_at: None,
        compromised: Some(Compromise {
            at: ctx.now,
            by: ctx.caller.label.clone(),
            note,
        }),
    };
    let (outcome, stored) = store.mark_compromised(&key).await?;
    tracing::warn!(pubkey = %stored.pubkey_sha256, by = %ctx.caller.label, "key marked compromised");
    let location = format!("/keys/{}", stored.pubkey_sha256);
    upserted(outcome == PutOutcome::Created, &location, &stored)
}

/// POST /keys: 201 when new, 200 when known. A push adds a key or its label to a known key's
/// sources, nothing else; an admin replaces the record ([`crate::push`]).
pub async fn post<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let key = key_from_request(ctx)?;
    let (outcome, stored) = push::write_key(store, ctx.caller, &key).await?;
    tracing::info!(pubkey = %stored.pubkey_sha256, by = %ctx.caller.label, ?outcome, "key authorized");
    let location = format!("/keys/{}", stored.pubkey_sha256);
    upserted(outcome == PutOutcome::Created, &location, &stored)
}

/// GET /keys?limit=&cursor=
pub async fn list<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let page = store.list_keys(&page_request(ctx, KEYS_LISTING)?).await?;
    json(StatusCode::OK, &PageView::new(page, ctx, KEYS_LISTING))
}

/// DELETE /keys/{pubkey_sha256}
pub async fn delete<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
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
