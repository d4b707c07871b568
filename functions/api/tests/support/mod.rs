//! Test support: an app over the in-memory store, the test callers and Function URL events
//! (`api::testing`, shared with the workspace's integration tests), certificates made with rcgen.
#![allow(dead_code)]

pub use api::testing::event::*;
#[allow(unused_imports)] // not every test binary including this module uses each
pub use api::testing::{
    ADMIN_LABEL, ADMIN_TOKEN, Callers, InProcess, PUSH_LABEL, PUSH_TOKEN, settings, tokens,
};

use api::App;
use ctguard::hash::Sha256Hash;
use ctguard::model::{AuthorizedKey, InventoryCert};
use ctguard::store::memory::MemoryStore;
use ctguard::store::{InventoryStore as _, PageRequest};

/// The app over a new in-memory store, its router built once.
pub fn app() -> InProcess<MemoryStore> {
    InProcess::new(App::new(MemoryStore::new(), settings()))
}

/// Every certificate in the app's inventory (up to 1,000).
pub async fn stored_certs(app: &InProcess<MemoryStore>) -> Vec<InventoryCert> {
    app.store()
        .list_certs(None, &everything())
        .await
        .expect("list_certs")
        .items
}

/// Every authorized key in the app's inventory (up to 1,000).
pub async fn stored_keys(app: &InProcess<MemoryStore>) -> Vec<AuthorizedKey> {
    app.store()
        .list_keys(&everything())
        .await
        .expect("list_keys")
        .items
}

fn everything() -> PageRequest {
    PageRequest {
        limit: 1000,
        token: None,
    }
}

/// A test CA and leaves, made with rcgen.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

pub struct Leaf {
    pub pem: String,
    pub der: Vec<u8>,
    pub fullchain: String,
    pub key: rcgen::KeyPair,
}

impl Ca {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ctguard api test CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    pub fn issue(&self, names: &[&str]) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        self.issue_with_key(names, key)
    }

    pub fn issue_with_key(&self, names: &[&str], key: rcgen::KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            fullchain: format!("{}{}", cert.pem(), self.pem),
            key,
        }
    }
}

/// The TBS hash computed independently of ctguard: SHA-256 of the raw TBSCertificate (equal to
/// the RFC 6962 hash for certificates without SCT or poison extensions, as these are).
pub fn independent_tbs_sha256(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    Sha256Hash::digest(cert.tbs_certificate.as_ref()).to_hex()
}

/// SHA-256 of the leaf's SubjectPublicKeyInfo, computed independently.
pub fn independent_spki_sha256(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    Sha256Hash::digest(cert.tbs_certificate.subject_pki.raw).to_hex()
}

/// An alert as the poller would store it (no watch-entry matches, so no domain parsing).
#[allow(unused_imports)] // like the functions here, not every test binary uses it
pub use ctguard_core::fixtures::stored_alert as alert;
