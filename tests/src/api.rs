//! The API under test, shared by the `api_*` integration tests, the tests that drive the API
//! beside the poller, and `examples/api_latency.rs`: the test callers, Function URL events and
//! the in-process app of `api::testing` (re-exported), the local listener on a free port,
//! temporary directories, `openssl`-made certificates, the certbot hook and factory leaves with
//! their TBS hash computed independently.

pub use ::api::testing::{
    ADMIN_LABEL, ADMIN_TOKEN, Callers, InProcess, PUSH_LABEL, PUSH_TOKEN, event, settings,
};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ::api::{App, Store};
use ctguard::hash::Sha256Hash;

use crate::certs::{LeafSpec, TestCa, TestCert};

/// The API's local listener (the code `api --listen` runs) on 127.0.0.1 and a free port.
pub async fn start_listener<S: Store>(store: S) -> (String, Arc<App<S>>) {
    let app = Arc::new(App::new(store, settings()));
    let (listener, addr) = ::api::listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1:0");
    tokio::spawn(::api::listener::serve(listener, app.router()));
    (format!("http://{addr}"), app)
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "ctguard-{tag}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes `dir/cert.pem` (and `dir/privkey.pem`) with the `openssl` CLI, as a CA would for a
/// host: a P-256 key and a certificate for `names`. Returns the certificate's DER.
pub fn openssl_cert(dir: &Path, names: &[&str]) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    let san = names
        .iter()
        .map(|n| format!("DNS:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(dir.join("privkey.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .args(["-days", "90", "-subj"])
        .arg(format!("/CN={}", names[0]))
        .arg("-addext")
        .arg(format!("subjectAltName={san}"))
        .output()
        .expect("run openssl");
    assert!(
        status.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let pem = std::fs::read(dir.join("cert.pem")).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).expect("openssl wrote PEM");
    block.contents
}

/// SHA-256 of the raw TBSCertificate, computed without ctguard (equal to the RFC 6962 TBS hash
/// for a certificate without SCT or poison extensions, as `openssl req` makes).
pub fn independent_tbs_sha256(der: &[u8]) -> Sha256Hash {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    Sha256Hash::digest(cert.tbs_certificate.as_ref())
}

/// The hook script in the repository.
pub fn hook_path() -> PathBuf {
    crate::sam::repo_root().join("infra/certbot/ctguard-deploy-hook")
}

/// A leaf from the certificate factory together with the RFC 6962 TBS hash computed
/// independently: the same certificate issued without any CT extension (same key, serial,
/// validity, extension order) has, as its plain TBS, exactly what ctguard must compute after
/// removing the SCT list or poison.
pub struct FactoryLeaf {
    pub precert: TestCert,
    pub final_cert: TestCert,
    pub expected_tbs: Sha256Hash,
}

pub fn factory_leaf(ca: &TestCa, names: &[&str]) -> FactoryLeaf {
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let spec = LeafSpec {
        key_pem: Some(key),
        serial: Some(vec![
            0x42,
            fastrand::u8(1..),
            fastrand::u8(..),
            fastrand::u8(..),
        ]),
        issued_at: chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() - 3600, 0),
        valid_days: Some((-1, 90)),
        ..LeafSpec::for_names(names.iter().copied())
    };
    let plain = ca.issue(&spec);
    let precert = ca.issue(&LeafSpec {
        precert_poison: true,
        ..spec.clone()
    });
    let final_cert = ca.issue(&LeafSpec {
        sct_list: true,
        ..spec
    });
    FactoryLeaf {
        expected_tbs: independent_tbs_sha256(&plain.der),
        precert,
        final_cert,
    }
}
