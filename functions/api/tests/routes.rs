//! Every route, role and error of the API, in process over the in-memory store, with requests
//! shaped as Lambda Function URL events. (The same behaviour against DynamoDB is proven in
//! `tests/tests/api_*.rs`.)

mod support;

use api::router::{Access, ROUTES, RouteId};
use chrono::{Duration, Utc};
use ctguard::hash::Sha256Hash;
use ctguard::model::{Reason, ReasonCode, Severity};
use ctguard::store::{AlertStore, InventoryStore, WatchStore};
use serde_json::{Value, json};
use support::*;

fn concrete_path(template: &str) -> String {
    let hash = Sha256Hash::digest(b"x").to_hex();
    template
        .replace("{tbs_sha256}", &hash)
        .replace("{pubkey_sha256}", &hash)
        .replace("{value}", "example.org")
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn healthz_needs_no_token_and_reveals_nothing() {
    let app = app();
    let r = send(&app, Req::get("/healthz")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    // A wrong token does not matter for the public route.
    let r = send(&app, Req::get("/healthz").token("wrong")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn every_protected_route_is_401_without_or_with_an_unknown_token() {
    let app = app();
    for spec in ROUTES.iter().filter(|s| s.access != Access::Public) {
        let path = concrete_path(spec.template);
        for req in [
            Req::new(spec.method.as_str(), &path),
            Req::new(spec.method.as_str(), &path).token("not-a-token"),
            Req::new(spec.method.as_str(), &path).header("Authorization", "Basic YWRtaW46YWRtaW4="),
        ] {
            let r = send(&app, req).await;
            assert_eq!(r.status, 401, "{} {path}", spec.method);
            assert_eq!(r.error_code(), "unauthorized");
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        }
    }
}

#[tokio::test]
async fn a_push_token_may_only_post_certs_and_keys() {
    let app = app();
    for spec in ROUTES.iter().filter(|s| s.access == Access::Admin) {
        let path = concrete_path(spec.template);
        let r = send(
            &app,
            Req::new(spec.method.as_str(), &path).push().json(json!({})),
        )
        .await;
        assert_eq!(r.status, 403, "{} {path}", spec.method);
        assert_eq!(r.error_code(), "forbidden");
    }
    // Nothing was written by the refused calls.
    assert!(app.store().list_watches().await.unwrap().is_empty());
}

#[tokio::test]
async fn header_names_and_the_bearer_scheme_are_case_insensitive() {
    let app = app();
    let r = send(
        &app,
        Req::get("/keys").header("AUTHORIZATION", &format!("bEaReR {ADMIN_TOKEN}")),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(
        &app,
        Req::post("/keys")
            .header("Authorization", &format!("Bearer {PUSH_TOKEN}"))
            .header("CONTENT-TYPE", "Application/Json; Charset=UTF-8")
            .raw_body(
                json!({"pubkey_sha256": Sha256Hash::digest(b"k").to_hex(), "dns_names": ["k.example.org"]})
                    .to_string(),
            ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
}

// ---------------------------------------------------------------- routing

#[tokio::test]
async fn unknown_paths_are_json_404_and_wrong_methods_405_with_allow() {
    let app = app();
    for path in ["/", "/nope", "/certs/", "/certs/a/b", "/v1/certs"] {
        let r = send(&app, Req::get(path).admin()).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error_code(), "not_found");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let r = send(&app, Req::new("PUT", "/certs").admin()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST, GET"));
    for method in ["HEAD", "OPTIONS", "PATCH"] {
        let r = send(&app, Req::new(method, "/healthz")).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET"));
    }
}

#[tokio::test]
async fn percent_encoded_paths_and_queries_are_decoded() {
    let app = app();
    let ca = Ca::new();
    let leaf = ca.issue(&["www.example.org"]);
    let r = send(&app, Req::post("/certs").push().pem(&leaf.pem)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let tbs = r.json()["tbs_sha256"].as_str().unwrap().to_owned();
    // %-encoded path segment (upper-case hex digits of the hash encoded too).
    let encoded: String = tbs.chars().map(|c| format!("%{:02X}", c as u32)).collect();
    let r = send(&app, Req::get(&format!("/%63erts/{encoded}")).admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tbs_sha256"], tbs);
    // %-encoded and +-encoded query values.
    let r = send(
        &app,
        Req::get("/certs?na%6De=WWW.%65xample.org&limit=10").admin(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = send(&app, Req::get("/certs?name=%ff").admin()).await;
    assert_eq!(r.status, 400);
    let r = send(&app, Req::get("/certs/%ff%fe").admin()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_path");
}

/// A method other than `spec`'s on its path.
fn other_method(spec: &api::router::RouteSpec) -> String {
    let used: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.template == spec.template)
        .map(|r| r.method.as_str())
        .collect();
    ["PUT", "PATCH", "DELETE", "POST", "GET"]
        .into_iter()
        .find(|m| !used.contains(m))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_route_in_the_table_is_served_and_its_path_allows_exactly_its_methods() {
    let app = app();
    for spec in ROUTES {
        let path = concrete_path(spec.template);
        let r = send(
            &app,
            Req::new(spec.method.as_str(), &path)
                .admin()
                .json(json!({})),
        )
        .await;
        assert_ne!(r.status, 405, "{} {path}", spec.method);
        assert_eq!(r.route, Some(spec.id), "{} {path}", spec.method);
        if r.status == 404 {
            // The handler's 404 (nothing stored), never the router's.
            assert!(
                !r.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("no route"),
                "{} {path}: {:?}",
                spec.method,
                r.json()
            );
        }
        let allow: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.template == spec.template)
            .map(|r| r.method.as_str())
            .collect();
        let r = send(&app, Req::new(&other_method(spec), &path).admin()).await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.route, None, "{path}");
        assert_eq!(r.error_code(), "method_not_allowed");
        assert_eq!(r.header("allow"), Some(allow.join(", ").as_str()), "{path}");
        assert_eq!(
            r.json()["error"]["message"],
            format!("this path accepts {}", allow.join(", "))
        );
    }
}

#[tokio::test]
async fn path_parameters_are_decoded_after_splitting_and_literal_segments_match_encoded() {
    let app = app();
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.org"})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    // An encoded unreserved character in a parameter: the entry is found and deleted.
    let r = send(&app, Req::delete("/domains/ex%61mple.org").admin()).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.route, Some(RouteId::DeleteDomain));
    assert!(app.store().list_watches().await.unwrap().is_empty());
    // An encoded `/` stays inside its segment: one parameter, `a/b` (not a hash).
    let r = send(&app, Req::get("/certs/a%2Fb").admin()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.route, Some(RouteId::GetCert));
    assert_eq!(r.error_code(), "invalid_hash");
    let r = send(&app, Req::get("/certs/a%2fb/c").admin()).await;
    assert_eq!(r.status, 404);
    // An encoded literal segment is the route.
    let r = send(&app, Req::get("/%63erts").admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.route, Some(RouteId::ListCerts));
    assert!(r.json()["items"].is_array());
    let r = send(&app, Req::get("/%6B%65%79%73").admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.route, Some(RouteId::ListKeys));
}

#[tokio::test]
async fn trailing_slashes_empty_segments_and_extra_segments_are_404() {
    let app = app();
    for path in [
        "/",
        "//certs",
        "/certs//",
        "/healthz/",
        "/keys/",
        "/alerts/x/ack/",
        "/alerts/x/ack/y",
        "/alerts//ack",
        "/ui/",
        "/certs%2F",
        "/HEALTHZ",
    ] {
        for req in [Req::get(path).admin(), Req::get(path)] {
            let r = send(&app, req).await;
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.route, None, "{path}");
            assert_eq!(r.error_code(), "not_found");
            assert_eq!(
                r.json()["error"]["message"],
                format!("no route for {path:?}"),
                "{path}"
            );
        }
    }
    let r = send(&app, Req::get("/alerts/x/ack").admin()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_literal_segment_beats_a_parameter() {
    // Found by schemathesis (ST205): `/alerts/test` advertised the GET of `/alerts/{tbs}`.
    let app = app();
    for method in ["GET", "OPTIONS", "HEAD", "DELETE"] {
        let r = send(&app, Req::new(method, "/alerts/test").admin()).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("POST"), "{method}");
    }
    let r = send(&app, Req::post("/alerts/test").admin()).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.route, Some(RouteId::TestAlert));
    assert_eq!(r.json()["sns"]["status"], "not_configured");
    // Any other value is still the parameterised route.
    let r = send(&app, Req::get("/alerts/tests").admin()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.route, Some(RouteId::GetAlert));
    assert_eq!(r.error_code(), "invalid_hash");
    let r = send(&app, Req::delete("/keys/compromised").admin()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[tokio::test]
async fn head_is_405_with_allow_not_the_get_handler() {
    let app = app();
    for (path, allow) in [
        ("/healthz", "GET"),
        ("/certs", "POST, GET"),
        ("/ui", "GET"),
        ("/alerts/ab", "GET"),
    ] {
        for req in [Req::new("HEAD", path), Req::new("HEAD", path).admin()] {
            let r = send(&app, req).await;
            assert_eq!(r.status, 405, "{path}");
            assert_eq!(r.route, None, "{path}: not the GET handler");
            assert_eq!(r.header("allow"), Some(allow), "{path}");
        }
    }
}

#[tokio::test]
async fn the_order_of_checks_is_route_credentials_role_query_body() {
    let app = app();
    let big = vec![b'a'; 64 * 1024 + 1];
    // Invalid UTF-8 in the path: 400 before anything else.
    let r = send(&app, Req::get("/certs/%ff")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.route, None);
    assert_eq!(r.error_code(), "invalid_path");
    // Route before credentials: unknown path and wrong method without a token.
    assert_eq!(send(&app, Req::get("/nope")).await.status, 404);
    let r = send(&app, Req::new("PUT", "/certs")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, GET"));
    // Credentials before the body: an over-size body without a token is 401, not 413.
    let r = send(&app, Req::post("/certs").body("text/plain", big.clone())).await;
    assert_eq!(r.status, 401);
    // Role before query and body.
    let r = send(&app, Req::get("/domains?bogus=1").push()).await;
    assert_eq!(r.status, 403);
    let r = send(
        &app,
        Req::post("/domains")
            .push()
            .body("application/json", big.clone()),
    )
    .await;
    assert_eq!(r.status, 403);
    // Query before the body.
    let r = send(
        &app,
        Req::post("/certs?x=1")
            .push()
            .body("text/plain", big.clone()),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_parameter");
    // Content type before the size (the handler asks for the type first).
    let r = send(
        &app,
        Req::post("/certs").push().body("image/png", big.clone()),
    )
    .await;
    assert_eq!(r.status, 415);
    let r = send(&app, Req::post("/certs").push().body("text/plain", big)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), "payload_too_large");
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_read() {
    let app = app();
    let limit = app.settings().max_body_bytes;
    // Exactly the limit: read, then refused as JSON it is not (400), not as too large.
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .body("application/json", vec![b' '; limit]),
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.json());
    assert_eq!(r.error_code(), "malformed_json");
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .body("application/json", vec![b' '; limit + 1]),
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["error"]["message"],
        format!("the request body is over the {limit}-byte limit")
    );
}

// ---------------------------------------------------------------- /certs

#[tokio::test]
async fn posting_a_pem_stores_the_leaf_identity_with_the_callers_label() {
    let app = app();
    let ca = Ca::new();
    let leaf = ca.issue(&["www.example.org", "example.org"]);
    let r = send(&app, Req::post("/certs").push().pem(&leaf.fullchain)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let body = r.json();
    let tbs = independent_tbs_sha256(&leaf.der);
    assert_eq!(body["tbs_sha256"], tbs);
    assert_eq!(body["pubkey_sha256"], independent_spki_sha256(&leaf.der));
    assert_eq!(body["cert_sha256"], Sha256Hash::digest(&leaf.der).to_hex());
    assert_eq!(body["source"], PUSH_LABEL);
    assert_eq!(r.header("location"), Some(format!("/certs/{tbs}").as_str()));
    let mut names: Vec<&str> = body["dns_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["example.org", "www.example.org"]);

    let stored = app
        .store()
        .get_cert(&tbs.parse().unwrap())
        .await
        .unwrap()
        .expect("stored");
    let not_after = stored.not_after.unwrap();
    assert_eq!(stored.expires_at, Some(not_after + Duration::days(30)));
    assert!(stored.serial.is_some() && stored.issuer.is_some());
}

#[tokio::test]
async fn posting_the_same_certificate_again_is_200_and_keeps_added_at() {
    let app = app();
    let leaf = Ca::new().issue(&["a.example.org"]);
    let first = send(&app, Req::post("/certs").push().pem(&leaf.pem)).await;
    assert_eq!(first.status, 201);
    let again = send(
        &app,
        Req::post("/certs")
            .push()
            .body("text/plain", leaf.pem.clone()),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["added_at"], first.json()["added_at"]);
    let stored = stored_certs(&app).await;
    assert_eq!(stored.len(), 1);
}

#[tokio::test]
async fn base64_encoded_der_and_json_pem_bodies_are_accepted() {
    let app = app();
    let ca = Ca::new();
    let der_leaf = ca.issue(&["der.example.org"]);
    let r = send(
        &app,
        Req::post("/certs")
            .push()
            .body("application/pkix-cert", der_leaf.der.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(
        r.json()["tbs_sha256"],
        independent_tbs_sha256(&der_leaf.der)
    );

    let b64_leaf = ca.issue(&["b64.example.org"]);
    let r = send(&app, Req::post("/certs").push().pem(&b64_leaf.pem).base64()).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["tbs_sha256"],
        independent_tbs_sha256(&b64_leaf.der)
    );

    let json_leaf = ca.issue(&["json.example.org"]);
    let r = send(
        &app,
        Req::post("/certs")
            .push()
            .json(json!({"pem": json_leaf.fullchain, "source": "spoofed"})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["tbs_sha256"],
        independent_tbs_sha256(&json_leaf.der)
    );
    assert_eq!(
        r.json()["source"],
        PUSH_LABEL,
        "a push token cannot choose its source"
    );
}

#[tokio::test]
async fn an_admin_may_declare_explicit_hashes_and_set_the_source() {
    let app = app();
    let tbs = Sha256Hash::digest(b"tbs").to_hex().to_uppercase();
    let r = send(
        &app,
        Req::post("/certs").admin().json(json!({
            "tbs_sha256": tbs,
            "names": ["WWW.Example.org.", "example.org"],
            "not_after": "2030-01-01T00:00:00Z",
            "source": "manual:ticket-42"
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let body = r.json();
    assert_eq!(body["tbs_sha256"], tbs.to_lowercase());
    assert_eq!(body["dns_names"], json!(["example.org", "www.example.org"]));
    assert_eq!(body["source"], "manual:ticket-42");
    assert_eq!(body["expires_at"], "2030-01-31T00:00:00Z");

    // Only the key known: stored as an authorized key.
    let key = Sha256Hash::digest(b"key").to_hex();
    let r = send(
        &app,
        Req::post("/certs")
            .push()
            .json(json!({"pubkey_sha256": key, "dns_names": ["x.example.org"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["pubkey_sha256"], key);
    assert_eq!(r.header("location"), Some(format!("/keys/{key}").as_str()));
    let keys = stored_keys(&app).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].source, PUSH_LABEL);
}

#[tokio::test]
async fn bad_certificate_bodies_are_400_or_415_and_store_nothing() {
    let app = app();
    let leaf = Ca::new().issue(&["x.example.org"]);
    let hash = Sha256Hash::digest(b"h").to_hex();
    let cases: Vec<(Req, u16, &str)> = vec![
        (Req::post("/certs").push().pem("not a certificate"), 400, "malformed_pem"),
        (Req::post("/certs").push().pem(""), 400, "malformed_pem"),
        (
            Req::post("/certs").push().pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            400,
            "malformed_pem",
        ),
        (
            Req::post("/certs").push().pem(&format!("{}{}", leaf.key.serialize_pem(), leaf.pem)),
            400,
            "malformed_pem",
        ),
        (
            Req::post("/certs").push().body("application/x-pem-file", vec![0xff, 0xfe, 0x00, 0x80]),
            400,
            "malformed_pem",
        ),
        (Req::post("/certs").push().raw_body(leaf.pem.clone()), 415, "unsupported_media_type"),
        (
            Req::post("/certs").push().body("application/x-www-form-urlencoded", leaf.pem.clone()),
            415,
            "unsupported_media_type",
        ),
        (Req::post("/certs").push().json(json!({"pem": "garbage"})), 400, "malformed_pem"),
        (Req::post("/certs").push().json(json!({})), 400, "missing_field"),
        (Req::post("/certs").push().json(json!({"tbs_sha256": "abc"})), 400, "invalid_hash"),
        (Req::post("/certs").push().json(json!({"tbs_sha256": "z".repeat(64)})), 400, "invalid_hash"),
        (
            Req::post("/certs").push().json(json!({"pem": leaf.pem, "tbs_sha256": hash})),
            400,
            "invalid_field",
        ),
        (Req::post("/certs").push().json(json!({"tbs_sha256": hash, "extra": 1})), 400, "malformed_json"),
        (
            Req::post("/certs").push().json(json!({"tbs_sha256": hash, "dns_names": ["bad name"]})),
            400,
            "invalid_name",
        ),
        (
            Req::post("/certs").push().json(json!({
                "tbs_sha256": hash, "not_before": "2030-01-02T00:00:00Z", "not_after": "2030-01-01T00:00:00Z"
            })),
            400,
            "invalid_field",
        ),
        (Req::post("/certs").push().body("application/json", "{\"pem\": "), 400, "malformed_json"),
    ];
    for (req, status, code) in cases {
        let described = format!("{req:?}");
        let r = send(&app, req).await;
        assert_eq!(
            r.status,
            status,
            "{described}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_code(), code, "{described}");
    }
    let stored = stored_certs(&app).await;
    assert!(stored.is_empty());
}

#[tokio::test]
async fn a_certificate_with_too_many_names_is_refused_whole() {
    let app = app();
    let ca = Ca::new();
    let names: Vec<String> = (0..1001).map(|i| format!("h{i}.example.org")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let over = ca.issue(&names);
    assert!(
        over.pem.len() < 64 * 1024,
        "the body limit must not be what answers"
    );
    let r = send(&app, Req::post("/certs").push().pem(&over.pem)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "too_many_names");
    let stored = stored_certs(&app).await;
    assert!(stored.is_empty());

    // The limit itself is accepted, with every name stored.
    let at_limit = ca.issue(&names[..1000]);
    let r = send(&app, Req::post("/certs").push().pem(&at_limit.pem)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["dns_names"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = app();
    let body = vec![b'a'; 64 * 1024 + 1];
    let r = send(
        &app,
        Req::post("/certs").push().body("text/plain", body.clone()),
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), "payload_too_large");
    let r = send(
        &app,
        Req::post("/certs")
            .push()
            .body("application/octet-stream", body)
            .base64(),
    )
    .await;
    assert!(r.status == 413 || r.status == 415, "{}", r.status);
}

#[tokio::test]
async fn certs_are_listed_by_name_with_pagination_fetched_and_deleted() {
    let app = app();
    let ca = Ca::new();
    let mut hashes = vec![];
    for i in 0..3 {
        let leaf = ca.issue(&[&format!("h{i}.example.org"), "shared.example.org"]);
        let r = send(&app, Req::post("/certs").push().pem(&leaf.pem)).await;
        assert_eq!(r.status, 201);
        hashes.push(r.json()["tbs_sha256"].as_str().unwrap().to_owned());
    }
    let other = ca.issue(&["other.example.net"]);
    send(&app, Req::post("/certs").push().pem(&other.pem)).await;

    let r = send(&app, Req::get("/certs?name=h1.example.org").admin()).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["items"][0]["tbs_sha256"], hashes[1]);

    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(c) => format!("/certs?name=shared.example.org&limit=2&cursor={c}"),
            None => "/certs?name=shared.example.org&limit=2".into(),
        };
        let r = send(&app, Req::get(&target).admin()).await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        let body = r.json();
        for item in body["items"].as_array().unwrap() {
            seen.push(item["tbs_sha256"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    hashes.sort();
    assert_eq!(seen, hashes);

    for bad in [
        "/certs?cursor=not-ours",
        "/certs?limit=0",
        "/certs?limit=x",
        "/certs?nme=a",
    ] {
        let r = send(&app, Req::get(bad).admin()).await;
        assert_eq!(r.status, 400, "{bad}");
    }

    let r = send(&app, Req::get(&format!("/certs/{}", hashes[0])).admin()).await;
    assert_eq!(r.status, 200);
    let r = send(&app, Req::delete(&format!("/certs/{}", hashes[0])).admin()).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = send(&app, Req::delete(&format!("/certs/{}", hashes[0])).admin()).await;
    assert_eq!(r.status, 404);
    let r = send(&app, Req::get(&format!("/certs/{}", hashes[0])).admin()).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    let r = send(&app, Req::get("/certs/xyz").admin()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_hash");
}

// ---------------------------------------------------------------- /keys

const SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECXy7kdC3m3YBl+kborkMd36f3uCj
jKT0CCCn9IsqpUB7+yO/YCnb8LYrUBCuCrXay5RZERPPOckxKhxFcH3eww==
-----END PUBLIC KEY-----
";

#[tokio::test]
async fn keys_come_from_a_hash_a_public_key_or_a_certificate() {
    let app = app();
    let hash = Sha256Hash::digest(b"k1").to_hex();
    let r = send(
        &app,
        Req::post("/keys").push().json(
            json!({"pubkey_sha256": hash, "note": "spare key", "dns_names": ["k.example.org"]}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["source"], PUSH_LABEL);
    assert_eq!(r.json()["note"], "spare key");
    assert_eq!(r.json()["dns_names"], json!(["k.example.org"]));
    let r = send(
        &app,
        Req::post("/keys")
            .push()
            .json(json!({"pubkey_sha256": hash, "dns_names": ["k.example.org"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["note"],
        "spare key",
        "a push never rewrites a known key"
    );

    let r = send(&app, Req::post("/keys").admin().pem(SPKI_PEM)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    use base64::Engine;
    let b64: String = SPKI_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(r.json()["pubkey_sha256"], Sha256Hash::digest(&der).to_hex());

    let leaf = Ca::new().issue(&["k.example.org"]);
    let r = send(
        &app,
        Req::post("/keys").admin().json(json!({"pem": leaf.pem})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(
        r.json()["pubkey_sha256"],
        independent_spki_sha256(&leaf.der)
    );

    let r = send(&app, Req::get("/keys?limit=2").admin()).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 2);
    assert!(r.json()["next_cursor"].is_string());

    let r = send(&app, Req::delete(&format!("/keys/{hash}")).admin()).await;
    assert_eq!(r.status, 204);
    let r = send(&app, Req::delete(&format!("/keys/{hash}")).admin()).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn bad_key_requests_are_refused() {
    let app = app();
    let hash = Sha256Hash::digest(b"k").to_hex();
    let past = (Utc::now() - Duration::days(1)).to_rfc3339();
    for (req, status, code) in [
        (
            Req::post("/keys").push().json(json!({})),
            400,
            "missing_field",
        ),
        (
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": "00"})),
            400,
            "invalid_hash",
        ),
        (
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": hash, "pem": SPKI_PEM})),
            400,
            "invalid_field",
        ),
        (
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": hash, "expires_at": past})),
            400,
            "invalid_field",
        ),
        (
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": hash, "note": "x".repeat(1001)})),
            400,
            "invalid_field",
        ),
        (
            Req::post("/keys")
                .push()
                .pem("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"),
            400,
            "malformed_pem",
        ),
        (
            Req::post("/keys")
                .push()
                .body("application/pkix-cert", vec![0x30, 0x00]),
            415,
            "unsupported_media_type",
        ),
        (Req::delete("/keys/nothex").admin(), 400, "invalid_hash"),
    ] {
        let described = format!("{req:?}");
        let r = send(&app, req).await;
        assert_eq!(r.status, status, "{described}");
        assert_eq!(r.error_code(), code, "{described}");
    }
    let keys = stored_keys(&app).await;
    assert!(keys.is_empty());
}

fn csr(names: &[&str]) -> (rcgen::KeyPair, rcgen::CertificateSigningRequest) {
    let key = rcgen::KeyPair::generate().unwrap();
    let request =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .serialize_request(&key)
            .unwrap();
    (key, request)
}

fn spki_hash(key: &rcgen::KeyPair) -> String {
    use rcgen::PublicKeyData;
    Sha256Hash::digest(&key.subject_public_key_info()).to_hex()
}

#[tokio::test]
async fn a_csr_authorizes_its_key_for_its_names_or_the_given_ones() {
    let app = app();
    // JSON: the request's names are the key's scope.
    let (key, request) = csr(&["shop.example.com", "www.shop.example.com"]);
    let r = send(
        &app,
        Req::post("/keys")
            .push()
            .json(json!({"csr": request.pem().unwrap()})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["pubkey_sha256"], spki_hash(&key));
    assert_eq!(
        r.json()["dns_names"],
        json!(["shop.example.com", "www.shop.example.com"])
    );
    assert_eq!(r.json()["source"], PUSH_LABEL);

    // Given names replace the request's.
    let (key, request) = csr(&["a.example.com"]);
    let r = send(
        &app,
        Req::post("/keys").admin().json(
            json!({"csr": request.pem().unwrap(), "dns_names": ["b.example.com"], "note": "n"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["pubkey_sha256"], spki_hash(&key));
    assert_eq!(r.json()["dns_names"], json!(["b.example.com"]));

    // A PEM body (what the certbot hook sends).
    let (key, request) = csr(&["hook.example.com"]);
    let r = send(&app, Req::post("/keys").push().pem(&request.pem().unwrap())).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["pubkey_sha256"], spki_hash(&key));
    assert_eq!(r.json()["dns_names"], json!(["hook.example.com"]));
}

#[tokio::test]
async fn a_csr_that_does_not_verify_or_names_nothing_is_refused() {
    let app = app();
    let (_, request) = csr(&["shop.example.com"]);
    let mut der = request.der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    let tampered = ctguard::csr::to_pem(&der);
    let (_, nameless) = csr(&[]);
    for (req, status, code) in [
        (
            Req::post("/keys").push().json(json!({"csr": tampered})),
            400,
            "invalid_csr",
        ),
        (Req::post("/keys").push().pem(&tampered), 400, "invalid_csr"),
        (
            Req::post("/keys")
                .push()
                .json(json!({"csr": "not a request"})),
            400,
            "invalid_csr",
        ),
        (
            Req::post("/keys")
                .push()
                .json(json!({"csr": request.pem().unwrap(), "pem": SPKI_PEM})),
            400,
            "invalid_field",
        ),
        // A push names what it vouches for.
        (
            Req::post("/keys")
                .push()
                .json(json!({"csr": nameless.pem().unwrap()})),
            400,
            "missing_field",
        ),
    ] {
        let described = format!("{req:?}");
        let r = send(&app, req).await;
        assert_eq!(r.status, status, "{described}");
        assert_eq!(r.error_code(), code, "{described}: {:?}", r.json());
    }
    let keys = stored_keys(&app).await;
    assert!(keys.is_empty());
}

#[tokio::test]
async fn an_admin_marks_a_key_compromised_and_pushes_cannot_clear_it() {
    let app = app();
    let (key, request) = csr(&["shop.example.com"]);
    let hash = spki_hash(&key);
    // Unknown key: a record holding the mark.
    let r = send(
        &app,
        Req::post("/keys/compromised")
            .admin()
            .json(json!({"pubkey_sha256": hash, "note": "laptop stolen"})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["compromised"]["by"], ADMIN_LABEL);
    assert_eq!(r.json()["compromised"]["note"], "laptop stolen");
    assert_eq!(r.header("location"), Some(format!("/keys/{hash}").as_str()));
    // A push of it afterwards adds its label, nothing else: still compromised.
    let r = send(
        &app,
        Req::post("/keys")
            .push()
            .json(json!({"csr": request.pem().unwrap()})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["compromised"]["by"], ADMIN_LABEL);
    // An admin upsert neither.
    let r = send(
        &app,
        Req::post("/keys")
            .admin()
            .json(json!({"pubkey_sha256": hash, "dns_names": ["shop.example.com"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = send(&app, Req::get("/keys").admin()).await;
    assert_eq!(r.json()["items"][0]["compromised"]["by"], ADMIN_LABEL);

    // A known, expiring key: marked again from its CSR, keeps its names, loses its expiry.
    let (key2, request2) = csr(&["api.example.com"]);
    let later = (Utc::now() + Duration::days(30)).to_rfc3339();
    let r = send(
        &app,
        Req::post("/keys")
            .admin()
            .json(json!({"csr": request2.pem().unwrap(), "expires_at": later})),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = send(
        &app,
        Req::post("/keys/compromised")
            .admin()
            .pem(&request2.pem().unwrap()),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["pubkey_sha256"], spki_hash(&key2));
    assert_eq!(r.json()["dns_names"], json!(["api.example.com"]));
    assert_eq!(r.json()["expires_at"], Value::Null);
    assert!(r.json()["compromised"]["at"].is_string());

    // Admin only, and the usual input rules.
    let r = send(
        &app,
        Req::post("/keys/compromised")
            .push()
            .json(json!({"pubkey_sha256": hash})),
    )
    .await;
    assert_eq!(r.status, 403);
    for body in [
        json!({}),
        json!({"pubkey_sha256": "00"}),
        json!({"pubkey_sha256": hash, "pem": SPKI_PEM}),
        json!({"pubkey_sha256": hash, "dns_names": []}),
    ] {
        let r = send(
            &app,
            Req::post("/keys/compromised").admin().json(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}");
    }
}

#[tokio::test]
async fn status_lists_unscoped_keys() {
    let app = app();
    let r = send(&app, Req::get("/status").admin()).await;
    assert_eq!(
        r.json()["unscoped_keys"],
        json!({"count": 0, "capped": false, "pubkey_sha256": []})
    );
    let unscoped = Sha256Hash::digest(b"admin's key").to_hex();
    let compromised = Sha256Hash::digest(b"bad key").to_hex();
    for req in [
        Req::post("/keys").admin().json(json!({"pubkey_sha256": unscoped})),
        Req::post("/keys")
            .admin()
            .json(json!({"pubkey_sha256": Sha256Hash::digest(b"scoped").to_hex(), "dns_names": ["a.example.com"]})),
        Req::post("/keys/compromised")
            .admin()
            .json(json!({"pubkey_sha256": compromised})),
    ] {
        assert!(send(&app, req).await.status < 300);
    }
    let r = send(&app, Req::get("/status").admin()).await;
    assert_eq!(
        r.json()["unscoped_keys"],
        json!({"count": 1, "capped": false, "pubkey_sha256": [unscoped]})
    );
}

// ---------------------------------------------------------------- /domains

#[tokio::test]
async fn domains_are_normalised_listed_with_status_and_deleted() {
    let app = app();
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": " *.Example.ORG. ", "note": "main site", "backfill": "alert"})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let body = r.json();
    assert_eq!(body["value"], "example.org");
    assert_eq!(body["backfill"], "alert");
    assert_eq!(body["last_poll_succeeded"], serde_json::Value::Null);
    assert_eq!(r.header("location"), Some("/domains/example.org"));

    // Idempotent: the existing entry comes back unchanged.
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.org"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["note"], "main site");

    let r = send(&app, Req::get("/domains").admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);

    let r = send(&app, Req::delete("/domains/EXAMPLE.org.").admin()).await;
    assert_eq!(r.status, 204);
    let r = send(&app, Req::delete("/domains/example.org").admin()).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_issuer_policy_is_set_shown_replaced_and_validated() {
    let app = app();
    let r = send(
        &app,
        Req::post("/domains").admin().json(json!({
            "value": "example.org",
            "allowed_issuers": ["LetsEncrypt.org.", "pki.goog", "letsencrypt.org"]
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(
        r.json()["allowed_issuers"],
        json!(["letsencrypt.org", "pki.goog"])
    );
    let r = send(&app, Req::get("/domains").admin()).await;
    assert_eq!(
        r.json()["items"][0]["allowed_issuers"],
        json!(["letsencrypt.org", "pki.goog"])
    );

    // Without the field an existing entry stays as it is; with it, the policy is replaced.
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.org"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["allowed_issuers"],
        json!(["letsencrypt.org", "pki.goog"])
    );
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.org", "allowed_issuers": ["sectigo.com"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["allowed_issuers"], json!(["sectigo.com"]));
    let stored = app
        .store()
        .get_watch(&ctguard::domain::WatchDomain::parse("example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.allowed_issuers, ["sectigo.com"]);

    // Invalid identifiers, or too many: 400, nothing changes.
    let too_many: Vec<String> = (0..33).map(|i| format!("ca{i}.example")).collect();
    for bad in [
        json!(["lets encrypt.org"]),
        json!([" letsencrypt.org"]),
        json!(["letsencrypt.org.."]),
        json!([""]),
        json!(["https://letsencrypt.org/"]),
        json!(too_many),
    ] {
        let r = send(
            &app,
            Req::post("/domains")
                .admin()
                .json(json!({"value": "example.org", "allowed_issuers": bad.clone()})),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error_code(), "invalid_allowed_issuers", "{bad}");
    }
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.org", "allowed_issuers": "letsencrypt.org"})),
    )
    .await;
    assert_eq!(r.status, 400, "a string is not a list");
    let r = send(&app, Req::get("/domains").admin()).await;
    assert_eq!(
        r.json()["items"][0]["allowed_issuers"],
        json!(["sectigo.com"])
    );
}

#[tokio::test]
async fn invalid_domains_get_400_with_the_reason_and_nothing_is_stored() {
    let app = app();
    for value in [
        "",
        "com",
        "exa mple.org",
        "-bad.example.org",
        "http://example.org/",
    ] {
        let r = send(
            &app,
            Req::post("/domains").admin().json(json!({"value": value})),
        )
        .await;
        assert_eq!(r.status, 400, "{value:?}");
        assert_eq!(r.error_code(), "invalid_domain", "{value:?}");
    }
    for body in [
        json!({"value": "example.org", "backfill": "everything"}),
        json!({"value": 42}),
        json!({"domain": "example.org"}),
    ] {
        let r = send(&app, Req::post("/domains").admin().json(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_code(), "malformed_json");
    }
    let r = send(&app, Req::post("/domains").admin().pem("example.org")).await;
    assert_eq!(r.status, 415);
    let r = send(&app, Req::delete("/domains/exa%20mple.org").admin()).await;
    assert_eq!(r.status, 400);
    assert!(app.store().list_watches().await.unwrap().is_empty());
}

// ---------------------------------------------------------------- /alerts

#[tokio::test]
async fn alerts_are_filtered_paginated_fetched_and_acknowledged() {
    let app = app();
    let now = Utc::now();
    let old = alert("old", Severity::Suspicious, now - Duration::days(10));
    let new = alert("new", Severity::Suspicious, now - Duration::hours(1));
    let info = alert("info", Severity::Info, now - Duration::hours(2));
    for a in [&old, &new, &info] {
        assert!(app.store().create_alert(a).await.unwrap());
    }

    let r = send(&app, Req::get("/alerts").admin()).await;
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0]["tbs_sha256"],
        new.tbs_sha256.to_hex(),
        "newest first"
    );

    let since = (now - Duration::days(1)).to_rfc3339();
    let target = format!(
        "/alerts?severity=suspicious&since={}",
        since.replace('+', "%2B").replace(':', "%3A")
    );
    let r = send(&app, Req::get(&target).admin()).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["tbs_sha256"], new.tbs_sha256.to_hex());

    let r = send(&app, Req::get("/alerts?limit=2").admin()).await;
    let cursor = r.json()["next_cursor"].as_str().unwrap().to_owned();
    let r = send(
        &app,
        Req::get(&format!("/alerts?limit=2&cursor={cursor}")).admin(),
    )
    .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    assert!(r.json()["next_cursor"].is_null());

    // Reasons are shown; `critical` is a severity to filter on.
    let mut critical = alert("critical", Severity::Critical, now - Duration::hours(3));
    critical.reasons = vec![Reason::new(
        ReasonCode::CompromisedKey,
        "the key was marked compromised",
    )];
    assert!(app.store().create_alert(&critical).await.unwrap());
    let r = send(&app, Req::get("/alerts?severity=critical").admin()).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["severity"], "critical");
    assert_eq!(items[0]["reasons"][0]["code"], "compromised_key");
    assert_eq!(
        items[0]["reasons"][0]["detail"],
        "the key was marked compromised"
    );

    for bad in [
        "/alerts?severity=catastrophic",
        "/alerts?since=yesterday",
        "/alerts?domain=exa%20mple.org",
        "/alerts?limit=5000",
        "/alerts?sort=asc",
    ] {
        let r = send(&app, Req::get(bad).admin()).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error_code(), "invalid_parameter", "{bad}");
    }

    let path = format!("/alerts/{}", old.tbs_sha256);
    let r = send(&app, Req::get(&path).admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["issuance_id"], "issuance-old");

    let r = send(
        &app,
        Req::post(&format!("{path}/ack"))
            .admin()
            .json(json!({"note": "ours, renewed by hand"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["ack"]["by"], ADMIN_LABEL);
    assert_eq!(r.json()["ack"]["note"], "ours, renewed by hand");
    let stored = app
        .store()
        .get_alert(&old.tbs_sha256)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.ack.unwrap().by, ADMIN_LABEL);

    // No body at all is an acknowledgement without a note.
    let r = send(
        &app,
        Req::post(&format!("/alerts/{}/ack", new.tbs_sha256)).admin(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["ack"]["note"].is_null());

    let unknown = Sha256Hash::digest(b"unknown");
    let r = send(&app, Req::get(&format!("/alerts/{unknown}")).admin()).await;
    assert_eq!(r.status, 404);
    let r = send(
        &app,
        Req::post(&format!("/alerts/{unknown}/ack"))
            .admin()
            .json(json!({})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        &app,
        Req::post(&format!("{path}/ack"))
            .admin()
            .body("text/plain", "ok"),
    )
    .await;
    assert_eq!(r.status, 415);
    let r = send(
        &app,
        Req::post(&format!("{path}/ack"))
            .admin()
            .json(json!({"by": "someone"})),
    )
    .await;
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------- /status

#[tokio::test]
async fn status_reports_freshness_backlog_and_failed_deliveries() {
    use ctguard::domain::WatchDomain;
    use ctguard::model::{BackfillMode, DeliveryState, WatchEntry};
    use ctguard::store::PollStatus;
    let app = app();
    let now = Utc::now();
    let ok = WatchDomain::parse("ok.example").unwrap();
    let failing = WatchDomain::parse("failing.example").unwrap();
    for d in [&ok, &failing] {
        let entry = WatchEntry::new(
            d.clone(),
            None,
            BackfillMode::Summary,
            now - Duration::days(1),
        );
        app.store().create_watch(&entry).await.unwrap();
    }
    app.store()
        .record_poll(
            &ok,
            &PollStatus {
                polled_at: now - Duration::minutes(5),
                success: true,
                error: None,
                rate_limited_until: None,
                baseline_completed_at: Some(now - Duration::minutes(5)),
                stalled_runs: 0,
                stuck_since: None,
            },
        )
        .await
        .unwrap();
    let r = send(&app, Req::get("/status").admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["last_poll_succeeded"],
        false,
        "failing.example was never polled"
    );

    app.store()
        .record_poll(
            &failing,
            &PollStatus {
                polled_at: now - Duration::minutes(5),
                success: false,
                error: Some("certspotter: 429".into()),
                rate_limited_until: Some(now + Duration::minutes(10)),
                baseline_completed_at: None,
                stalled_runs: 0,
                stuck_since: None,
            },
        )
        .await
        .unwrap();
    let pending = alert("p", Severity::Pending, now - Duration::hours(1));
    let mut failed = alert("f", Severity::Suspicious, now - Duration::hours(1));
    failed.sns.state = DeliveryState::Failed;
    failed.email.state = DeliveryState::Failed;
    let queued = alert("q", Severity::Suspicious, now - Duration::hours(1));
    for a in [&pending, &failed, &queued] {
        app.store().create_alert(a).await.unwrap();
    }

    let r = send(&app, Req::get("/status").admin()).await;
    let body = r.json();
    assert_eq!(body["last_poll_succeeded"], false);
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries[0]["value"], "failing.example");
    assert_eq!(entries[0]["last_error"], "certspotter: 429");
    assert_eq!(entries[0]["last_poll_succeeded"], false);
    assert!(entries[0]["rate_limited_until"].is_string());
    assert_eq!(entries[1]["last_poll_succeeded"], true);
    assert_eq!(body["pending_alerts"]["count"], 1);
    // `pending` and `queued` both have a queued SNS channel (the fixture's default).
    assert_eq!(body["deliveries"]["queued"]["count"], 2);
    assert_eq!(body["deliveries"]["failed"]["count"], 2);
    assert_eq!(body["deliveries"]["failed"]["capped"], false);
}
