//! `GET /ui`, `/ui/app.js`, `/ui/app.css`: the operators' triage page. One small page, its
//! script and its stylesheet, embedded in the binary (`functions/api/ui/`); nothing is loaded
//! from anywhere else. The page holds no data: it is public, and asks the operator for a token
//! that it keeps in `sessionStorage` and sends only to this API (`connect-src 'self'`).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// Only this origin's script and stylesheet, no inline code, only fetches to this API, no
/// framing, no `<base>`, no form submissions (the page's forms are handled by its script).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

/// The page's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Page,
    Script,
    Style,
}

impl Asset {
    fn content(self) -> (&'static str, &'static str) {
        match self {
            Asset::Page => ("text/html; charset=utf-8", INDEX_HTML),
            Asset::Script => ("text/javascript; charset=utf-8", APP_JS),
            Asset::Style => ("text/css; charset=utf-8", APP_CSS),
        }
    }
}

/// One of the page's files with the security headers.
pub fn get(asset: Asset) -> Response {
    let (content_type, text) = asset.content();
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Small files: revalidated on every load, so a deploy is seen at once.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
