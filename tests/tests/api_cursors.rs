//! Pagination cursors are signed: the API pages through DynamoDB (the emulator) with the
//! cursors it issued, and refuses forged, tampered, truncated, other-deployment and
//! other-listing cursors with 400 `invalid_cursor` before the store sees a start key.

use api::App;
use api::auth::{AuthMode, Role, TokenEntry};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ctguard::hash::Sha256Hash;
use ctguard::store::dynamo::DynamoStore;
use ctguard_tests::api::event::{Req, Resp, send};
use ctguard_tests::api::*;
use ctguard_tests::aws::TestAws;
use serde_json::{Value, json};

fn ok(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn refused(r: &Resp, what: &str) {
    assert_eq!(
        r.status,
        400,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.error_code(), "invalid_cursor", "{what}");
}

/// Splits a cursor into the store token and (when signed) its tag.
fn parts(cursor: &str) -> (String, Option<String>) {
    match cursor.rsplit_once('.') {
        Some((token, tag)) => (token.to_owned(), Some(tag.to_owned())),
        None => (cursor.to_owned(), None),
    }
}

fn join(token: &str, tag: &Option<String>) -> String {
    match tag {
        Some(tag) => format!("{token}.{tag}"),
        None => token.to_owned(),
    }
}

/// The store token's start key with every value equal to `from` replaced by `to`.
fn forge(token: &str, from: &str, to: &str) -> String {
    let plain = URL_SAFE_NO_PAD
        .decode(token)
        .expect("the store token is base64url");
    let text = String::from_utf8(plain).unwrap();
    assert!(text.contains(from), "{text} does not hold {from}");
    URL_SAFE_NO_PAD.encode(text.replace(from, to))
}

async fn push_keys(app: &InProcess<DynamoStore>, n: usize) -> Vec<String> {
    let mut keys = vec![];
    for i in 0..n {
        let key = Sha256Hash::digest(format!("cursor key {i}").as_bytes()).to_hex();
        let r = send(
            app,
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": key, "dns_names": ["www.example.com"]})),
        )
        .await;
        assert_eq!(r.status, 201);
        keys.push(key);
    }
    keys.sort();
    keys
}

#[tokio::test]
async fn issued_cursors_page_through_dynamodb_and_nothing_else_is_accepted() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), settings()));
    let keys = push_keys(&app, 5).await;

    // Round trip: every key exactly once, cursors as issued.
    let mut seen = vec![];
    let mut cursors = vec![];
    let mut target = "/keys?limit=2".to_owned();
    loop {
        let page = ok(&send(&app, Req::get(&target).admin()).await);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["pubkey_sha256"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                cursors.push(c.to_owned());
                target = format!("/keys?limit=2&cursor={c}");
            }
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, keys);
    assert!(!cursors.is_empty());

    let cursor = &cursors[0];
    let (token, tag) = parts(cursor);
    let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
    let start = keys
        .iter()
        .find(|k| plain.contains(k.as_str()))
        .expect("the start key names the last key of the page");
    let other_key = keys.iter().find(|k| *k != start).unwrap();

    let mut bad = vec![
        // A forged start key: another existing key (the old API accepted it).
        (
            "forged start key",
            join(&forge(&token, start, other_key), &tag),
        ),
        // A start key that does not exist at all.
        (
            "invented start key",
            join(&forge(&token, start, &"f".repeat(64)), &tag),
        ),
        // The store token alone (what the API issued before cursors were signed).
        ("unsigned token", token.clone()),
        ("truncated", cursor[..cursor.len() - 3].to_owned()),
        ("truncated token", cursor[3..].to_owned()),
        ("garbage", "not-a-cursor".to_owned()),
    ];
    if let Some(tag) = &tag {
        let mut flipped = tag.clone().into_bytes();
        flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
        bad.push((
            "tampered tag",
            format!("{token}.{}", String::from_utf8(flipped).unwrap()),
        ));
    }
    for (what, cursor) in &bad {
        refused(
            &send(
                &app,
                Req::get(&format!("/keys?limit=2&cursor={cursor}")).admin(),
            )
            .await,
            what,
        );
    }

    // Another deployment (another token set, so another derived key) refuses the cursor.
    let other = InProcess::new(App::new(
        aws.store(),
        api::ApiSettings::new(AuthMode::Bearer(vec![TokenEntry {
            sha256: Sha256Hash::digest(ADMIN_TOKEN.as_bytes()),
            role: Role::Admin,
            label: "other deployment".into(),
            names: None,
        }])),
    ));
    refused(
        &send(&other, Req::get(&format!("/keys?cursor={cursor}")).admin()).await,
        "other deployment",
    );

    // A cursor belongs to its listing: not valid for /certs, nor for other alert filters.
    refused(
        &send(&app, Req::get(&format!("/certs?cursor={cursor}")).admin()).await,
        "keys cursor on /certs",
    );
    refused(
        &send(&app, Req::get(&format!("/alerts?cursor={cursor}")).admin()).await,
        "keys cursor on /alerts",
    );

    // The refused requests did not break the valid cursor.
    let page = ok(&send(
        &app,
        Req::get(&format!("/keys?limit=2&cursor={cursor}")).admin(),
    )
    .await);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn certificate_cursors_are_bound_to_the_name_filter() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), settings()));
    for i in 0..3 {
        let body = json!({
            "tbs_sha256": Sha256Hash::digest(format!("cursor cert {i}").as_bytes()).to_hex(),
            "dns_names": ["shared.example.org", format!("h{i}.example.org")],
        });
        assert_eq!(
            send(&app, Req::post("/certs").admin().json(body))
                .await
                .status,
            201
        );
    }
    let page = ok(&send(
        &app,
        Req::get("/certs?name=shared.example.org&limit=1").admin(),
    )
    .await);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = ok(&send(
        &app,
        Req::get(&format!(
            "/certs?name=shared.example.org&limit=1&cursor={cursor}"
        ))
        .admin(),
    )
    .await);
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    refused(
        &send(
            &app,
            Req::get(&format!(
                "/certs?name=h0.example.org&limit=1&cursor={cursor}"
            ))
            .admin(),
        )
        .await,
        "cursor of another name",
    );
}
