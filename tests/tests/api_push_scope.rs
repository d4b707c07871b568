//! Push tokens are append-only and scoped to names (issue 9 §1): real Function URL events
//! through the real handler, storage on the DynamoDB emulator.
//!
//! The role × scope matrix: admin / scoped push / unscoped push × in-scope / out-of-scope /
//! hash-only / overwrite attempts.

use api::App;
use api::auth::tokens_from_json;
use api::{ApiSettings, auth::AuthMode};
use chrono::{DateTime, Duration, Utc};
use ctguard::hash::Sha256Hash;
use ctguard::model::{AuthorizedKey, InventoryCert};
use ctguard::store::InventoryStore;
use ctguard::store::dynamo::DynamoStore;
use ctguard_tests::api::event::{Req, Resp, send};
use ctguard_tests::api::*;
use ctguard_tests::aws::TestAws;
use ctguard_tests::certs::TestCa;
use serde_json::{Value, json};

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

async fn stored_cert(store: &DynamoStore, tbs: &Sha256Hash) -> InventoryCert {
    store.get_cert(tbs).await.unwrap().expect("stored")
}

async fn stored_key(store: &DynamoStore, pubkey: &Sha256Hash) -> Option<AuthorizedKey> {
    let page = ctguard::store::PageRequest {
        limit: 1000,
        token: None,
    };
    store
        .list_keys(&page)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|k| &k.pubkey_sha256 == pubkey)
}

fn y2000() -> DateTime<Utc> {
    "2000-01-01T00:00:00Z".parse().unwrap()
}

// ------------------------------------------------------------- overwrite attempts (append-only)

/// The finding: a push with an existing TBS hash and a `not_after` in 2000 wiped the record's
/// key, names and hashes and scheduled it for deletion.
#[tokio::test]
async fn a_push_cannot_wipe_or_expire_an_existing_certificate() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), settings()));
    let ca = TestCa::new("ctguard scope test CA");
    let leaf = factory_leaf(&ca, &["shop.example.com"]);
    ok(
        &send(
            &app,
            Req::post("/certs")
                .push()
                .pem(&leaf.final_cert.fullchain_pem),
        )
        .await,
        201,
    );
    let before = stored_cert(&aws.store(), &leaf.expected_tbs).await;
    assert!(before.pubkey_sha256.is_some() && !before.dns_names.is_empty());

    let r = send(
        &app,
        Req::post("/certs").push().json(json!({
            "tbs_sha256": leaf.expected_tbs.to_hex(),
            "dns_names": ["shop.example.com"],
            "not_after": y2000(),
        })),
    )
    .await;
    let answer = ok(&r, 200);
    let after = stored_cert(&aws.store(), &leaf.expected_tbs).await;
    assert_eq!(after.pubkey_sha256, before.pubkey_sha256, "key kept");
    assert_eq!(after.cert_sha256, before.cert_sha256, "hash kept");
    assert_eq!(after.dns_names, before.dns_names, "names kept");
    assert_eq!(
        after.not_after, before.not_after,
        "not_after never shortened"
    );
    assert_eq!(after.expires_at, before.expires_at, "no deletion scheduled");
    assert_eq!(
        answer["not_after"],
        json!(before.not_after),
        "answers the stored record"
    );

    // The same through a bare JSON push without names (refused outright for push tokens).
    let r = send(
        &app,
        Req::post("/certs").push().json(json!({
            "tbs_sha256": leaf.expected_tbs.to_hex(),
            "not_after": y2000(),
        })),
    )
    .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(stored_cert(&aws.store(), &leaf.expected_tbs).await, after);
}

/// The finding: a push token overwrote `source`, `note` and `expires_at` of an admin's key.
#[tokio::test]
async fn a_push_cannot_rewrite_an_admins_key() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), settings()));
    let key = Sha256Hash::digest(b"the operator's spare key");
    let far = Utc::now() + Duration::days(3650);
    ok(
        &send(
            &app,
            Req::post("/keys").admin().json(json!({
                "pubkey_sha256": key.to_hex(),
                "note": "HSM spare, ticket 7",
                "expires_at": far,
            })),
        )
        .await,
        201,
    );
    let before = stored_key(&aws.store(), &key).await.expect("stored");
    assert_eq!(before.source, ADMIN_LABEL);

    let soon = Utc::now() + Duration::minutes(1);
    // As the finding was reproduced (no names), then with names: either way nothing changes.
    for (body, status) in [
        (
            json!({"pubkey_sha256": key.to_hex(), "note": "pwned", "expires_at": soon}),
            400,
        ),
        (
            json!({"pubkey_sha256": key.to_hex(), "dns_names": ["shop.example.com"],
                   "note": "pwned", "expires_at": soon}),
            200,
        ),
    ] {
        let r = send(&app, Req::post("/keys").push().json(body)).await;
        let after = stored_key(&aws.store(), &key).await.expect("still stored");
        assert_eq!(after.source, ADMIN_LABEL, "source kept");
        assert_eq!(after.note, before.note, "note kept");
        assert_eq!(
            after.expires_at, before.expires_at,
            "expires_at never shortened"
        );
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    }

    // Through POST /certs with only the key hash: the same.
    let r = send(
        &app,
        Req::post("/certs").push().json(json!({
            "pubkey_sha256": key.to_hex(),
            "dns_names": ["shop.example.com"],
            "not_after": y2000(),
        })),
    )
    .await;
    ok(&r, 200);
    let again = stored_key(&aws.store(), &key).await.expect("still stored");
    assert_eq!(
        (again.source, again.note, again.expires_at),
        (before.source, before.note, before.expires_at)
    );

    // An admin may still change it.
    ok(
        &send(
            &app,
            Req::post("/keys").admin().json(json!({
                "pubkey_sha256": key.to_hex(),
                "note": "retired",
            })),
        )
        .await,
        200,
    );
    let changed = stored_key(&aws.store(), &key).await.unwrap();
    assert_eq!(changed.note.as_deref(), Some("retired"));
}

/// The finding: `{"pubkey_sha256"}` alone from a push token authorized any public key.
#[tokio::test]
async fn a_push_cannot_authorize_a_bare_key_hash() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), settings()));
    let key = Sha256Hash::digest(b"an attacker's key");
    for path in ["/keys", "/certs"] {
        let r = send(
            &app,
            Req::post(path)
                .push()
                .json(json!({"pubkey_sha256": key.to_hex()})),
        )
        .await;
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_code(), "missing_field", "{path}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("dns_names")
        );
    }
    assert_eq!(
        stored_key(&aws.store(), &key).await,
        None,
        "nothing written"
    );
}

// ------------------------------------------------------------- scoped tokens

const SHOP_TOKEN: &str = "push-token-shop-0a1b2c";
const SHOP_LABEL: &str = "lb:shop";
const CDN_TOKEN: &str = "push-token-cdn-3d4e5f";
const CDN_LABEL: &str = "lb:cdn";

/// The token list as an operator writes it: two scoped push tokens, the unscoped legacy push
/// token and the admin token of `ctguard_tests::api`.
fn scoped_settings() -> ApiSettings {
    let h = |t: &str| Sha256Hash::digest(t.as_bytes()).to_hex();
    let json = json!([
        {"sha256": h(SHOP_TOKEN), "role": "push", "label": SHOP_LABEL,
         "names": ["shop.example.com", "*.cdn.example.com"]},
        {"sha256": h(CDN_TOKEN), "role": "push", "label": CDN_LABEL, "names": ["cdn.example.com"]},
        {"sha256": h(PUSH_TOKEN), "role": "push", "label": PUSH_LABEL},
        {"sha256": h(ADMIN_TOKEN), "role": "admin", "label": ADMIN_LABEL},
    ]);
    ApiSettings::new(AuthMode::Bearer(
        tokens_from_json(&json.to_string()).expect("a valid token list"),
    ))
}

fn out_of_scope(r: &Resp) -> String {
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), "out_of_scope");
    r.json()["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_scoped_token_pushes_only_certificates_whose_every_name_is_in_scope() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), scoped_settings()));
    let ca = TestCa::new("ctguard scope test CA");

    // In scope: the name itself, a name below it, and the other pattern.
    let inside = factory_leaf(
        &ca,
        &[
            "shop.example.com",
            "www.shop.example.com",
            "img.cdn.example.com",
        ],
    );
    let body = ok(
        &send(
            &app,
            Req::post("/certs")
                .token(SHOP_TOKEN)
                .pem(&inside.final_cert.fullchain_pem),
        )
        .await,
        201,
    );
    assert_eq!(body["source"], SHOP_LABEL);
    assert_eq!(body["sources"], json!([SHOP_LABEL]));

    // One name outside: 403 listing it (and only it); nothing stored.
    let mixed = factory_leaf(
        &ca,
        &["shop.example.com", "admin.example.com", "*.example.com"],
    );
    let r = send(
        &app,
        Req::post("/certs")
            .token(SHOP_TOKEN)
            .pem(&mixed.final_cert.fullchain_pem),
    )
    .await;
    let message = out_of_scope(&r);
    assert!(message.contains("\"admin.example.com\""), "{message}");
    assert!(message.contains("\"*.example.com\""), "{message}");
    assert!(!message.contains("\"shop.example.com\""), "{message}");
    assert_eq!(
        aws.store().get_cert(&mixed.expected_tbs).await.unwrap(),
        None
    );

    // The precertificate as DER: the same names, the same refusal.
    let r = send(
        &app,
        Req::post("/certs")
            .token(SHOP_TOKEN)
            .body("application/pkix-cert", mixed.precert.der.clone())
            .base64(),
    )
    .await;
    out_of_scope(&r);

    // Another scoped token may not push the first one's names.
    let r = send(
        &app,
        Req::post("/certs")
            .token(CDN_TOKEN)
            .pem(&inside.final_cert.fullchain_pem),
    )
    .await;
    let message = out_of_scope(&r);
    assert!(message.contains("shop.example.com"), "{message}");
    assert!(!message.contains("img.cdn.example.com"), "{message}");
    let stored = ok(
        &send(
            &app,
            Req::get(&format!("/certs/{}", inside.expected_tbs)).admin(),
        )
        .await,
        200,
    );
    assert_eq!(
        stored["sources"],
        json!([SHOP_LABEL]),
        "the refused push left no trace"
    );
}

#[tokio::test]
async fn hash_only_pushes_carry_names_and_are_held_to_the_scope() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), scoped_settings()));
    let tbs = Sha256Hash::digest(b"a certificate not at hand");
    let key = Sha256Hash::digest(b"a key from a CSR");

    for body in [
        json!({"tbs_sha256": tbs.to_hex()}),
        json!({"tbs_sha256": tbs.to_hex(), "dns_names": []}),
        json!({"pubkey_sha256": key.to_hex()}),
    ] {
        for path in ["/certs", "/keys"] {
            if path == "/keys" && body.get("tbs_sha256").is_some() {
                continue;
            }
            let r = send(&app, Req::post(path).token(SHOP_TOKEN).json(body.clone())).await;
            assert_eq!(
                r.status,
                400,
                "{path} {body}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(r.error_code(), "missing_field");
        }
    }
    for (path, body) in [
        (
            "/certs",
            json!({"tbs_sha256": tbs.to_hex(), "dns_names": ["www.example.com"]}),
        ),
        (
            "/certs",
            json!({"pubkey_sha256": key.to_hex(), "dns_names": ["shop.example.com", "example.com"]}),
        ),
        (
            "/keys",
            json!({"pubkey_sha256": key.to_hex(), "dns_names": ["*.example.com"]}),
        ),
    ] {
        let r = send(&app, Req::post(path).token(SHOP_TOKEN).json(body.clone())).await;
        let message = out_of_scope(&r);
        assert!(!message.contains("shop.example.com\""), "{message}");
    }
    assert_eq!(aws.store().get_cert(&tbs).await.unwrap(), None);
    assert_eq!(stored_key(&aws.store(), &key).await, None);

    // In scope: stored with the names, attributed to the token.
    let body = ok(
        &send(
            &app,
            Req::post("/certs").token(SHOP_TOKEN).json(json!({
                "tbs_sha256": tbs.to_hex(), "dns_names": ["WWW.shop.example.com."],
            })),
        )
        .await,
        201,
    );
    assert_eq!(body["dns_names"], json!(["www.shop.example.com"]));
    assert_eq!(body["source"], SHOP_LABEL);
    let body = ok(
        &send(
            &app,
            Req::post("/keys").token(SHOP_TOKEN).json(json!({
                "pubkey_sha256": key.to_hex(), "dns_names": ["shop.example.com"],
            })),
        )
        .await,
        201,
    );
    assert_eq!(body["dns_names"], json!(["shop.example.com"]));
    assert_eq!(body["source"], SHOP_LABEL);
}

#[tokio::test]
async fn a_scoped_token_authorizes_keys_only_for_its_names() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), scoped_settings()));
    let ca = TestCa::new("ctguard scope test CA");
    let inside = factory_leaf(&ca, &["shop.example.com"]);
    let outside = factory_leaf(&ca, &["pay.example.com"]);

    // A certificate (its key) for a name outside: 403, as PEM body and inside JSON.
    let r = send(
        &app,
        Req::post("/keys")
            .token(SHOP_TOKEN)
            .pem(&outside.final_cert.fullchain_pem),
    )
    .await;
    out_of_scope(&r);
    let r = send(
        &app,
        Req::post("/keys").token(SHOP_TOKEN).json(json!({
            "pem": outside.final_cert.fullchain_pem,
            "dns_names": ["shop.example.com"],
        })),
    )
    .await;
    assert!(
        out_of_scope(&r).contains("pay.example.com"),
        "the certificate's names count"
    );
    // A bare PUBLIC KEY names nothing.
    let spki = rcgen::KeyPair::generate().unwrap().public_key_pem();
    let r = send(&app, Req::post("/keys").token(SHOP_TOKEN).pem(&spki)).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), "missing_field");
    assert!(
        aws.store()
            .list_keys(&ctguard::store::PageRequest {
                limit: 10,
                token: None
            })
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // In scope: the key is stored with the certificate's names.
    let body = ok(
        &send(
            &app,
            Req::post("/keys")
                .token(SHOP_TOKEN)
                .pem(&inside.final_cert.fullchain_pem),
        )
        .await,
        201,
    );
    assert_eq!(body["dns_names"], json!(["shop.example.com"]));
    assert_eq!(body["source"], SHOP_LABEL);
}

#[tokio::test]
async fn unscoped_push_tokens_keep_working_and_status_lists_them() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), scoped_settings()));
    let ca = TestCa::new("ctguard scope test CA");
    let leaf = factory_leaf(&ca, &["anything.example.net"]);
    let body = ok(
        &send(
            &app,
            Req::post("/certs")
                .push()
                .pem(&leaf.final_cert.fullchain_pem),
        )
        .await,
        201,
    );
    assert_eq!(body["source"], PUSH_LABEL);

    let status = send(&app, Req::get("/status").admin()).await;
    let view = ok(&status, 200);
    assert_eq!(view["unscoped_push_tokens"], json!([PUSH_LABEL]));
    let text = String::from_utf8_lossy(&status.body);
    for secret in [PUSH_TOKEN, SHOP_TOKEN, ADMIN_TOKEN] {
        assert!(!text.contains(secret));
        assert!(!text.contains(&Sha256Hash::digest(secret.as_bytes()).to_hex()));
    }
    // Push tokens still may not read it.
    assert_eq!(
        send(&app, Req::get("/status").token(SHOP_TOKEN))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn every_accepted_push_is_attributed_and_listed() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), scoped_settings()));
    let ca = TestCa::new("ctguard scope test CA");
    let leaf = factory_leaf(&ca, &["img.cdn.example.com"]);
    let pem = &leaf.final_cert.fullchain_pem;
    ok(
        &send(&app, Req::post("/certs").token(CDN_TOKEN).pem(pem)).await,
        201,
    );
    // Two load balancers serve the same certificate; one pushes twice.
    ok(
        &send(&app, Req::post("/certs").token(SHOP_TOKEN).pem(pem)).await,
        200,
    );
    let again = ok(
        &send(&app, Req::post("/certs").token(SHOP_TOKEN).pem(pem)).await,
        200,
    );
    assert_eq!(again["sources"], json!([CDN_LABEL, SHOP_LABEL]));
    let list = ok(
        &send(&app, Req::get("/certs?name=img.cdn.example.com").admin()).await,
        200,
    );
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let item = &list["items"][0];
    assert_eq!(item["tbs_sha256"], leaf.expected_tbs.to_hex());
    assert_eq!(item["source"], CDN_LABEL, "the first pusher");
    assert_eq!(item["sources"], json!([CDN_LABEL, SHOP_LABEL]));
}

#[tokio::test]
async fn admin_writes_anything_and_may_change_what_pushes_cannot() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), scoped_settings()));
    let tbs = Sha256Hash::digest(b"declared by an operator");
    // Hash-only without names, any names, its own source: admin only.
    let body = ok(
        &send(
            &app,
            Req::post("/certs")
                .admin()
                .json(json!({"tbs_sha256": tbs.to_hex(), "source": "vendor-x"})),
        )
        .await,
        201,
    );
    assert_eq!(body["source"], "vendor-x");
    // A scoped push of the same hash with in-scope names adds only its label.
    let pushed = ok(
        &send(
            &app,
            Req::post("/certs").token(SHOP_TOKEN).json(json!({
                "tbs_sha256": tbs.to_hex(), "dns_names": ["shop.example.com"], "not_after": y2000(),
            })),
        )
        .await,
        200,
    );
    assert_eq!(pushed["source"], "vendor-x");
    assert_eq!(pushed["dns_names"], json!([]));
    assert_eq!(pushed["not_after"], Value::Null);
    let stored = stored_cert(&aws.store(), &tbs).await;
    assert_eq!(
        (stored.dns_names.len(), stored.not_after, stored.expires_at),
        (0, None, None)
    );
    // The admin replaces it, and deletes it.
    let replaced = ok(
        &send(
            &app,
            Req::post("/certs").admin().json(json!({
                "tbs_sha256": tbs.to_hex(), "dns_names": ["pay.example.com"], "not_after": y2000(),
            })),
        )
        .await,
        200,
    );
    assert_eq!(replaced["dns_names"], json!(["pay.example.com"]));
    assert_eq!(replaced["source"], ADMIN_LABEL);
    ok(
        &send(&app, Req::delete(&format!("/certs/{tbs}")).admin()).await,
        204,
    );
    assert_eq!(
        send(
            &app,
            Req::delete(&format!("/certs/{tbs}")).token(SHOP_TOKEN)
        )
        .await
        .status,
        403
    );
}
