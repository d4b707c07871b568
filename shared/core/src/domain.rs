//! Watch-list entries: a registrable domain (or a name below one) that covers itself and every
//! subdomain at any depth. Normalised on input; invalid input is rejected with a reason.
//!
//! Normalisation, in order: trim surrounding whitespace; IDNA / UTS 46 `ToASCII` (lowercases,
//! applies Unicode mappings such as full-width dots, converts Unicode labels to Punycode and
//! checks existing `xn--` labels); drop one leading `*.` (a wildcard entry means the same as the
//! domain, which already covers every subdomain); drop one trailing dot (the DNS root).
//!
//! Rejected: empty input, IP addresses (v4, v6, bracketed), names ending in a numeric label,
//! wildcards anywhere but a leading `*.`, empty labels, labels over 63 bytes, names over 253
//! bytes, characters other than letters, digits and hyphens, labels starting or ending with a
//! hyphen, single labels (`com`, `localhost`), and public suffixes.
//!
//! Public suffixes: both sections of the Public Suffix List are rejected. ICANN suffixes
//! (`com`, `co.uk`) because nobody owns everything below them; private-section suffixes
//! (`github.io`, `s3.amazonaws.com`) because every name below them belongs to a different
//! customer of that platform, so watching the suffix would alert on certificates the operator
//! never could have obtained. A name registered under one (`alice.github.io`) is accepted.
//! Names under a TLD the list does not know (`example.internal`) are accepted.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};

/// Longest domain name in presentation form without the trailing dot (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Inputs longer than this are rejected before any Unicode processing (bounds the work an
/// oversized request can cause; no valid name gets near it).
const MAX_INPUT_LEN: usize = 1024;
/// How much of an offending input an error message repeats.
const MAX_ECHO_CHARS: usize = 100;

/// A normalised watch-list entry: lowercase ASCII (Punycode), no trailing dot, no wildcard.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WatchDomain(String);

/// Why an input is not a valid watch-list entry. Each message is shown to the operator as is.
///
/// `input` fields hold the operator's input (trimmed, and shortened to 100 characters if longer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the domain is empty")]
    Empty,
    #[error(
        "{input:?} is too long: a domain name has at most 253 characters ({len} after conversion to ASCII)"
    )]
    TooLong { input: String, len: usize },
    #[error("{input:?} is an IP address; only domain names can be watched")]
    IpAddress { input: String },
    #[error(
        "{input:?} ends in the numeric label {label:?}; top-level domains are never numeric (is this an IP address?)"
    )]
    NumericTld { input: String, label: String },
    #[error(
        "{input:?} is not a valid internationalised domain name (IDNA/UTS 46 rejects it: a disallowed character, or a malformed xn-- label)"
    )]
    InvalidIdn { input: String },
    #[error(
        "{input:?} contains a wildcard other than a leading \"*.\"; enter the domain itself (e.g. example.org): it already covers every subdomain"
    )]
    Wildcard { input: String },
    #[error("{input:?} contains an empty label (a leading dot or two dots in a row)")]
    EmptyLabel { input: String },
    #[error("{input:?} has a label of {len} characters ({label:?}); a DNS label has at most 63")]
    LabelTooLong {
        input: String,
        label: String,
        len: usize,
    },
    #[error(
        "{input:?} contains the character {ch:?}; a domain name may contain only letters, digits, hyphens and dots"
    )]
    InvalidCharacter { input: String, ch: char },
    #[error("{input:?} has the label {label:?}, which starts or ends with a hyphen")]
    HyphenAtLabelEdge { input: String, label: String },
    #[error(
        "{input:?} is a single label; enter a domain such as example.org, not a top-level domain or a bare host name"
    )]
    SingleLabel { input: String },
    #[error(
        "{input:?} is a public suffix ({normalized}): names below it belong to unrelated registrants; enter your own domain registered under it"
    )]
    PublicSuffix { input: String, normalized: String },
    #[error(
        "{input:?} is a shared-hosting suffix ({normalized}, private section of the Public Suffix List): names below it belong to other customers of that platform; enter your own name under it"
    )]
    PrivateSuffix { input: String, normalized: String },
}

impl WatchDomain {
    /// Normalises and validates operator input (trim, lowercase, trailing dot, leading `*.`,
    /// IDNA/UTS 46 to Punycode) and rejects what cannot be watched.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::Empty);
        }
        let echo = || echo(trimmed);
        if trimmed.len() > MAX_INPUT_LEN {
            return Err(DomainError::TooLong {
                input: echo(),
                len: trimmed.len(),
            });
        }
        if is_ip_address(trimmed) {
            return Err(DomainError::IpAddress { input: echo() });
        }

        // No ASCII deny list: ASCII passes through (lowercased) so that the checks below can
        // name the offending character instead of a generic IDNA failure.
        let ascii = Uts46::new()
            .to_ascii(
                trimmed.as_bytes(),
                AsciiDenyList::EMPTY,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .map_err(|_| DomainError::InvalidIdn { input: echo() })?;

        let name = ascii.strip_prefix("*.").unwrap_or(&ascii);
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return Err(DomainError::Empty);
        }
        // Again after mapping: full-width digits and dots become ASCII ones.
        if is_ip_address(name) {
            return Err(DomainError::IpAddress { input: echo() });
        }
        if name.contains('*') {
            return Err(DomainError::Wildcard { input: echo() });
        }
        for label in name.split('.') {
            check_label(label, trimmed)?;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(DomainError::TooLong {
                input: echo(),
                len: name.len(),
            });
        }
        let last = name.rsplit('.').next().unwrap_or(name);
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::NumericTld {
                input: echo(),
                label: last.to_owned(),
            });
        }
        if !name.contains('.') {
            return Err(DomainError::SingleLabel { input: echo() });
        }
        if let Some(suffix) = psl::suffix(name.as_bytes())
            && suffix.as_bytes() == name.as_bytes()
        {
            let normalized = name.to_owned();
            return Err(match suffix.typ() {
                Some(psl::Type::Private) => DomainError::PrivateSuffix {
                    input: echo(),
                    normalized,
                },
                // ICANN, or the implicit `*` rule (already excluded: single label).
                _ => DomainError::PublicSuffix {
                    input: echo(),
                    normalized,
                },
            });
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels, rightmost (top-level) first: `a.example.org` gives `org`, `example`, `a`.
    pub fn labels_from_root(&self) -> impl Iterator<Item = &str> {
        self.0.rsplit('.')
    }
}

/// Checks one label of the ASCII (post-IDNA) form. `input` is the operator's input, for messages.
fn check_label(label: &str, input: &str) -> Result<(), DomainError> {
    if label.is_empty() {
        return Err(DomainError::EmptyLabel { input: echo(input) });
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(DomainError::LabelTooLong {
            input: echo(input),
            label: echo(label),
            len: label.len(),
        });
    }
    if let Some(ch) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(DomainError::InvalidCharacter {
            input: echo(input),
            ch,
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainError::HyphenAtLabelEdge {
            input: echo(input),
            label: label.to_owned(),
        });
    }
    Ok(())
}

/// IPv4 dotted quad or IPv6 (bare or in brackets), with or without a trailing dot.
fn is_ip_address(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<Ipv4Addr>().is_ok() || unbracketed.parse::<Ipv6Addr>().is_ok()
}

/// The input as repeated in an error message: at most `MAX_ECHO_CHARS` characters.
fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

impl TryFrom<String> for WatchDomain {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WatchDomain> for String {
    fn from(value: WatchDomain) -> Self {
        value.0
    }
}

impl fmt::Display for WatchDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WatchDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WatchDomain({})", self.0)
    }
}

impl std::str::FromStr for WatchDomain {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
