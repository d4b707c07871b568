//! Hostile input: whatever arrives (binary garbage, invalid UTF-8, deep JSON, absurd numbers,
//! mangled certificates, odd paths and queries, any content type, base64 or not) the answer is
//! a JSON 4xx or a success, never a 5xx or a panic, and a refused request writes nothing.

mod support;

use api::router::ROUTES;
use ctguard::hash::Sha256Hash;
use ctguard::store::memory::MemoryStore;
use ctguard::store::{AlertStore, InventoryStore, PageRequest, WatchStore};
use support::*;

/// Deterministic pseudo-random bytes (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// How many records of each kind the store holds.
async fn census(store: &MemoryStore) -> (usize, usize, usize, usize) {
    let all = PageRequest {
        limit: 100_000,
        token: None,
    };
    (
        store.list_certs(None, &all).await.unwrap().items.len(),
        store.list_keys(&all).await.unwrap().items.len(),
        store.list_watches().await.unwrap().len(),
        store
            .list_alerts(&Default::default(), &all)
            .await
            .unwrap()
            .items
            .len(),
    )
}

fn hostile_bodies(rng: &mut Rng, real_der: &[u8], real_pem: &str) -> Vec<Vec<u8>> {
    let mut bodies = vec![
        vec![],
        b"\xff\xfe\xfd".to_vec(),
        b"\x00\x00\x00\x00".to_vec(),
        "[".repeat(200_000).into_bytes(),
        "{\"a\":".repeat(50_000).into_bytes(),
        br#"{"tbs_sha256": 1e999999, "limit": -99999999999999999999999}"#.to_vec(),
        br#"{"value": "\ud800", "note": "\u0000"}"#.to_vec(),
        format!(r#"{{"value": "{}"}}"#, "a".repeat(60_000)).into_bytes(),
        format!(r#"{{"pem": "{}"}}"#, "A".repeat(60_000)).into_bytes(),
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec(),
        b"-----BEGIN CERTIFICATE-----\n".to_vec(),
        b"-----BEGIN PUBLIC KEY-----\n".to_vec(),
        real_der[..real_der.len() / 2].to_vec(),
        real_pem.as_bytes()[..real_pem.len() / 2].to_vec(),
        br#"{"dns_names": ["a"], "tbs_sha256": null}"#.to_vec(),
        br#"[]"#.to_vec(),
        br#""string""#.to_vec(),
        br#"null"#.to_vec(),
    ];
    // A real certificate with one byte flipped somewhere (may still parse: that is fine).
    for _ in 0..20 {
        let mut der = real_der.to_vec();
        let at = rng.below(der.len());
        der[at] ^= 1 << rng.below(8);
        bodies.push(der);
    }
    for _ in 0..60 {
        let len = rng.below(4096);
        bodies.push(rng.bytes(len));
    }
    bodies
}

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/x-pem-file"),
    Some("text/plain; charset=latin1"),
    Some("application/pkix-cert"),
    Some("application/octet-stream"),
    Some(";;;"),
];

fn assert_sane(r: &Resp, what: &str) {
    assert!(
        [200, 201, 204, 400, 401, 403, 404, 405, 413, 415].contains(&r.status),
        "{what}: status {}",
        r.status
    );
    if r.status >= 400 {
        let body: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{what}: error body is not JSON: {e}"));
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{what}"
        );
    }
}

#[tokio::test]
async fn no_body_on_any_route_causes_a_5xx_or_a_partial_write() {
    let app = app();
    let mut rng = Rng(0x00c7_6a4d);
    let leaf = Ca::new().issue(&["hostile.example.org"]);
    let bodies = hostile_bodies(&mut rng, &leaf.der, &leaf.pem);
    let hash = Sha256Hash::digest(b"h").to_hex();
    let mut requests = 0;
    for route in ROUTES {
        let path = route
            .template
            .replace("{tbs_sha256}", &hash)
            .replace("{pubkey_sha256}", &hash)
            .replace("{value}", "example.org");
        for body in &bodies {
            let content_type = CONTENT_TYPES[rng.below(CONTENT_TYPES.len())];
            let mut req = Req::new(route.method.as_str(), &path).raw_body(body.clone());
            req = if rng.below(2) == 0 {
                req.admin()
            } else {
                req.push()
            };
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            if rng.below(2) == 0 {
                req = req.base64();
            }
            let what = format!(
                "{} {path} ct={content_type:?} body[..16]={:?}",
                route.method,
                &body[..body.len().min(16)]
            );
            let before = census(app.store()).await;
            let r = send(&app, req).await;
            assert_sane(&r, &what);
            if r.status >= 400 {
                assert_eq!(
                    census(app.store()).await,
                    before,
                    "{what}: refused but wrote"
                );
            }
            requests += 1;
        }
    }
    assert!(requests > 1000);
}

#[tokio::test]
async fn odd_paths_and_queries_are_4xx_not_5xx() {
    let app = app();
    let mut rng = Rng(0x5eed);
    let long = "a".repeat(10_000);
    let mut targets: Vec<String> = vec![
        "/certs/%00".into(),
        "/certs/..".into(),
        "/certs/%2e%2e".into(),
        "/certs/%2F%2F".into(),
        format!("/certs/{long}"),
        format!("/domains/{long}"),
        "/domains/%E2%80%AE".into(),
        "/domains/%C0%AF".into(),
        "/alerts/%ZZ/ack".into(),
        "/certs?limit=%00".into(),
        "/certs?&&&=&=".into(),
        "/certs?name=%".into(),
        format!("/certs?name={long}"),
        "/alerts?since=%2B275760-09-13T00%3A00%3A00Z".into(),
        "/alerts?since=9999999999999999999".into(),
        "/alerts?severity=%F0%9F%92%A9".into(),
        "/alerts?limit=18446744073709551616".into(),
        "/alerts?cursor=%FF".into(),
        format!("/alerts?cursor={long}"),
        "/keys?cursor=-1".into(),
    ];
    for _ in 0..200 {
        let alphabet = b"abcz019%/?&=+.-_~";
        let len = rng.below(40);
        let tail: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())] as char)
            .collect();
        targets.push(format!("/{tail}"));
        targets.push(format!("/alerts?{tail}"));
    }
    for target in targets {
        for method in ["GET", "POST", "DELETE", "PUT"] {
            let r = send(&app, Req::new(method, &target).admin()).await;
            assert_sane(&r, &format!("{method} {target}"));
        }
    }
}
