//! Test support for ctguard's integration tests: a certificate factory ([`certs`]), a fake Cert
//! Spotter API ([`fake_certspotter`]), and the local AWS emulator harness ([`aws`]).

pub mod aws;
pub mod certs;
pub mod fake_certspotter;

/// `../shared` beside the project root: real CT vectors and Cert Spotter responses.
pub fn shared_data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}
