//! `/domains`: the watch list, with each entry's poll status.

use axum::response::Response;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;

use ctguard::api_input::body::DomainJson;
use ctguard::domain::WatchDomain;
use ctguard::model::{BackfillMode, WatchEntry};
use ctguard::rules;
use ctguard::store::WatchStore;
use ctguard::watching;

use super::{Ctx, MAX_NOTE_CHARS, check_text};
use crate::body::{self, ContentKind};
use crate::error::{ApiError, ApiResult};
use crate::response::{json, no_content, upserted};

/// A watch entry as the API shows it: the stored entry plus derived freshness.
#[derive(Debug, Serialize)]
pub struct DomainView {
    pub value: WatchDomain,
    pub note: Option<String>,
    pub backfill: BackfillMode,
    pub created_at: DateTime<Utc>,
    pub cursor: Option<String>,
    pub cursor_updated_at: Option<DateTime<Utc>>,
    /// Seconds since the cursor last moved (`null` before the first issuance is seen).
    pub cursor_age_seconds: Option<i64>,
    pub baseline_completed_at: Option<DateTime<Utc>>,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// The latest poll caught up without error (`null` before the first poll).
    pub last_poll_succeeded: Option<bool>,
    /// Polls in a row that neither caught up nor moved the cursor.
    pub stalled_runs: u32,
    /// The poller saw no progress for `STUCK_AFTER_RUNS` polls in a row: CT issuances for this
    /// entry may not be seen. `last_error` says why when known.
    pub stuck: bool,
    pub stuck_since: Option<DateTime<Utc>>,
    /// When the entry last caught up with Cert Spotter (`null`: never).
    pub last_caught_up_at: Option<DateTime<Utc>>,
    pub canary: bool,
    /// Canary only: when the poller last received a new issuance for it.
    pub canary_last_issuance_at: Option<DateTime<Utc>>,
    /// Issuer policy: CAA identifiers of the CAs allowed to issue (empty: any CA).
    pub allowed_issuers: Vec<String>,
}

impl DomainView {
    pub fn new(entry: WatchEntry, now: DateTime<Utc>) -> Self {
        let last_poll_succeeded = entry
            .last_polled_at
            .map(|polled| entry.last_success_at == Some(polled) && entry.last_error.is_none());
        Self {
            cursor_age_seconds: entry
                .cursor_updated_at
                .map(|t| now.signed_duration_since(t).num_seconds()),
            last_poll_succeeded,
            last_caught_up_at: watching::last_caught_up_at(&entry),
            canary: entry.canary,
            canary_last_issuance_at: entry.canary_last_issuance_at,
            allowed_issuers: entry.allowed_issuers,
            value: entry.domain,
            note: entry.note,
            backfill: entry.backfill,
            created_at: entry.created_at,
            cursor: entry.cursor,
            cursor_updated_at: entry.cursor_updated_at,
            baseline_completed_at: entry.baseline_completed_at,
            last_polled_at: entry.last_polled_at,
            last_success_at: entry.last_success_at,
            last_error: entry.last_error,
            rate_limited_until: entry.rate_limited_until,
            stalled_runs: entry.stalled_runs,
            stuck: entry.stuck_since.is_some(),
            stuck_since: entry.stuck_since,
        }
    }
}

fn parse_domain(value: &str) -> ApiResult<WatchDomain> {
    WatchDomain::parse(value).map_err(|e| {
        ApiError::bad_request(
            "invalid_domain",
            format!("{} cannot be watched: {e}", crate::error::echo(value)),
        )
    })
}

/// The issuer policy as given: each a CAA identifier (normalised), sorted, without repeats.
fn parse_allowed_issuers(raw: Vec<String>) -> ApiResult<Vec<String>> {
    if raw.len() > rules::ALLOWED_ISSUERS_MAX {
        return Err(ApiError::bad_request(
            "invalid_allowed_issuers",
            format!(
                "allowed_issuers lists {} CAs; at most {} are accepted",
                raw.len(),
                rules::ALLOWED_ISSUERS_MAX
            ),
        ));
    }
    let mut ids = raw
        .iter()
        .map(|id| {
            rules::parse_caa_identifier_input(id).map_err(|why| {
                ApiError::bad_request(
                    "invalid_allowed_issuers",
                    format!(
                        "allowed_issuers: {} {why} (expected a CAA identifier such as \
                         letsencrypt.org)",
                        crate::error::echo(id)
                    ),
                )
            })
        })
        .collect::<ApiResult<Vec<String>>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// POST /domains: creates the entry (201), or returns the existing one (200), unchanged
/// except for `allowed_issuers` when given.
pub async fn post<S: WatchStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    body::content_kind(&ctx.request.headers, &[ContentKind::Json])?;
    let input: DomainJson = body::json(ctx.body()?)?;
    let domain = parse_domain(&input.value)?;
    let note = check_text("note", input.note, MAX_NOTE_CHARS)?;
    let allowed_issuers = input
        .allowed_issuers
        .map(parse_allowed_issuers)
        .transpose()?;
    let mut entry = WatchEntry::new(domain, note, input.backfill, ctx.now);
    entry.canary = input.canary;
    entry.allowed_issuers = allowed_issuers.clone().unwrap_or_default();
    let created = store.create_watch(&entry).await?;
    let shown = if created {
        tracing::info!(domain = %entry.domain, by = %ctx.caller.label, "watch entry added");
        entry
    } else {
        let existing = store.get_watch(&entry.domain).await?;
        match (existing, allowed_issuers) {
            (Some(mut existing), Some(allowed)) if existing.allowed_issuers != allowed => {
                if store
                    .set_allowed_issuers(&existing.domain, &allowed)
                    .await?
                {
                    tracing::info!(domain = %existing.domain, by = %ctx.caller.label, allowed_issuers = ?allowed, "issuer policy set");
                    existing.allowed_issuers = allowed;
                }
                existing
            }
            (Some(existing), _) => existing,
            (None, _) => entry,
        }
    };
    let location = format!("/domains/{}", shown.domain);
    upserted(created, &location, &DomainView::new(shown, ctx.now))
}

/// GET /domains: every entry with its poll status (watch lists are small: no pagination).
pub async fn list<S: WatchStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let mut entries = store.list_watches().await?;
    entries.sort_by(|a, b| a.domain.cmp(&b.domain));
    let items: Vec<DomainView> = entries
        .into_iter()
        .map(|e| DomainView::new(e, ctx.now))
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "items": items }))
}

/// DELETE /domains/{value}: the value is normalised first, so `Example.ORG.` finds `example.org`.
pub async fn delete<S: WatchStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let domain = parse_domain(ctx.param)?;
    if store.delete_watch(&domain).await? {
        tracing::info!(%domain, by = %ctx.caller.label, "watch entry deleted");
        Ok(no_content())
    } else {
        Err(ApiError::not_found(format!(
            "{domain} is not on the watch list"
        )))
    }
}
