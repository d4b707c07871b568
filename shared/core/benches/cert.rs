//! TBS hash throughput next to plain SHA-256 of the same certificate bytes, so the cost of the
//! DER walk and re-encoding shows as the gap between the two lines of each group.
//!
//! `cargo bench -p ctguard-core --bench cert`

use std::sync::LazyLock;

use ctguard_core::cert::{self, CertIdentity};
use ctguard_core::hash::Sha256Hash;
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// Case A of the CT vectors: a real Sectigo certificate with an embedded SCT list (~1.8 KB).
static CASE_A: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/ct-vectors/certspotter_authorize_sslmate_com_final.pem"
    );
    let pem = std::fs::read(path).expect("CT vector case A");
    x509_parser::pem::Pem::iter_from_buffer(&pem)
        .next()
        .expect("one PEM block")
        .expect("valid PEM")
        .contents
});

/// A generated certificate with 2500 SANs (TBS over 64 KiB) and an SCT list among its
/// extensions, so the hash has to rebuild the TBS rather than hash it in place.
static LARGE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let names: Vec<String> = (0..2500)
        .map(|i| format!("host-{i:04}.bench.example.com"))
        .collect();
    let mut params = rcgen::CertificateParams::new(names).expect("valid names");
    let sct = rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
        vec![0x04, 0x06, 0x00, 0x04, 0x00, 0x02, 0xab, 0xcd],
    );
    params.custom_extensions.push(sct);
    let key = rcgen::KeyPair::generate().expect("key");
    let der = params
        .self_signed(&key)
        .expect("self-signed")
        .der()
        .to_vec();
    assert!(der.len() > 64 * 1024);
    der
});

fn bench_tbs(bencher: Bencher, der: &[u8]) {
    bencher
        .counter(BytesCount::of_slice(der))
        .bench(|| cert::tbs_sha256(black_box(der)).expect("valid"));
}

fn bench_plain(bencher: Bencher, der: &[u8]) {
    bencher
        .counter(BytesCount::of_slice(der))
        .bench(|| Sha256Hash::digest(black_box(der)));
}

fn bench_identity(bencher: Bencher, der: &[u8]) {
    bencher
        .counter(BytesCount::of_slice(der))
        .bench(|| CertIdentity::from_der(black_box(der)).expect("valid"));
}

mod case_a_real_cert {
    use super::*;

    #[divan::bench]
    fn tbs_sha256(bencher: Bencher) {
        bench_tbs(bencher, &CASE_A);
    }

    #[divan::bench]
    fn plain_sha256(bencher: Bencher) {
        bench_plain(bencher, &CASE_A);
    }

    #[divan::bench]
    fn full_identity(bencher: Bencher) {
        bench_identity(bencher, &CASE_A);
    }
}

mod large_generated_cert {
    use super::*;

    #[divan::bench]
    fn tbs_sha256(bencher: Bencher) {
        bench_tbs(bencher, &LARGE);
    }

    #[divan::bench]
    fn plain_sha256(bencher: Bencher) {
        bench_plain(bencher, &LARGE);
    }

    #[divan::bench]
    fn full_identity(bencher: Bencher) {
        bench_identity(bencher, &LARGE);
    }
}
