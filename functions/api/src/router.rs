//! The route table as data ([`ROUTES`], checked against `openapi.yaml` by the OpenAPI test) and
//! the one axum [`Router`] built from it ([`router`]), which both the Lambda runtime and the local
//! listener serve.
//!
//! What axum does: matching (a literal segment beats a parameter, so `/alerts/test` is not
//! `/alerts/{tbs_sha256}`), path parameters (percent-decoded). What stays ours, because tests
//! and clients rely on it: JSON 404 and 405 bodies, `Allow` listing a path's methods in table
//! order, HEAD answered 405 rather than by the GET handler, percent-encoded literal segments
//! (`/%63erts`) matching, invalid UTF-8 in the path refused with 400 before routing, and the
//! `request` log line (method, path, status, elapsed_us) for every answer.

use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use http::{Method, Uri};

use crate::app::{App, Store};
use crate::error::{ApiError, echo};
use crate::query::percent_decode;

/// Every operation the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    Healthz,
    Status,
    PostCert,
    ListCerts,
    GetCert,
    DeleteCert,
    PostKey,
    CompromisedKey,
    ListKeys,
    DeleteKey,
    PostDomain,
    ListDomains,
    DeleteDomain,
    ListAlerts,
    GetAlert,
    AckAlert,
    TestAlert,
    UiPage,
    UiScript,
    UiStyle,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed: liveness and the triage page's files (they reveal nothing).
    Public,
    /// Push (load balancer) and admin callers.
    Push,
    /// Admin callers only.
    Admin,
}

/// One row of the route table: `template` segments in braces are path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub template: &'static str,
    pub id: RouteId,
    pub access: Access,
}

const fn route(method: Method, template: &'static str, id: RouteId, access: Access) -> RouteSpec {
    RouteSpec {
        method,
        template,
        id,
        access,
    }
}

/// The route table, documented one-to-one in `openapi.yaml`.
pub static ROUTES: &[RouteSpec] = &[
    route(Method::GET, "/healthz", RouteId::Healthz, Access::Public),
    route(Method::GET, "/status", RouteId::Status, Access::Admin),
    route(Method::POST, "/certs", RouteId::PostCert, Access::Push),
    route(Method::GET, "/certs", RouteId::ListCerts, Access::Admin),
    route(
        Method::GET,
        "/certs/{tbs_sha256}",
        RouteId::GetCert,
        Access::Admin,
    ),
    route(
        Method::DELETE,
        "/certs/{tbs_sha256}",
        RouteId::DeleteCert,
        Access::Admin,
    ),
    route(Method::POST, "/keys", RouteId::PostKey, Access::Push),
    route(Method::GET, "/keys", RouteId::ListKeys, Access::Admin),
    route(
        Method::POST,
        "/keys/compromised",
        RouteId::CompromisedKey,
        Access::Admin,
    ),
    route(
        Method::DELETE,
        "/keys/{pubkey_sha256}",
        RouteId::DeleteKey,
        Access::Admin,
    ),
    route(Method::POST, "/domains", RouteId::PostDomain, Access::Admin),
    route(Method::GET, "/domains", RouteId::ListDomains, Access::Admin),
    route(
        Method::DELETE,
        "/domains/{value}",
        RouteId::DeleteDomain,
        Access::Admin,
    ),
    route(Method::GET, "/alerts", RouteId::ListAlerts, Access::Admin),
    route(
        Method::GET,
        "/alerts/{tbs_sha256}",
        RouteId::GetAlert,
        Access::Admin,
    ),
    route(
        Method::POST,
        "/alerts/{tbs_sha256}/ack",
        RouteId::AckAlert,
        Access::Admin,
    ),
    route(
        Method::POST,
        "/alerts/test",
        RouteId::TestAlert,
        Access::Admin,
    ),
    route(Method::GET, "/ui", RouteId::UiPage, Access::Public),
    route(Method::GET, "/ui/app.js", RouteId::UiScript, Access::Public),
    route(Method::GET, "/ui/app.css", RouteId::UiStyle, Access::Public),
];

/// The query parameters each route accepts; any other is a 400.
pub fn known_query_params(route: RouteId) -> &'static [&'static str] {
    match route {
        RouteId::ListCerts => &["name", "limit", "cursor"],
        RouteId::ListKeys => &["limit", "cursor"],
        RouteId::ListAlerts => &["since", "severity", "domain", "limit", "cursor"],
        _ => &[],
    }
}

/// The API: one route per path template in [`ROUTES`], each method going to
/// [`App::dispatch`] with its row of the table; JSON 404 and 405 for the rest.
pub fn router<S: Store>(app: App<S>) -> Router {
    let mut templates: Vec<&'static str> = Vec::new();
    for spec in ROUTES {
        if !templates.contains(&spec.template) {
            templates.push(spec.template);
        }
    }
    let mut routes = Router::new();
    for template in templates {
        let mut methods = MethodRouter::new();
        for spec in ROUTES.iter().filter(|r| r.template == template) {
            let filter = MethodFilter::try_from(spec.method.clone())
                .expect("the route table uses standard methods");
            methods = methods.on(filter, move |state, param, request| {
                serve_route(spec, state, param, request)
            });
        }
        // Our own 405, with its `Allow` (axum then leaves the header alone).
        let other_method = move |param: Option<Path<String>>, request: Request| async move {
            match param {
                Some(Path(p)) if p.is_empty() => no_route(&request),
                _ => method_not_allowed(template),
            }
        };
        routes = routes.route(template, methods.fallback(other_method));
    }
    let routes = routes
        .fallback(|request: Request| async move { no_route(&request) })
        .with_state(app);
    // Middleware on an outer router runs before the inner one routes (a layer on `routes`
    // would run after matching, too late to rewrite the path).
    Router::new()
        .fallback_service(routes)
        .layer(middleware::map_request(canonical_path))
        .layer(middleware::from_fn(log_request))
}

/// One row of the route table: the checks and the handler ([`App::dispatch`]).
async fn serve_route<S: Store>(
    spec: &'static RouteSpec,
    State(app): State<App<S>>,
    param: Option<Path<String>>,
    request: Request,
) -> Response {
    let param = param.map(|Path(p)| p);
    if param.as_deref() == Some("") {
        return no_route(&request);
    }
    // axum also sends HEAD to a GET route; this API answers it 405, as before.
    if request.method() != spec.method {
        return method_not_allowed(spec.template);
    }
    let mut response = app
        .dispatch(spec, param.as_deref().unwrap_or_default(), request)
        .await;
    // Which row answered, for tests (response extensions never leave the process).
    response.extensions_mut().insert(spec.id);
    response
}

/// 404 naming the path as the client sent it. Also for an empty parameter in the middle of a
/// path (`/alerts//ack`), which axum would match.
fn no_route(request: &Request) -> Response {
    let path = request
        .extensions()
        .get::<WirePath>()
        .map_or_else(|| request.uri().path().to_owned(), |p| p.0.clone());
    ApiError::not_found(format!("no route for {}", echo(&path))).into_response()
}

/// 405 with `Allow`: the methods of `template`, in table order.
fn method_not_allowed(template: &str) -> Response {
    let allow = ROUTES
        .iter()
        .filter(|r| r.template == template)
        .map(|r| r.method.as_str())
        .collect();
    ApiError::method_not_allowed(allow).into_response()
}

/// One `request` line per answer, whatever produced it.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        path,
        status = response.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The path as the client sent it (for messages; routing sees [`canonical`]).
#[derive(Debug, Clone)]
struct WirePath(String);

/// Rewrites the path to its canonical form before routing, so `/%63erts` is `/certs`; a path
/// that is not percent-encoded UTF-8 is a 400 here, before routing and credentials.
async fn canonical_path(mut request: Request) -> Result<Request, Response> {
    let wire = request.uri().path().to_owned();
    let path = canonical(&wire).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_path",
            "the path is not valid percent-encoded UTF-8",
        )
        .into_response()
    })?;
    if path != wire {
        let mut parts = request.uri().clone().into_parts();
        let target = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        parts.path_and_query = Some(target.parse().map_err(|_| {
            ApiError::bad_request("invalid_path", "the path could not be normalised")
                .into_response()
        })?);
        *request.uri_mut() = Uri::from_parts(parts).map_err(|_| {
            ApiError::bad_request("invalid_path", "the path could not be normalised")
                .into_response()
        })?;
    }
    request.extensions_mut().insert(WirePath(wire));
    Ok(request)
}

/// Each segment decoded, then encoded again with every byte other than RFC 3986's unreserved
/// characters escaped. Splitting before decoding keeps an encoded `/` (`%2F`) inside its
/// segment; axum decodes the parameters again. `None` when a segment is not UTF-8.
fn canonical(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        for byte in percent_decode(segment, false)?.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_decode_unreserved_characters_only() {
        assert_eq!(canonical("/%63erts").as_deref(), Some("/certs"));
        assert_eq!(canonical("/certs/a%2Fb").as_deref(), Some("/certs/a%2Fb"));
        assert_eq!(canonical("/certs/a%2fb").as_deref(), Some("/certs/a%2Fb"));
        assert_eq!(
            canonical("/domains/ex%61mple.org").as_deref(),
            Some("/domains/example.org")
        );
        assert_eq!(canonical("/a b/%zz").as_deref(), Some("/a%20b/%25zz"));
        assert_eq!(canonical("//certs/").as_deref(), Some("//certs/"));
        assert_eq!(canonical("/certs/%ff"), None);
    }
}
