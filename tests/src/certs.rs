//! Certificate factory for tests: a test CA issuing leaf certificates (rcgen), optionally with
//! the CT precertificate poison or an SCT-list extension, as DER and PEM.
//!
//! ```no_run
//! use ctguard_tests::certs::{LeafSpec, TestCa};
//! let ca = TestCa::new("ctguard test CA");
//! let leaf = ca.issue(&LeafSpec::for_names(["www.example.com"]));
//! // A precertificate and its final certificate: same TBS hash, different cert hash.
//! let (precert, final_cert) = ca.issue_pair(&LeafSpec::for_names(["example.com"]));
//! # let _ = (leaf, precert, final_cert);
//! ```
//!
//! Leaf extensions are written in a fixed order (subjectAltName, extKeyUsage serverAuth,
//! basicConstraints CA:FALSE), all through rcgen's custom extensions so that the CT ones can be
//! placed first, in the middle or last ([`CtPosition`]). Everything here panics on failure:
//! it is test support, and a broken factory must fail the test loudly.

use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DistinguishedName,
    DnType, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};

const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
const OID_CT_POISON: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];

/// Where the CT extensions (poison and/or SCT list) go among the leaf's other extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CtPosition {
    First,
    /// After the subjectAltName (or extKeyUsage when there are no DNS names), before the rest.
    Middle,
    #[default]
    Last,
}

/// What to put in a leaf certificate.
#[derive(Debug, Clone, Default)]
pub struct LeafSpec {
    pub dns_names: Vec<String>,
    /// Days from `issued_at`; defaults to -1 .. +90 when `None`.
    pub valid_days: Option<(i64, i64)>,
    /// Add the critical CT poison extension (a precertificate).
    pub precert_poison: bool,
    /// Add a (fake-content) SCT-list extension.
    pub sct_list: bool,
    /// Reuse this key (PEM, PKCS#8) instead of a fresh one: same pubkey_sha256.
    pub key_pem: Option<String>,
    /// Where the CT extensions go (default: last, as CAs usually put them).
    pub ct_position: CtPosition,
    /// Leave out subjectAltName, extKeyUsage and basicConstraints, so the CT extensions (if
    /// any) are the only ones. The DNS names then appear only as the subject CN.
    pub no_other_extensions: bool,
    /// Serial number, big-endian (positive); random when `None`.
    pub serial: Option<Vec<u8>>,
    /// The instant `valid_days` counts from; now when `None`. Fix it (with `serial` and
    /// `key_pem`) to issue the same TBS twice.
    pub issued_at: Option<DateTime<Utc>>,
}

impl LeafSpec {
    /// A plain leaf for these DNS names, with the defaults above.
    pub fn for_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            dns_names: names.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
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
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generating the CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-signing the CA");
        let pem = issuer.pem();
        Self { issuer, pem }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    pub fn issue(&self, spec: &LeafSpec) -> TestCert {
        let spec = self.pin(spec);
        let key = KeyPair::from_pem(spec.key_pem.as_deref().expect("pinned"))
            .expect("LeafSpec::key_pem must be a PKCS#8 PEM private key");
        let cert = leaf_params(&spec)
            .signed_by(&key, &self.issuer)
            .expect("signing the leaf");
        let pem = cert.pem();
        TestCert {
            der: cert.der().to_vec(),
            fullchain_pem: format!("{pem}{}", self.pem),
            pem,
            key_pem: key.serialize_pem(),
        }
    }

    /// A precertificate (poison) and its final certificate (SCT list) from the same spec: same
    /// key, serial, validity and extension order, so they share `tbs_sha256`.
    pub fn issue_pair(&self, spec: &LeafSpec) -> (TestCert, TestCert) {
        let spec = self.pin(spec);
        let precert = self.issue(&LeafSpec {
            precert_poison: true,
            sct_list: false,
            ..spec.clone()
        });
        let final_cert = self.issue(&LeafSpec {
            precert_poison: false,
            sct_list: true,
            ..spec
        });
        (precert, final_cert)
    }

    /// Fixes everything left to chance (key, serial, time) so a spec can be issued twice.
    fn pin(&self, spec: &LeafSpec) -> LeafSpec {
        let mut spec = spec.clone();
        spec.key_pem.get_or_insert_with(|| {
            KeyPair::generate()
                .expect("generating a leaf key")
                .serialize_pem()
        });
        spec.serial.get_or_insert_with(random_serial);
        spec.issued_at.get_or_insert_with(|| {
            DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now is representable")
        });
        spec
    }
}

/// A pinned spec's rcgen parameters (see [`TestCa::pin`]).
fn leaf_params(spec: &LeafSpec) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let cn = spec
        .dns_names
        .first()
        .map_or("ctguard test leaf", String::as_str);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serial_number = spec.serial.clone().map(SerialNumber::from);
    let (from, to) = spec.valid_days.unwrap_or((-1, 90));
    let issued_at = spec.issued_at.expect("pinned").timestamp();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch(issued_at + from * 86_400);
    params.not_after = epoch + since_epoch(issued_at + to * 86_400);

    let mut others = Vec::new();
    if !spec.no_other_extensions {
        if !spec.dns_names.is_empty() {
            others.push(CustomExtension::from_oid_content(
                OID_SAN,
                san_value(&spec.dns_names),
            ));
        }
        // SEQUENCE { OID 1.3.6.1.5.5.7.3.1 (serverAuth) }
        let server_auth = hex_bytes("300a06082b06010505070301");
        others.push(CustomExtension::from_oid_content(
            OID_EXT_KEY_USAGE,
            server_auth,
        ));
        let mut basic = CustomExtension::from_oid_content(OID_BASIC_CONSTRAINTS, vec![0x30, 0x00]);
        basic.set_criticality(true);
        others.push(basic);
    }
    let mut ct = Vec::new();
    if spec.precert_poison {
        // RFC 6962 §3.1: critical, value ASN.1 NULL.
        let mut poison = CustomExtension::from_oid_content(OID_CT_POISON, vec![0x05, 0x00]);
        poison.set_criticality(true);
        ct.push(poison);
    }
    if spec.sct_list {
        ct.push(CustomExtension::from_oid_content(
            OID_SCT_LIST,
            fake_sct_list(),
        ));
    }
    let split = match spec.ct_position {
        CtPosition::First => 0,
        CtPosition::Middle => others.len().min(1),
        CtPosition::Last => others.len(),
    };
    let tail = others.split_off(split);
    params.custom_extensions = others.into_iter().chain(ct).chain(tail).collect();
    params
}

/// subjectAltName value: SEQUENCE OF dNSName ([2] IMPLICIT IA5String).
fn san_value(names: &[String]) -> Vec<u8> {
    let entries: Vec<u8> = names
        .iter()
        .flat_map(|name| der_tlv(0x82, name.as_bytes()))
        .collect();
    der_tlv(0x30, &entries)
}

/// An OCTET STRING holding a TLS-encoded list with one fake 12-byte "SCT": right shape, no
/// meaning (nothing in ctguard verifies SCTs).
fn fake_sct_list() -> Vec<u8> {
    let sct = b"fake-sct-123";
    let mut list = (sct.len() as u16 + 2).to_be_bytes().to_vec();
    list.extend((sct.len() as u16).to_be_bytes());
    list.extend(sct);
    der_tlv(0x04, &list)
}

/// Test-side DER: `tag`, the minimal length of `content`, then `content`. Written separately
/// from `ctguard::der` so tests can build expected encodings independently of the code under
/// test. Supports contents up to 16 MiB.
pub fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        0x100..=0xffff => out.extend([0x82, (len >> 8) as u8, len as u8]),
        0x1_0000..=0xff_ffff => out.extend([0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
        _ => panic!("der_tlv: {len} bytes is more than a test certificate needs"),
    }
    out.extend_from_slice(content);
    out
}

fn random_serial() -> Vec<u8> {
    // 16 random bytes, first one in 0x01..=0x7f: positive and minimally encoded.
    let mut serial: Vec<u8> = (0..16).map(|_| fastrand::u8(..)).collect();
    serial[0] = fastrand::u8(1..0x80);
    serial
}

/// Time since the Unix epoch; rcgen takes `time::OffsetDateTime`, built as epoch + this, so
/// the tests crate needs no direct `time` dependency.
fn since_epoch(unix_seconds: i64) -> std::time::Duration {
    let seconds = u64::try_from(unix_seconds).expect("test certificates are dated after 1970");
    std::time::Duration::from_secs(seconds)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex).expect("valid hex literal")
}
