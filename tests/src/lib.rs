//! Test support for ctguard's integration tests: the API under test ([`api`](crate::api): its
//! test callers, Function URL events, the app in process, its local listener), a certificate
//! factory ([`certs`]), a fake Cert Spotter API ([`fake_certspotter`]), the local AWS emulator
//! harness ([`aws`]), a fault-injecting proxy in front of it ([`fault_proxy`]), the emulator's
//! optional GSI lag ([`gsi_lag`]), the SAM build/invoke support ([`sam`]), the local stack's
//! inbox ([`inbox`]), a fake Lambda Runtime API to time a bootstrap natively
//! ([`fake_lambda_runtime`]) and a WebDriver client for headless Chromium ([`webdriver`]).

pub mod api;
pub mod aws;
pub mod certs;
pub mod dns;
pub mod fake_certspotter;
pub mod fake_lambda_runtime;
pub mod fault_proxy;
pub mod gsi_lag;
pub mod iam;
pub mod inbox;
pub mod sam;
pub mod store_contract;
pub mod watching_contract;
pub mod webdriver;

/// `tests/data` in the repository: real CT vectors and Cert Spotter responses (see its README).
/// Tests read data only from here, never from outside the repository.
pub fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}
