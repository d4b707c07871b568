//! Certificate factory for tests: a test CA issuing leaf certificates (rcgen), optionally with
//! the CT precertificate poison or an SCT-list extension, as DER and PEM.
//!
//! OWNER: helper "cert". Interface fixed here; bodies to be written.

/// What to put in a leaf certificate.
#[derive(Debug, Clone, Default)]
pub struct LeafSpec {
    pub dns_names: Vec<String>,
    /// Days from now; defaults to -1 .. +90 when `None`.
    pub valid_days: Option<(i64, i64)>,
    /// Add the critical CT poison extension (a precertificate).
    pub precert_poison: bool,
    /// Add a (fake-content) SCT-list extension.
    pub sct_list: bool,
    /// Reuse this key (PEM, PKCS#8) instead of a fresh one: same pubkey_sha256.
    pub key_pem: Option<String>,
}

/// A generated certificate.
#[derive(Debug, Clone)]
pub struct TestCert {
    pub der: Vec<u8>,
    pub pem: String,
    /// The leaf's private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Leaf PEM followed by the CA PEM (as certbot's fullchain.pem).
    pub fullchain_pem: String,
}

/// A self-signed test CA.
pub struct TestCa {
    _private: (),
}

impl TestCa {
    pub fn new(common_name: &str) -> Self {
        let _ = common_name;
        todo!("helper cert")
    }

    pub fn issue(&self, spec: &LeafSpec) -> TestCert {
        let _ = spec;
        todo!("helper cert")
    }
}
