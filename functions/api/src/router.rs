//! Method + path → route. The route table is data ([`ROUTES`]) so the OpenAPI test can compare
//! it with the spec; matching answers 404 for an unknown path and 405 (with `Allow`) for a known
//! path with the wrong method.

use http::Method;

use crate::error::{ApiError, ApiResult};
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

/// A matched route with its decoded path parameters, in template order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub spec: &'static RouteSpec,
    pub params: Vec<String>,
}

impl Matched {
    pub fn id(&self) -> RouteId {
        self.spec.id
    }

    /// The first path parameter (every parameterised route has exactly one).
    pub fn param(&self) -> &str {
        self.params.first().map(String::as_str).unwrap_or_default()
    }
}

/// Matches `template` against decoded `segments`, returning the parameters.
fn match_template(template: &str, segments: &[String]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            params.push(segment.clone());
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Resolves `method` + `path` (percent-encoded, as on the wire) to a route.
pub fn resolve(method: &Method, path: &str) -> ApiResult<Matched> {
    // Split before decoding so an encoded `/` (`%2F`) stays inside its segment.
    let segments = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_path",
                "the path is not valid percent-encoded UTF-8",
            )
        })?;

    // A literal segment beats a parameter (`/alerts/test` is not `/alerts/{tbs_sha256}`), so
    // only the templates with the fewest parameters that match the path are candidates; the
    // `Allow` of a 405 then lists exactly the methods the client's resource supports.
    let candidates: Vec<(&'static RouteSpec, Vec<String>)> = ROUTES
        .iter()
        .filter_map(|spec| match_template(spec.template, &segments).map(|p| (spec, p)))
        .collect();
    let fewest = candidates.iter().map(|(_, p)| p.len()).min();
    let mut allowed = Vec::new();
    for (spec, params) in candidates {
        if Some(params.len()) != fewest {
            continue;
        }
        if spec.method == method {
            return Ok(Matched { spec, params });
        }
        allowed.push(spec.method.as_str());
    }
    if allowed.is_empty() {
        Err(ApiError::not_found(format!(
            "no route for {}",
            crate::error::echo(path)
        )))
    } else {
        Err(ApiError::method_not_allowed(allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn resolves_every_route_in_the_table() {
        for spec in ROUTES {
            let path = spec
                .template
                .replace("{tbs_sha256}", "ab")
                .replace("{pubkey_sha256}", "cd")
                .replace("{value}", "example.org");
            let matched = resolve(&spec.method, &path).unwrap();
            assert_eq!(matched.id(), spec.id, "{path}");
        }
    }

    #[test]
    fn decodes_parameters_after_splitting() {
        let m = resolve(&Method::DELETE, "/domains/ex%61mple.org").unwrap();
        assert_eq!(m.param(), "example.org");
        let m = resolve(&Method::GET, "/certs/a%2Fb").unwrap();
        assert_eq!(m.param(), "a/b");
        let m = resolve(&Method::GET, "/%63erts").unwrap();
        assert_eq!(m.id(), RouteId::ListCerts);
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        for path in [
            "/",
            "/nope",
            "/certs/",
            "/certs/a/b",
            "//certs",
            "/alerts/x/ack/y",
        ] {
            let err = resolve(&Method::GET, path).unwrap_err();
            assert_eq!(err.status, StatusCode::NOT_FOUND, "{path}");
        }
        let err = resolve(&Method::PUT, "/certs").unwrap_err();
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.allow.as_deref(), Some("POST, GET"));
        let err = resolve(&Method::GET, "/alerts/x/ack").unwrap_err();
        assert_eq!(err.allow.as_deref(), Some("POST"));
    }

    #[test]
    fn a_literal_segment_beats_a_parameter() {
        // Found by schemathesis (ST205): `/alerts/test` advertised the GET of `/alerts/{tbs}`.
        let err = resolve(&Method::GET, "/alerts/test").unwrap_err();
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.allow.as_deref(), Some("POST"));
        let err = resolve(&Method::OPTIONS, "/alerts/test").unwrap_err();
        assert_eq!(err.allow.as_deref(), Some("POST"));
        assert_eq!(
            resolve(&Method::POST, "/alerts/test").unwrap().id(),
            RouteId::TestAlert
        );
        // Any other value is still the parameterised route.
        assert_eq!(
            resolve(&Method::GET, "/alerts/tests").unwrap().id(),
            RouteId::GetAlert
        );
    }

    #[test]
    fn invalid_utf8_in_the_path_is_a_400() {
        let err = resolve(&Method::GET, "/certs/%ff").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, "invalid_path");
    }
}
