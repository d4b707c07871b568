//! Certificate signing requests (PKCS #10): the public key and the requested names, read with
//! the strict DER reader (no panic on hostile input): `CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE {
//! version INTEGER, subject Name, subjectPKInfo SubjectPublicKeyInfo, attributes [0] … },
//! signatureAlgorithm, signature }`.

use crate::der::{self, DerReader, tag};
use crate::hash::Sha256Hash;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// What ctguard takes from a CSR. Its signature is not checked here (the API checks it: proof
/// of possession of the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrKey {
    /// The DER CertificationRequest.
    pub der: Vec<u8>,
    /// SHA-256 of the DER SubjectPublicKeyInfo (what `POST /keys` calls `pubkey_sha256`).
    pub pubkey_sha256: Sha256Hash,
    /// The requested DNS names: subjectAltName dNSNames, else a DNS-like subject CN; lowercase.
    pub dns_names: Vec<String>,
}

/// Whether `input` holds a PEM certificate request (the API routes such bodies here).
pub fn is_pem_request(input: &[u8]) -> bool {
    input
        .windows(b"CERTIFICATE REQUEST-----".len())
        .any(|w| w == b"CERTIFICATE REQUEST-----")
}

/// A DER request as PEM (`CERTIFICATE REQUEST`, 64-column base64).
pub fn to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE REQUEST-----\n");
    pem
}

#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("no CERTIFICATE REQUEST block in the PEM input")]
    NoRequest,
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("not a PKCS #10 certificate request: {0}")]
    Der(#[from] der::DerError),
    #[error("not a PKCS #10 certificate request: {0}")]
    X509(String),
}

pub fn parse(input: &[u8]) -> Result<CsrKey, CsrError> {
    let der = if input.windows(11).any(|w| w == b"-----BEGIN ") {
        let mut found = None;
        for block in x509_parser::pem::Pem::iter_from_buffer(input) {
            let block = block.map_err(|e| CsrError::Pem(e.to_string()))?;
            if block.label == "CERTIFICATE REQUEST" || block.label == "NEW CERTIFICATE REQUEST" {
                found = Some(block.contents);
                break;
            }
        }
        found.ok_or(CsrError::NoRequest)?
    } else {
        input.to_vec()
    };

    let request = der::read_single(&der, tag::SEQUENCE, "CertificationRequest")?;
    let mut outer = request.contents();
    let info = outer.read(tag::SEQUENCE, "certificationRequestInfo")?;
    let mut fields: DerReader<'_> = info.contents();
    fields.read(tag::INTEGER, "certificationRequestInfo.version")?;
    fields.read(tag::SEQUENCE, "certificationRequestInfo.subject")?;
    let spki = fields.read(tag::SEQUENCE, "certificationRequestInfo.subjectPKInfo")?;
    fields.read(
        tag::context_constructed(0),
        "certificationRequestInfo.attributes",
    )?;
    fields.finish("certificationRequestInfo")?;
    outer.read(tag::SEQUENCE, "signatureAlgorithm")?;
    outer.read(tag::BIT_STRING, "signature")?;
    outer.finish("CertificationRequest")?;

    Ok(CsrKey {
        pubkey_sha256: Sha256Hash::digest(spki.raw),
        dns_names: names(&der)?,
        der,
    })
}

fn names(der: &[u8]) -> Result<Vec<String>, CsrError> {
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| CsrError::X509(e.to_string()))?;
    let mut names: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    };
    if let Some(extensions) = csr.requested_extensions() {
        for extension in extensions {
            if let ParsedExtension::SubjectAlternativeName(san) = extension {
                for general in &san.general_names {
                    if let GeneralName::DNSName(name) = general {
                        push(name);
                    }
                }
            }
        }
    }
    let info = &csr.certification_request_info;
    for cn in info.subject.iter_common_name() {
        if let Ok(cn) = cn.as_str()
            && cn.contains('.')
            && cn
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | '_'))
        {
            push(cn);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn the_key_hash_is_the_spki_hash_of_the_key_that_made_the_request() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![
            "www.example.org".to_owned(),
            "Example.org".to_owned(),
        ])
        .unwrap();
        let csr = params.serialize_request(&key).unwrap();
        let expected = Sha256Hash::digest(&key.subject_public_key_info());

        let from_pem = parse(csr.pem().unwrap().as_bytes()).unwrap();
        assert_eq!(from_pem.pubkey_sha256, expected);
        assert_eq!(from_pem.dns_names, ["www.example.org", "example.org"]);
        let from_der = parse(csr.der()).unwrap();
        assert_eq!(from_der, from_pem);
        assert!(is_pem_request(csr.pem().unwrap().as_bytes()));
        assert_eq!(parse(to_pem(csr.der()).as_bytes()).unwrap(), from_der);
    }

    #[test]
    fn other_input_is_refused() {
        assert!(matches!(parse(b"hello"), Err(CsrError::Der(_))));
        let key = rcgen::KeyPair::generate().unwrap();
        assert!(matches!(
            parse(key.serialize_pem().as_bytes()),
            Err(CsrError::NoRequest)
        ));
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(parse(cert.der()).is_err());
    }
}
