//! A small strict DER reader and length encoder: just enough to take a certificate apart into
//! raw TLVs and to rebuild a TBSCertificate around them.
//!
//! Why not x509-parser alone: it reads certificates well but cannot re-encode, and the CT TBS
//! hash needs the exact original bytes of every field with only the enclosing lengths rebuilt.
//! The reader is deliberately strict (DER, not BER): an encoding that two implementations could
//! read differently must be rejected rather than hashed, because a wrong hash would silently
//! turn an authorized certificate into an alert, or worse, the other way round.
//!
//! Only single-byte tags are supported: every structure this crate walks (Certificate,
//! TBSCertificate, Extensions) uses them; contents below that level are copied, never parsed.

use std::fmt;

/// Lengths are capped far below anything a certificate needs, so that an absurd length is
/// reported as such instead of as a truncation 4 GiB long.
pub const MAX_LENGTH: usize = 16 * 1024 * 1024;

/// What is wrong with a DER encoding, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset} (reading {context})")]
pub struct DerError {
    /// Offset of the offending byte from the start of the outermost input.
    pub offset: usize,
    /// The structure being read, e.g. `"TBSCertificate.serialNumber"`.
    pub context: &'static str,
    pub kind: DerErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerErrorKind {
    #[error("input ends early ({needed} bytes needed, {available} left)")]
    Truncated { needed: usize, available: usize },
    #[error("indefinite length (BER only, not allowed in DER)")]
    IndefiniteLength,
    #[error("length is not minimally encoded (not DER)")]
    NonMinimalLength,
    #[error("length {0} exceeds the {MAX_LENGTH}-byte limit")]
    LengthTooLarge(u64),
    #[error("reserved length byte 0xff")]
    ReservedLength,
    #[error("multi-byte tag (tag number 31 or more) where a single-byte tag belongs")]
    HighTagNumber,
    #[error("expected {expected}, found {found}")]
    UnexpectedTag { expected: TagName, found: TagName },
    #[error("{0} unexpected bytes after the end of the structure")]
    TrailingBytes(usize),
    #[error("BOOLEAN must be one content byte 0x00 or 0xff")]
    InvalidBoolean,
    #[error("a DEFAULT value is encoded explicitly (DER omits it)")]
    ExplicitDefault,
}

/// A tag byte shown in errors as `0x30 (SEQUENCE)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagName(pub u8);

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            tag::BOOLEAN => "BOOLEAN",
            tag::INTEGER => "INTEGER",
            tag::BIT_STRING => "BIT STRING",
            tag::OCTET_STRING => "OCTET STRING",
            tag::OID => "OBJECT IDENTIFIER",
            tag::SEQUENCE => "SEQUENCE",
            tag::SET => "SET",
            t if t & 0xc0 == 0x80 => "context-specific",
            _ => "other",
        };
        write!(f, "0x{:02x} ({name})", self.0)
    }
}

/// The tag bytes this crate reads (universal class, plus context-specific ones in the TBS).
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[n]` constructed (EXPLICIT tagging): 0xa0 | n.
    pub const fn context_constructed(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` primitive (IMPLICIT over a primitive type): 0x80 | n.
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// One tag-length-value element, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// Absolute offset of the tag byte.
    pub offset: usize,
    /// The whole element: tag, length and contents, exactly as in the input.
    pub raw: &'a [u8],
    /// The contents only.
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the contents, reporting offsets relative to the outermost input.
    pub fn contents(&self) -> DerReader<'a> {
        DerReader {
            input: self.value,
            pos: 0,
            base: self.offset + (self.raw.len() - self.value.len()),
        }
    }
}

/// Reads consecutive TLVs from a byte slice.
#[derive(Debug, Clone)]
pub struct DerReader<'a> {
    input: &'a [u8],
    pos: usize,
    /// Absolute offset of `input[0]`, so nested readers report positions in the whole input.
    base: usize,
}

impl<'a> DerReader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            base: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The tag byte of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn err(&self, at: usize, context: &'static str, kind: DerErrorKind) -> DerError {
        DerError {
            offset: self.base + at,
            context,
            kind,
        }
    }

    /// Reads the next element, whatever its tag.
    pub fn read_any(&mut self, context: &'static str) -> Result<Tlv<'a>, DerError> {
        let start = self.pos;
        let rest = &self.input[start.min(self.input.len())..];
        let truncated = |needed: usize| DerErrorKind::Truncated {
            needed,
            available: rest.len(),
        };
        let Some(&tag) = rest.first() else {
            return Err(self.err(start, context, truncated(2)));
        };
        if tag & 0x1f == 0x1f {
            return Err(self.err(start, context, DerErrorKind::HighTagNumber));
        }
        let Some(&first_len) = rest.get(1) else {
            return Err(self.err(start, context, truncated(2)));
        };
        let (header_len, len) = match first_len {
            0x00..=0x7f => (2, usize::from(first_len)),
            0x80 => return Err(self.err(start + 1, context, DerErrorKind::IndefiniteLength)),
            0xff => return Err(self.err(start + 1, context, DerErrorKind::ReservedLength)),
            _ => {
                let count = usize::from(first_len & 0x7f);
                if count > 8 {
                    let kind = DerErrorKind::LengthTooLarge(u64::MAX);
                    return Err(self.err(start + 1, context, kind));
                }
                let Some(len_bytes) = rest.get(2..2 + count) else {
                    return Err(self.err(start, context, truncated(2 + count)));
                };
                // DER: no leading zero byte, and the long form only for lengths >= 128.
                if len_bytes[0] == 0 {
                    return Err(self.err(start + 1, context, DerErrorKind::NonMinimalLength));
                }
                let len = len_bytes
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                if len < 0x80 {
                    return Err(self.err(start + 1, context, DerErrorKind::NonMinimalLength));
                }
                if len > MAX_LENGTH as u64 {
                    return Err(self.err(start + 1, context, DerErrorKind::LengthTooLarge(len)));
                }
                (2 + count, len as usize)
            }
        };
        let total = header_len + len;
        if rest.len() < total {
            return Err(self.err(start, context, truncated(total)));
        }
        self.pos = start + total;
        Ok(Tlv {
            tag,
            offset: self.base + start,
            raw: &rest[..total],
            value: &rest[header_len..total],
        })
    }

    /// Reads the next element and requires `expected` as its tag.
    pub fn read(&mut self, expected: u8, context: &'static str) -> Result<Tlv<'a>, DerError> {
        match self.peek_tag() {
            Some(found) if found != expected => Err(self.err(
                self.pos,
                context,
                DerErrorKind::UnexpectedTag {
                    expected: TagName(expected),
                    found: TagName(found),
                },
            )),
            _ => self.read_any(context),
        }
    }

    /// Reads the next element only if it carries `expected` (OPTIONAL / DEFAULT fields).
    pub fn read_optional(
        &mut self,
        expected: u8,
        context: &'static str,
    ) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(expected) {
            self.read_any(context).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Requires that nothing is left.
    pub fn finish(&self, context: &'static str) -> Result<(), DerError> {
        let left = self.input.len().saturating_sub(self.pos);
        if left == 0 {
            Ok(())
        } else {
            Err(self.err(self.pos, context, DerErrorKind::TrailingBytes(left)))
        }
    }
}

/// Reads `input` as exactly one element with tag `expected` and nothing after it.
pub fn read_single<'a>(
    input: &'a [u8],
    expected: u8,
    context: &'static str,
) -> Result<Tlv<'a>, DerError> {
    let mut reader = DerReader::new(input);
    let tlv = reader.read(expected, context)?;
    reader.finish(context)?;
    Ok(tlv)
}

/// Size of the DER length field for a content of `len` bytes.
pub fn length_size(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - len.leading_zeros() as usize / 8)
    }
}

/// Appends the minimal DER length encoding of `len` (short form below 128, else long form).
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = len.leading_zeros() as usize / 8;
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a tag and the length of `content_len` bytes of content that the caller adds next.
pub fn push_header(out: &mut Vec<u8>, tag: u8, content_len: usize) {
    out.push(tag);
    push_length(out, content_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded_length(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        push_length(&mut out, len);
        out
    }

    #[test]
    fn lengths_are_minimal_in_short_and_long_form() {
        assert_eq!(encoded_length(0), [0x00]);
        assert_eq!(encoded_length(127), [0x7f]);
        assert_eq!(encoded_length(128), [0x81, 0x80]);
        assert_eq!(encoded_length(255), [0x81, 0xff]);
        assert_eq!(encoded_length(256), [0x82, 0x01, 0x00]);
        assert_eq!(encoded_length(65535), [0x82, 0xff, 0xff]);
        assert_eq!(encoded_length(65536), [0x83, 0x01, 0x00, 0x00]);
        for len in [0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24] {
            assert_eq!(length_size(len), encoded_length(len).len(), "len {len}");
        }
    }

    #[test]
    fn encoded_lengths_read_back() {
        for len in [
            0usize, 5, 127, 128, 200, 255, 256, 4000, 65535, 65536, 70000,
        ] {
            let mut der = Vec::new();
            push_header(&mut der, tag::OCTET_STRING, len);
            let header = der.len();
            der.resize(header + len, 0xab);
            let tlv = read_single(&der, tag::OCTET_STRING, "test").unwrap();
            assert_eq!(tlv.value.len(), len);
            assert_eq!(tlv.raw.len(), header + len);
        }
    }

    fn kind_of(input: &[u8]) -> DerErrorKind {
        DerReader::new(input).read_any("test").unwrap_err().kind
    }

    #[test]
    fn rejects_non_der_lengths() {
        assert_eq!(
            kind_of(&[0x30, 0x80, 0x00, 0x00]),
            DerErrorKind::IndefiniteLength
        );
        assert_eq!(
            kind_of(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]),
            DerErrorKind::NonMinimalLength
        );
        assert_eq!(
            kind_of(&[0x04, 0x82, 0x00, 0x80]),
            DerErrorKind::NonMinimalLength
        );
        assert_eq!(kind_of(&[0x04, 0xff]), DerErrorKind::ReservedLength);
        assert_eq!(
            kind_of(&[0x04, 0x84, 0x7f, 0xff, 0xff, 0xff]),
            DerErrorKind::LengthTooLarge(0x7fff_ffff)
        );
        assert!(matches!(
            kind_of(&[0x04, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            DerErrorKind::LengthTooLarge(_)
        ));
        assert_eq!(kind_of(&[0x1f, 0x01, 0x00]), DerErrorKind::HighTagNumber);
    }

    #[test]
    fn truncation_is_reported_with_position() {
        assert_eq!(
            kind_of(&[]),
            DerErrorKind::Truncated {
                needed: 2,
                available: 0
            }
        );
        assert_eq!(
            kind_of(&[0x30]),
            DerErrorKind::Truncated {
                needed: 2,
                available: 1
            }
        );
        assert_eq!(
            kind_of(&[0x30, 0x82, 0x01]),
            DerErrorKind::Truncated {
                needed: 4,
                available: 3
            }
        );
        assert_eq!(
            kind_of(&[0x30, 0x05, 1, 2]),
            DerErrorKind::Truncated {
                needed: 7,
                available: 4
            }
        );
        // A nested reader reports offsets in the outer input.
        let outer = [0x30, 0x04, 0x02, 0x01, 0x05, 0x04];
        let seq = read_single(&outer, tag::SEQUENCE, "outer").unwrap();
        let mut inner = seq.contents();
        inner.read(tag::INTEGER, "first").unwrap();
        let err = inner.read(tag::OCTET_STRING, "second").unwrap_err();
        assert_eq!(err.offset, 5);
        assert_eq!(err.context, "second");
    }

    #[test]
    fn wrong_tag_and_trailing_bytes_are_errors() {
        let err = read_single(&[0x02, 0x01, 0x00], tag::SEQUENCE, "cert").unwrap_err();
        assert_eq!(
            err.kind,
            DerErrorKind::UnexpectedTag {
                expected: TagName(0x30),
                found: TagName(0x02)
            }
        );
        assert_eq!(
            err.to_string(),
            "expected 0x30 (SEQUENCE), found 0x02 (INTEGER) at byte 0 (reading cert)"
        );
        let err = read_single(&[0x05, 0x00, 0x00], 0x05, "null").unwrap_err();
        assert_eq!(err.kind, DerErrorKind::TrailingBytes(1));
        assert_eq!(err.offset, 2);
    }

    #[test]
    fn optional_reads_only_the_matching_tag() {
        let input = [0x02, 0x01, 0x07];
        let mut reader = DerReader::new(&input);
        assert_eq!(reader.read_optional(0xa0, "version").unwrap(), None);
        let tlv = reader
            .read_optional(tag::INTEGER, "serial")
            .unwrap()
            .unwrap();
        assert_eq!(tlv.value, [0x07]);
        assert!(reader.is_empty());
        reader.finish("end").unwrap();
    }
}
