//! `openapi.yaml` describes exactly the routes the router serves, with the parameters, content
//! types and status codes the handlers actually use.

mod support;

use std::collections::BTreeSet;

use api::router::{Access, ROUTES, RouteSpec, known_query_params};
use serde_yaml_ng::Value;
use support::*;

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(root: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let mut node = root;
            for part in reference.trim_start_matches("#/").split('/') {
                node = node
                    .get(part)
                    .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            }
            resolve(root, node)
        }
        None => value,
    }
}

fn operation<'a>(root: &'a Value, route: &RouteSpec) -> &'a Value {
    root["paths"][route.template]
        .get(route.method.as_str().to_lowercase())
        .unwrap_or_else(|| panic!("{} {} is not documented", route.method, route.template))
}

fn statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"]
        .as_mapping()
        .expect("responses")
        .keys()
        .map(|k| {
            k.as_str()
                .expect("status as string")
                .parse()
                .expect("numeric status")
        })
        .collect()
}

fn parameters(root: &Value, route: &RouteSpec, location: &str) -> BTreeSet<String> {
    let path_level = root["paths"][route.template]["parameters"].as_sequence();
    let op_level = operation(root, route)["parameters"].as_sequence();
    path_level
        .into_iter()
        .chain(op_level)
        .flatten()
        .map(|p| resolve(root, p))
        .filter(|p| p["in"].as_str() == Some(location))
        .map(|p| p["name"].as_str().expect("parameter name").to_owned())
        .collect()
}

#[test]
fn the_spec_is_openapi_3_1() {
    let root = spec();
    assert!(root["openapi"].as_str().unwrap().starts_with("3.1."));
}

#[test]
fn documented_operations_are_exactly_the_route_table() {
    let root = spec();
    let documented: BTreeSet<(String, String)> = root["paths"]
        .as_mapping()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            let path = path.as_str().unwrap().to_owned();
            item.as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_owned())
                .filter(|k| {
                    ["get", "post", "put", "delete", "patch", "head", "options"]
                        .contains(&k.as_str())
                })
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.template.to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn path_and_query_parameters_match_the_router_and_handlers() {
    let root = spec();
    for route in ROUTES {
        let in_template: BTreeSet<String> = route
            .template
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            parameters(&root, route, "path"),
            in_template,
            "{}",
            route.template
        );
        let known: BTreeSet<String> = known_query_params(route.id)
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            parameters(&root, route, "query"),
            known,
            "{} {}",
            route.method,
            route.template
        );
    }
}

#[test]
fn documented_status_codes_are_the_ones_each_route_can_return() {
    let root = spec();
    for route in ROUTES {
        let name = format!("{} {}", route.method, route.template);
        let op = operation(&root, route);
        let codes = statuses(op);
        let allowed: BTreeSet<u16> = [200, 201, 204, 400, 401, 403, 404, 413, 415, 503].into();
        assert!(codes.is_subset(&allowed), "{name}: {codes:?}");
        let has = |c: u16| codes.contains(&c);
        match route.access {
            Access::Public => {
                assert!(!has(401) && !has(403) && !has(503), "{name}");
                assert!(
                    op["security"].as_sequence().is_some_and(|s| s.is_empty()),
                    "{name}"
                );
            }
            Access::Push => assert!(
                has(401) && has(403) && has(503),
                "{name}: push routes answer 403 out_of_scope to scoped tokens"
            ),
            Access::Admin => assert!(has(401) && has(403) && has(503), "{name}"),
        }
        if route.template.contains('{') {
            assert!(
                has(400) && has(404),
                "{name}: a path parameter can be malformed or unknown"
            );
        }
        if op.get("requestBody").is_some() {
            assert!(
                has(400) && has(413) && has(415),
                "{name}: bodies can be bad, big or mistyped"
            );
        }
        match route.method.as_str() {
            "GET" => assert!(has(200) && !has(201) && !has(204), "{name}"),
            "DELETE" => assert!(has(204) && has(404) && !has(200), "{name}"),
            // Actions, not upserts: ack an alert, send a test message.
            "POST" if route.template.ends_with("/ack") || route.template.ends_with("/test") => {
                assert!(has(200) && !has(201), "{name}")
            }
            "POST" => assert!(
                has(200) && has(201),
                "{name}: idempotent upserts are 201 or 200"
            ),
            other => panic!("{name}: unexpected method {other}"),
        }
        for code in codes.iter().filter(|c| **c >= 400) {
            let response = resolve(&root, &op["responses"][code.to_string().as_str()]);
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema.as_str(),
                Some("#/components/schemas/Error"),
                "{name} {code}: errors use the Error schema"
            );
        }
    }
}

#[tokio::test]
async fn documented_request_content_types_are_accepted_and_others_are_415() {
    let root = spec();
    let app = app();
    let hash = ctguard::hash::Sha256Hash::digest(b"x").to_hex();
    for route in ROUTES {
        let op = operation(&root, route);
        let Some(content) = op
            .get("requestBody")
            .map(|b| resolve(&root, b)["content"].clone())
        else {
            continue;
        };
        let path = route.template.replace("{tbs_sha256}", &hash);
        let documented: Vec<String> = content
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        for content_type in &documented {
            let body = if content_type.contains("json") {
                "{}"
            } else {
                " "
            };
            let r = send(
                &app,
                Req::new("POST", &path).admin().body(content_type, body),
            )
            .await;
            assert_ne!(
                r.status, 415,
                "{path} should accept documented {content_type}"
            );
        }
        for content_type in ["image/png", "application/xml", "multipart/form-data"] {
            let r = send(
                &app,
                Req::new("POST", &path).admin().body(content_type, "{}"),
            )
            .await;
            assert_eq!(
                r.status, 415,
                "{path} must refuse undocumented {content_type}"
            );
        }
    }
}
