//! Certificate identity: the three CT hashes and the facts an alert or inventory record needs.
//!
//! The hashes are computed from our own strict walk of the DER ([`crate::der`]) so that the TBS
//! can be rebuilt byte for byte; x509-parser only supplies the display facts (names, validity,
//! serial, DNs). Both parse the same bytes, and either failing rejects the certificate.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME;
use x509_parser::pem::Pem;

use crate::der::{self, DerError, DerErrorKind, Tlv, tag};
use crate::hash::Sha256Hash;

/// DER contents of OID 1.3.6.1.4.1.11129.2.4.2 (RFC 6962 embedded SCT list).
const OID_SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
/// DER contents of OID 1.3.6.1.4.1.11129.2.4.3 (RFC 6962 precertificate poison).
const OID_CT_POISON: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];

/// What ctguard needs to know about one certificate or precertificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertIdentity {
    /// RFC 6962 TBS hash: SCT-list and poison extensions removed. A precert and its cert share it.
    /// See [`tbs_sha256`] for the exact rule and its one known limit.
    pub tbs_sha256: Sha256Hash,
    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub pubkey_sha256: Sha256Hash,
    /// SHA-256 of the whole DER certificate.
    pub cert_sha256: Sha256Hash,
    /// SAN dNSNames plus a DNS-like subject CN: lowercased, deduplicated, Punycode as found.
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Serial number as lowercase hex (no leading zero byte), for display only.
    pub serial: String,
    /// RFC 4514 string forms, for display only (never used to decide anything).
    pub issuer: String,
    pub subject: String,
    /// Carries the precertificate poison extension.
    pub is_precert: bool,
    /// Carries embedded SCTs (RFC 6962 SCT-list extension): the CA logged its precertificate.
    #[serde(default)]
    pub has_sct_list: bool,
}

/// Why bytes are not a certificate we can identify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("no certificate found in the input")]
    NoCertificate,
    #[error("the PEM input holds no CERTIFICATE block, only: {}", .labels.join(", "))]
    OnlyOtherPemBlocks { labels: Vec<String> },
    #[error("input is neither PEM (no -----BEGIN line) nor DER (does not start with a SEQUENCE)")]
    UnrecognisedInput,
    #[error("PEM block {block}: {reason}")]
    InvalidPem { block: usize, reason: String },
    #[error("PEM block {block}: {source}")]
    InPemBlock {
        block: usize,
        #[source]
        source: Box<CertError>,
    },
    #[error("invalid DER: {0}")]
    InvalidDer(#[from] DerError),
    #[error("the {extension} extension appears more than once")]
    DuplicateCtExtension { extension: &'static str },
    #[error("not a valid X.509 certificate: {0}")]
    X509(String),
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl CertIdentity {
    /// Identifies one DER certificate (or precertificate). The DER must be exactly one
    /// certificate: trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let tbs = split_certificate(der)?;
        let layout = TbsLayout::parse(tbs)?;
        let tbs_sha256 = layout.hash();

        let (_, x509) =
            x509_parser::parse_x509_certificate(der).map_err(|e| CertError::X509(e.to_string()))?;
        let (dns_names, ip_addresses) = names(&x509)?;
        let validity = x509.validity();

        Ok(Self {
            tbs_sha256,
            pubkey_sha256: Sha256Hash::digest(layout.spki),
            cert_sha256: Sha256Hash::digest(der),
            dns_names,
            ip_addresses,
            not_before: to_chrono(validity.not_before.timestamp(), "notBefore")?,
            not_after: to_chrono(validity.not_after.timestamp(), "notAfter")?,
            serial: serial_hex(x509.raw_serial()),
            issuer: x509.issuer().to_string(),
            subject: x509.subject().to_string(),
            is_precert: layout.ct.poison,
            has_sct_list: layout.ct.sct_list,
        })
    }
}

/// Parses a PEM bundle (leaf first, as certbot's fullchain.pem), a single PEM, or DER.
/// Returns every certificate in order; the first is the leaf.
///
/// PEM blocks with other labels (a private key pasted alongside) are skipped, never read as
/// certificates; text around the blocks is ignored (as `openssl x509 -text` output has).
pub fn parse_certificates(input: &[u8]) -> Result<Vec<CertIdentity>, CertError> {
    let trimmed = input.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(CertError::NoCertificate);
    }
    // PEM first: a text preamble could start with '0' (0x30), a DER certificate never holds
    // a PEM armour line in practice (and if one did, it would fail as PEM, not mis-hash).
    if !contains(input, b"-----BEGIN ") {
        return match trimmed[0] {
            tag::SEQUENCE => Ok(vec![CertIdentity::from_der(trimmed)?]),
            _ => Err(CertError::UnrecognisedInput),
        };
    }

    let mut certs = Vec::new();
    let mut other_labels = Vec::new();
    for (index, block) in Pem::iter_from_buffer(input).enumerate() {
        let block_no = index + 1;
        let pem = block.map_err(|e| CertError::InvalidPem {
            block: block_no,
            reason: e.to_string(),
        })?;
        if pem.label != "CERTIFICATE" {
            other_labels.push(pem.label);
            continue;
        }
        let identity =
            CertIdentity::from_der(&pem.contents).map_err(|e| CertError::InPemBlock {
                block: block_no,
                source: Box::new(e),
            })?;
        certs.push(identity);
    }
    match (certs.is_empty(), other_labels.is_empty()) {
        (false, _) => Ok(certs),
        (true, true) => Err(CertError::NoCertificate),
        (true, false) => Err(CertError::OnlyOtherPemBlocks {
            labels: other_labels,
        }),
    }
}

/// The RFC 6962 TBS hash of a DER certificate, as Cert Spotter and SSLMate's certspotter compute
/// it: SHA-256 of the TBSCertificate with the SCT-list and poison extensions removed, every other
/// byte unchanged, lengths re-encoded; an empty extension list stays as `a3 02 30 00`.
///
/// Known limit (CT vector case E): a precertificate signed by a dedicated precertificate-signing
/// CA carries that CA as issuer (and its AKI), while RFC 6962 logs the TBS with the real issuer
/// and AKI substituted. Such a precert hashed on its own gives a value that is not the issuance's
/// hash; its final certificate gives the right one. So the API hashes the final certificates that
/// load balancers deploy, and the poller trusts Cert Spotter's `tbs_sha256`.
pub fn tbs_sha256(cert_der: &[u8]) -> Result<Sha256Hash, CertError> {
    Ok(TbsLayout::parse(split_certificate(cert_der)?)?.hash())
}

/// The DER SubjectPublicKeyInfo of a certificate (the bytes `pubkey_sha256` hashes).
pub fn spki_der(cert_der: &[u8]) -> Result<&[u8], CertError> {
    Ok(TbsLayout::parse(split_certificate(cert_der)?)?.spki)
}

/// Rebuilds a DER TBSCertificate without the SCT-list and poison extensions (the bytes that
/// [`tbs_sha256`] hashes). Input and output are TBSCertificates, not whole certificates.
pub fn reconstruct_tbs(tbs_der: &[u8]) -> Result<Vec<u8>, CertError> {
    let tbs = der::read_single(tbs_der, tag::SEQUENCE, "TBSCertificate")?;
    let layout = TbsLayout::parse(tbs)?;
    let mut out = Vec::with_capacity(tbs_der.len());
    layout.for_each_piece(|piece| out.extend_from_slice(piece));
    Ok(out)
}

/// Returns the TBSCertificate element of a DER Certificate, checking the outer structure.
fn split_certificate(der: &[u8]) -> Result<Tlv<'_>, DerError> {
    let cert = der::read_single(der, tag::SEQUENCE, "Certificate")?;
    let mut fields = cert.contents();
    let tbs = fields.read(tag::SEQUENCE, "Certificate.tbsCertificate")?;
    fields.read(tag::SEQUENCE, "Certificate.signatureAlgorithm")?;
    fields.read(tag::BIT_STRING, "Certificate.signatureValue")?;
    fields.finish("Certificate")?;
    Ok(tbs)
}

/// Which CT extensions a TBS carries.
#[derive(Debug, Clone, Copy, Default)]
struct CtExtensions {
    poison: bool,
    sct_list: bool,
}

/// A TBSCertificate taken apart just enough to rebuild it without the CT extensions.
struct TbsLayout<'a> {
    tbs: Tlv<'a>,
    /// version .. subjectUniqueID, contiguous and copied verbatim.
    fields: &'a [u8],
    spki: &'a [u8],
    /// The Extension elements other than the CT ones, raw and in order.
    kept_extensions: Vec<&'a [u8]>,
    ct: CtExtensions,
}

impl<'a> TbsLayout<'a> {
    fn parse(tbs: Tlv<'a>) -> Result<Self, CertError> {
        let mut r = tbs.contents();
        let fields_start = r.offset();
        r.read_optional(tag::context_constructed(0), "TBSCertificate.version")?;
        r.read(tag::INTEGER, "TBSCertificate.serialNumber")?;
        r.read(tag::SEQUENCE, "TBSCertificate.signature")?;
        r.read(tag::SEQUENCE, "TBSCertificate.issuer")?;
        r.read(tag::SEQUENCE, "TBSCertificate.validity")?;
        r.read(tag::SEQUENCE, "TBSCertificate.subject")?;
        let spki = r.read(tag::SEQUENCE, "TBSCertificate.subjectPublicKeyInfo")?;
        r.read_optional(tag::context_primitive(1), "TBSCertificate.issuerUniqueID")?;
        r.read_optional(tag::context_primitive(2), "TBSCertificate.subjectUniqueID")?;
        let fields = &tbs.value[..r.offset() - fields_start];

        let mut ct = CtExtensions::default();
        let kept_extensions =
            match r.read_optional(tag::context_constructed(3), "TBSCertificate.extensions")? {
                None => Vec::new(),
                Some(block) => read_extensions(block, &mut ct)?,
            };
        r.finish("TBSCertificate")?;
        Ok(Self {
            tbs,
            fields,
            spki: spki.raw,
            kept_extensions,
            ct,
        })
    }

    /// Feeds the reconstructed TBS to `sink` in pieces, copying nothing.
    fn for_each_piece(&self, mut sink: impl FnMut(&[u8])) {
        if !(self.ct.poison || self.ct.sct_list) {
            // Nothing to strip: the TBS is already its own reconstruction (and DER, as read).
            sink(self.tbs.raw);
            return;
        }
        let seq_len: usize = self.kept_extensions.iter().map(|ext| ext.len()).sum();
        let block_len = 1 + der::length_size(seq_len) + seq_len;
        let tbs_len = self.fields.len() + 1 + der::length_size(block_len) + block_len;

        let mut header = Vec::with_capacity(16);
        der::push_header(&mut header, tag::SEQUENCE, tbs_len);
        sink(&header);
        sink(self.fields);
        header.clear();
        // An emptied list stays as `[3] { SEQUENCE {} }` (a3 02 30 00), as both references do.
        der::push_header(&mut header, tag::context_constructed(3), block_len);
        der::push_header(&mut header, tag::SEQUENCE, seq_len);
        sink(&header);
        self.kept_extensions.iter().for_each(|ext| sink(ext));
    }

    fn hash(&self) -> Sha256Hash {
        let mut hasher = Sha256::new();
        self.for_each_piece(|piece| hasher.update(piece));
        Sha256Hash(hasher.finalize().into())
    }
}

/// Reads `[3] EXPLICIT SEQUENCE OF Extension`, checking each Extension's shape strictly, noting
/// the CT ones and returning the others. A CT extension present twice is an error: which copy a
/// CA meant, and what a log would hash, is undefined.
fn read_extensions<'a>(block: Tlv<'a>, ct: &mut CtExtensions) -> Result<Vec<&'a [u8]>, CertError> {
    let mut inner = block.contents();
    let list = inner.read(tag::SEQUENCE, "TBSCertificate.extensions")?;
    inner.finish("TBSCertificate.extensions")?;

    let mut kept = Vec::new();
    let mut r = list.contents();
    while !r.is_empty() {
        let ext = r.read(tag::SEQUENCE, "Extension")?;
        let (seen, name) = match check_extension(ext)? {
            OID_CT_POISON => (&mut ct.poison, "CT precertificate poison"),
            OID_SCT_LIST => (&mut ct.sct_list, "CT SCT list"),
            _ => {
                kept.push(ext.raw);
                continue;
            }
        };
        if std::mem::replace(seen, true) {
            return Err(CertError::DuplicateCtExtension { extension: name });
        }
    }
    Ok(kept)
}

/// `Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
/// Returns the OID contents.
fn check_extension(ext: Tlv<'_>) -> Result<&[u8], DerError> {
    let mut r = ext.contents();
    let oid = r.read(tag::OID, "Extension.extnID")?;
    let at = r.offset();
    if let Some(critical) = r.read_optional(tag::BOOLEAN, "Extension.critical")? {
        // Only TRUE may appear: an explicit FALSE is the DEFAULT, which DER omits, and
        // certspotter's re-encoding would drop it, giving a different hash than copying it.
        let kind = match critical.value {
            [0xff] => None,
            [0x00] => Some(DerErrorKind::ExplicitDefault),
            _ => Some(DerErrorKind::InvalidBoolean),
        };
        if let Some(kind) = kind {
            return Err(DerError {
                offset: at,
                context: "Extension.critical",
                kind,
            });
        }
    }
    r.read(tag::OCTET_STRING, "Extension.extnValue")?;
    r.finish("Extension")?;
    Ok(oid.value)
}

/// SAN dNSNames and iPAddresses, plus the subject CN when it looks like a DNS name.
fn names(
    x509: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<(Vec<String>, Vec<IpAddr>), CertError> {
    let mut dns_names: Vec<String> = Vec::new();
    // A set beside the list keeps first-seen order without a quadratic scan (CAs issue
    // certificates with hundreds of SANs).
    let mut seen = std::collections::HashSet::new();
    let mut ips = Vec::new();
    let mut add_dns = |name: &str| {
        let name = name.to_lowercase();
        if seen.insert(name.clone()) {
            dns_names.push(name);
        }
    };
    let invalid_san = |reason: String| CertError::InvalidField {
        field: "subjectAltName",
        reason,
    };
    for ext in x509.extensions() {
        if ext.oid != OID_X509_EXT_SUBJECT_ALT_NAME {
            continue;
        }
        let san = match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => san,
            ParsedExtension::ParseError { error } => return Err(invalid_san(error.to_string())),
            other => return Err(invalid_san(format!("unexpected content {other:?}"))),
        };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(dns) => add_dns(dns),
                GeneralName::IPAddress(bytes) => ips.push(ip_from_san(bytes).map_err(invalid_san)?),
                // Tag [2] is dNSName: one that is not valid text must not vanish silently.
                GeneralName::Invalid(t, _) if t.0 == 2 => {
                    return Err(invalid_san("dNSName is not valid UTF-8".into()));
                }
                _ => {}
            }
        }
    }
    for cn in x509.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str()
            && is_dns_like(cn)
        {
            add_dns(cn);
        }
    }
    Ok((dns_names, ips))
}

fn ip_from_san(bytes: &[u8]) -> Result<IpAddr, String> {
    match bytes.len() {
        4 => Ok(IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default())),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(bytes).unwrap_or_default(),
        )),
        n => Err(format!("iPAddress of {n} bytes (4 or 16 expected)")),
    }
}

/// A subject CN counts as a DNS name when it is a dotted ASCII host name, optionally with a
/// leading `*.` wildcard label. "R3" or "Example Corp CA" do not.
fn is_dns_like(cn: &str) -> bool {
    let host = cn.strip_prefix("*.").unwrap_or(cn);
    let labels: Vec<&str> = host.split('.').collect();
    cn.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode(&raw[start.min(raw.len())..])
}

fn to_chrono(timestamp: i64, field: &'static str) -> Result<DateTime<Utc>, CertError> {
    DateTime::from_timestamp(timestamp, 0).ok_or(CertError::InvalidField {
        field,
        reason: format!("time {timestamp} is out of range"),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-side DER: tag + minimal length + content, written independently of `der`.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let len = content.len();
        let mut out = vec![tag];
        match len {
            0..=127 => out.push(len as u8),
            128..=255 => out.extend([0x81, len as u8]),
            _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    fn extension(oid: &[u8], critical: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
        let mut content = tlv(0x06, oid);
        if let Some(boolean) = critical {
            content.extend(tlv(0x01, boolean));
        }
        content.extend(tlv(0x04, value));
        tlv(0x30, &content)
    }

    fn poison() -> Vec<u8> {
        extension(OID_CT_POISON, Some(&[0xff]), &[0x05, 0x00])
    }

    fn san_like(size: usize) -> Vec<u8> {
        extension(&[0x55, 0x1d, 0x11], None, &vec![0x42; size])
    }

    /// A syntactically valid TBS: fixed fields, then the given extensions (or no block).
    fn tbs(extensions: Option<&[Vec<u8>]>) -> Vec<u8> {
        let mut content = tlv(0xa0, &tlv(0x02, &[2]));
        content.extend(tlv(0x02, &[0x01, 0x23]));
        content.extend(tlv(
            0x30,
            &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
        ));
        content.extend(tlv(0x30, b"issuer"));
        content.extend(tlv(0x30, b"validity"));
        content.extend(tlv(0x30, b"subject"));
        content.extend(tlv(0x30, b"spki"));
        if let Some(exts) = extensions {
            content.extend(tlv(0xa3, &tlv(0x30, &exts.concat())));
        }
        tlv(0x30, &content)
    }

    #[test]
    fn stripping_the_only_extension_keeps_an_empty_block() {
        let stripped = reconstruct_tbs(&tbs(Some(&[poison()]))).unwrap();
        assert_eq!(stripped, tbs(Some(&[])));
        assert!(stripped.ends_with(&[0xa3, 0x02, 0x30, 0x00]));
    }

    #[test]
    fn no_ct_extension_or_no_block_is_returned_unchanged() {
        for input in [tbs(None), tbs(Some(&[])), tbs(Some(&[san_like(10)]))] {
            assert_eq!(reconstruct_tbs(&input).unwrap(), input);
        }
    }

    #[test]
    fn lengths_shrink_across_short_and_long_form_boundaries() {
        // Extension list contents just above 127 / 255 with the poison, below without it.
        for san_size in [100, 110, 230, 240] {
            let with = tbs(Some(&[san_like(san_size), poison()]));
            let without = tbs(Some(&[san_like(san_size)]));
            assert_eq!(
                reconstruct_tbs(&with).unwrap(),
                without,
                "SAN size {san_size}"
            );
        }
    }

    #[test]
    fn duplicate_ct_extensions_are_errors() {
        let sct = extension(OID_SCT_LIST, None, &[0x04, 0x02, 0x00, 0x00]);
        let err = reconstruct_tbs(&tbs(Some(&[poison(), san_like(3), poison()]))).unwrap_err();
        assert!(
            matches!(err, CertError::DuplicateCtExtension { .. }),
            "{err}"
        );
        let err = reconstruct_tbs(&tbs(Some(&[sct.clone(), sct]))).unwrap_err();
        assert!(
            matches!(err, CertError::DuplicateCtExtension { .. }),
            "{err}"
        );
    }

    #[test]
    fn non_der_critical_flags_are_errors() {
        let explicit_false = extension(&[0x55, 0x1d, 0x0f], Some(&[0x00]), &[0x03, 0x01, 0x00]);
        let err = reconstruct_tbs(&tbs(Some(&[explicit_false, poison()]))).unwrap_err();
        assert!(
            matches!(&err, CertError::InvalidDer(e) if e.kind == DerErrorKind::ExplicitDefault),
            "{err}"
        );
        let odd_true = extension(OID_CT_POISON, Some(&[0x01]), &[0x05, 0x00]);
        let err = reconstruct_tbs(&tbs(Some(&[odd_true]))).unwrap_err();
        assert!(
            matches!(&err, CertError::InvalidDer(e) if e.kind == DerErrorKind::InvalidBoolean),
            "{err}"
        );
    }

    #[test]
    fn malformed_tbs_shapes_are_errors() {
        // Missing serial number.
        let mut no_serial = tbs(None);
        no_serial.drain(7..11);
        let fixed_len = no_serial.len() - 2;
        no_serial[1] = fixed_len as u8;
        assert!(matches!(
            reconstruct_tbs(&no_serial),
            Err(CertError::InvalidDer(_))
        ));
        // Something after the extensions block.
        let mut trailing = tbs(Some(&[poison()]));
        trailing.extend([0x05, 0x00]);
        trailing[1] += 2;
        let err = reconstruct_tbs(&trailing).unwrap_err();
        assert!(
            matches!(&err, CertError::InvalidDer(e) if e.kind == DerErrorKind::TrailingBytes(2)),
            "{err}"
        );
        // An extension with an extra element.
        let mut odd = poison();
        odd.extend([0x05, 0x00]);
        odd[1] += 2;
        assert!(reconstruct_tbs(&tbs(Some(&[odd]))).is_err());
    }

    #[test]
    fn every_truncation_of_a_tbs_is_an_error() {
        let full = tbs(Some(&[san_like(200), poison()]));
        for len in 0..full.len() {
            assert!(
                reconstruct_tbs(&full[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn dns_like_common_names() {
        for yes in [
            "example.com",
            "*.example.com",
            "xn--bcher-kva.example",
            "a_b.example.org",
        ] {
            assert!(is_dns_like(yes), "{yes}");
        }
        for no in [
            "R3",
            "Example Corp CA",
            "example..com",
            "*",
            "*.com.",
            "ex ample.com",
            "",
        ] {
            assert!(!is_dns_like(no), "{no}");
        }
    }

    #[test]
    fn serial_hex_drops_the_sign_byte() {
        assert_eq!(serial_hex(&[0x00, 0x9a, 0x01]), "9a01");
        assert_eq!(serial_hex(&[0x12]), "12");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "");
    }

    #[test]
    fn unrecognised_inputs_are_clear_errors() {
        assert_eq!(parse_certificates(b""), Err(CertError::NoCertificate));
        assert_eq!(parse_certificates(b"  \n"), Err(CertError::NoCertificate));
        assert_eq!(
            parse_certificates(b"hello world"),
            Err(CertError::UnrecognisedInput)
        );
        assert!(matches!(
            parse_certificates(&[0x30, 0x03, 0x02]),
            Err(CertError::InvalidDer(_))
        ));
        // Invalid UTF-8 around and inside a PEM block: an error, not a hang or a panic.
        let garbage =
            b"\xff\xfe junk\n-----BEGIN CERTIFICATE-----\n\xff\xff\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_certificates(garbage),
            Err(CertError::InvalidPem { block: 1, .. })
        ));
        let header_only = b"-----BEGIN CERTIFICATE-----";
        assert!(matches!(
            parse_certificates(header_only),
            Err(CertError::InvalidPem { .. })
        ));
    }
}
