//! `/certs`: the inventory of certificates load balancers deployed.

use axum::response::Response;
use http::StatusCode;

use ctguard::api_input::body::CertJson;
use ctguard::api_input::query::{certs_listing, certs_name};
use ctguard::cert::CertIdentity;
use ctguard::model::{AuthorizedKey, InventoryCert};
use ctguard::store::{AlertStore, InventoryStore, PutOutcome};

use super::{
    Ctx, MAX_NAMES, MAX_NOTE_CHARS, MAX_SOURCE_CHARS, PageView, check_text, normalize_name,
    page_request, parse_hash,
};
use crate::auth::Role;
use crate::body::{self, ContentKind};
use crate::error::{ApiError, ApiResult};
use crate::material::leaf_certificate;
use crate::push;
use crate::response::{json, no_content, upserted};
use crate::time;

/// What a POST /certs stores: a certificate record, or (only a public-key hash given) a key.
enum Record {
    Cert(InventoryCert),
    Key(AuthorizedKey),
}

fn check_name_count(count: usize) -> ApiResult<()> {
    if count > MAX_NAMES {
        return Err(ApiError::bad_request(
            "too_many_names",
            format!("the certificate has {count} names; at most {MAX_NAMES} are accepted"),
        ));
    }
    Ok(())
}

fn from_identity(ctx: &Ctx<'_>, leaf: CertIdentity, source: String) -> ApiResult<InventoryCert> {
    check_name_count(leaf.dns_names.len())?;
    time::check("the certificate's notBefore", leaf.not_before)?;
    time::check("the certificate's notAfter", leaf.not_after)?;
    Ok(InventoryCert {
        tbs_sha256: leaf.tbs_sha256,
        pubkey_sha256: Some(leaf.pubkey_sha256),
        cert_sha256: Some(leaf.cert_sha256),
        dns_names: leaf.dns_names,
        not_before: Some(leaf.not_before),
        not_after: Some(leaf.not_after),
        serial: Some(leaf.serial),
        issuer: Some(leaf.issuer),
        sources: vec![source.clone()],
        source,
        added_at: ctx.now,
        updated_at: ctx.now,
        expires_at: Some(time::add_capped(
            leaf.not_after,
            ctx.settings.cert_retention,
        )),
        has_scts: leaf.has_sct_list,
        ct_seen_at: None,
        not_logged_alerted_at: None,
    })
}

fn from_explicit(ctx: &Ctx<'_>, input: CertJson, source: String) -> ApiResult<Record> {
    check_name_count(input.dns_names.len())?;
    let dns_names = {
        let mut names = input
            .dns_names
            .iter()
            .map(|n| normalize_name("dns_names", n))
            .collect::<ApiResult<Vec<_>>>()?;
        names.sort();
        names.dedup();
        names
    };
    if let (Some(nb), Some(na)) = (input.not_before, input.not_after)
        && na < nb
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            "not_after is before not_before",
        ));
    }
    let expires_at = input
        .not_after
        .map(|t| time::add_capped(t, ctx.settings.cert_retention));
    let pubkey = input
        .pubkey_sha256
        .as_deref()
        .map(|h| parse_hash("pubkey_sha256", h))
        .transpose()?;
    match (input.tbs_sha256.as_deref(), pubkey) {
        (Some(tbs), pubkey) => Ok(Record::Cert(InventoryCert {
            tbs_sha256: parse_hash("tbs_sha256", tbs)?,
            pubkey_sha256: pubkey,
            cert_sha256: None,
            dns_names,
            not_before: input.not_before,
            not_after: input.not_after,
            serial: check_text("serial", input.serial, 128)?,
            issuer: check_text("issuer", input.issuer, MAX_NOTE_CHARS)?,
            sources: vec![source.clone()],
            source,
            added_at: ctx.now,
            updated_at: ctx.now,
            expires_at,
            // Not known without the certificate: exempt from the never-logged check.
            has_scts: false,
            ct_seen_at: None,
            not_logged_alerted_at: None,
        })),
        // Only the key is known (e.g. from the CSR): authorizing the key authorizes the cert.
        (None, Some(pubkey_sha256)) => Ok(Record::Key(AuthorizedKey {
            pubkey_sha256,
            dns_names: dns_names.clone(),
            note: (!dns_names.is_empty()).then(|| {
                let mut note = format!("certificate for {}", dns_names.join(", "));
                if note.chars().count() > MAX_NOTE_CHARS {
                    note = note.chars().take(MAX_NOTE_CHARS - 1).collect();
                    note.push('…');
                }
                note
            }),
            sources: vec![source.clone()],
            source,
            added_at: ctx.now,
            expires_at,
            compromised: None,
        })),
        (None, None) => Err(ApiError::bad_request(
            "missing_field",
            "give pem, tbs_sha256 or pubkey_sha256",
        )),
    }
}

fn record_from_request(ctx: &Ctx<'_>) -> ApiResult<Record> {
    let kind = body::content_kind(
        &ctx.request.headers,
        &[ContentKind::Pem, ContentKind::Der, ContentKind::Json],
    )?;
    let bytes = ctx.body()?;
    let label = ctx.caller.label.clone();
    match kind {
        ContentKind::Pem | ContentKind::Der => {
            from_identity(ctx, leaf_certificate(bytes)?, label).map(Record::Cert)
        }
        ContentKind::Json => {
            let mut input: CertJson = body::json(bytes)?;
            let source = match (ctx.caller.role, input.source.take()) {
                (Role::Admin, Some(source)) => {
                    check_text("source", Some(source), MAX_SOURCE_CHARS)?
                        .filter(|s| !s.trim().is_empty())
                        .unwrap_or(label)
                }
                _ => label,
            };
            match input.pem.take() {
                Some(_) if input.has_explicit_fields() => Err(ApiError::bad_request(
                    "invalid_field",
                    "give either pem or explicit hashes, not both",
                )),
                Some(pem) => {
                    from_identity(ctx, leaf_certificate(pem.as_bytes())?, source).map(Record::Cert)
                }
                None => from_explicit(ctx, input, source),
            }
        }
    }
}

/// POST /certs: 201 when new, 200 when known. A push adds a record or its label to a known
/// record's sources, nothing else; an admin replaces the record ([`crate::push`]).
pub async fn post<S: InventoryStore + AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    match record_from_request(ctx)? {
        Record::Cert(cert) => {
            let (outcome, stored) = push::write_cert(store, ctx.caller, &cert).await?;
            push::track_expiry(store, &stored, ctx.now).await?;
            tracing::info!(tbs = %stored.tbs_sha256, by = %ctx.caller.label, ?outcome, "certificate pushed");
            let location = format!("/certs/{}", stored.tbs_sha256);
            upserted(outcome == PutOutcome::Created, &location, &stored)
        }
        Record::Key(key) => {
            let (outcome, stored) = push::write_key(store, ctx.caller, &key).await?;
            tracing::info!(pubkey = %stored.pubkey_sha256, by = %ctx.caller.label, ?outcome, "key pushed via /certs");
            let location = format!("/keys/{}", stored.pubkey_sha256);
            upserted(outcome == PutOutcome::Created, &location, &stored)
        }
    }
}

/// GET /certs?name=&limit=&cursor=
pub async fn list<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = certs_name(&ctx.query)?;
    let listing = certs_listing(name.as_deref());
    let page = store
        .list_certs(name.as_deref(), &page_request(ctx, &listing)?)
        .await?;
    json(StatusCode::OK, &PageView::new(page, ctx, &listing))
}

/// GET /certs/{tbs_sha256}
pub async fn get<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let tbs = parse_hash("tbs_sha256", ctx.param)?;
    match store.get_cert(&tbs).await? {
        Some(cert) => json(StatusCode::OK, &cert),
        None => Err(ApiError::not_found(format!(
            "no certificate with TBS hash {tbs}"
        ))),
    }
}

/// DELETE /certs/{tbs_sha256}
pub async fn delete<S: InventoryStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let tbs = parse_hash("tbs_sha256", ctx.param)?;
    if store.delete_cert(&tbs).await? {
        tracing::info!(%tbs, by = %ctx.caller.label, "certificate deleted");
        Ok(no_content())
    } else {
        Err(ApiError::not_found(format!(
            "no certificate with TBS hash {tbs}"
        )))
    }
}
