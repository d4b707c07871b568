//! Test support for ctguard's integration tests: a certificate factory ([`certs`]), a fake Cert
//! Spotter API ([`fake_certspotter`]), the local AWS emulator harness ([`aws`]), a
//! fault-injecting proxy in front of it ([`fault_proxy`]), the emulator's optional GSI lag
//! ([`gsi_lag`]), and the SAM build/invoke support ([`sam`]).

pub mod aws;
pub mod certs;
pub mod fake_certspotter;
pub mod fault_proxy;
pub mod gsi_lag;
pub mod sam;
pub mod store_contract;

/// `../shared` beside the project root: real CT vectors and Cert Spotter responses.
pub fn shared_data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}
