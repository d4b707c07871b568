//! One module per resource. Handlers are thin: decode and validate input, make one store call
//! (so a request either writes everything or nothing), shape the answer.

pub mod alerts;
pub mod certs;
pub mod domains;
pub mod health;
pub mod keys;
pub mod status;
pub mod test_alert;
pub mod ui;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use http::request::Parts;
use serde::Serialize;

use ctguard::api_input;
use ctguard::hash::Sha256Hash;
use ctguard::store::{Page, PageRequest};

use crate::auth::Caller;
use crate::config::ApiSettings;
use crate::cursor::CursorKey;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// Everything a handler needs about the current request.
pub struct Ctx<'a> {
    /// The request's method, URI and headers (the body is [`Ctx::body`]).
    pub request: &'a Parts,
    /// The body as read after the checks: its bytes, or why they could not be read (413, 408).
    pub body: Result<Bytes, ApiError>,
    pub caller: &'a Caller,
    /// The decoded path parameter (for routes that have one).
    pub param: &'a str,
    pub query: Query,
    pub settings: &'a ApiSettings,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    /// The body bytes, or the error reading them gave (413 over the limit, 408 too slow).
    pub fn body(&self) -> ApiResult<&[u8]> {
        self.body.as_deref().map_err(Clone::clone)
    }
}

pub use ctguard::api_input::query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use ctguard::api_input::{MAX_NAMES, MAX_NOTE_CHARS, MAX_SOURCE_CHARS};

/// `limit` and `cursor` from the query; the cursor must be one this API issued for `listing`
/// (the route and its filters, as in [`PageView::new`]).
pub fn page_request(ctx: &Ctx<'_>, listing: &str) -> ApiResult<PageRequest> {
    page_request_with(&ctx.query, &ctx.settings.cursor_key, listing)
}

fn page_request_with(query: &Query, key: &CursorKey, listing: &str) -> ApiResult<PageRequest> {
    Ok(ctguard::api_input::query::page_request(
        query, key, listing,
    )?)
}

/// A page as the API shows it: `{"items": [...], "next_cursor": "..."|null}`.
#[derive(Debug, Serialize)]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageView<T> {
    /// The page with its next token signed for `listing` (see [`crate::cursor`]).
    pub fn new(page: Page<T>, ctx: &Ctx<'_>, listing: &str) -> Self {
        Self {
            items: page.items,
            next_cursor: page
                .next_token
                .map(|token| ctx.settings.cursor_key.seal(listing, &token)),
        }
    }
}

/// Parses a hash from a path or body field, 400 `invalid_hash` naming the field.
pub fn parse_hash(field: &str, value: &str) -> ApiResult<Sha256Hash> {
    Ok(api_input::parse_hash(field, value)?)
}

/// A DNS name as stored in the inventory (see [`api_input::normalize_name`]), else 400
/// `invalid_name`.
pub fn normalize_name(field: &str, name: &str) -> ApiResult<String> {
    Ok(api_input::normalize_name(field, name)?)
}

/// Optional free text: bounded length, no control characters other than newlines and tabs.
pub fn check_text(
    field: &str,
    value: Option<String>,
    max_chars: usize,
) -> ApiResult<Option<String>> {
    Ok(api_input::check_text(field, value, max_chars)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_are_bounded_and_cursors_verified() {
        let key = CursorKey::new(b"k");
        let page = |q: &str| page_request_with(&Query::parse(Some(q)).unwrap(), &key, "l");
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=",
            "limit=99999999999999999999",
            "cursor=abc",
        ] {
            assert!(page(bad).is_err(), "{bad}");
        }
        let cursor = key.seal("l", "abc");
        assert_eq!(
            page(&format!("cursor={cursor}")).unwrap(),
            PageRequest {
                limit: DEFAULT_PAGE_SIZE,
                token: Some("abc".into())
            }
        );
    }

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(
            normalize_name("n", " WWW.Example.ORG. ").unwrap(),
            "www.example.org"
        );
        assert_eq!(
            normalize_name("n", "*.example.org").unwrap(),
            "*.example.org"
        );
        for bad in ["", ".", "exa mple.org", "bücher.de", &"a".repeat(254)] {
            assert_eq!(
                normalize_name("n", bad).unwrap_err().code,
                "invalid_name",
                "{bad}"
            );
        }
    }

    #[test]
    fn text_fields_are_bounded() {
        assert_eq!(
            check_text("note", Some("a\nb".into()), 10)
                .unwrap()
                .as_deref(),
            Some("a\nb")
        );
        assert!(check_text("note", Some("x".repeat(11)), 10).is_err());
        assert!(check_text("note", Some("a\u{0}b".into()), 10).is_err());
        assert_eq!(check_text("note", None, 10).unwrap(), None);
    }
}
