//! The API's hostile-input layer, without the AWS SDK or HTTP types, so the fuzz targets build
//! against it (see [`crate::fuzzing`]): query strings and their parameters ([`query`]), JSON
//! bodies and their types ([`body`]), times taken from requests ([`time`]), signed pagination
//! cursors ([`cursor`]) and the field checks every handler shares (this module).
//!
//! Everything here answers bad input with an [`InputError`] (the API turns it into a 400 with
//! the same code and message); nothing here panics on input.

pub mod body;
pub mod cursor;
pub mod query;
pub mod time;

use crate::hash::Sha256Hash;

/// Characters of client input quoted in an error message; the rest is cut (see [`echo`]).
pub const ECHO_CHARS: usize = 64;

/// A certificate with more names than this is refused (public CAs issue at most a few hundred).
pub const MAX_NAMES: usize = 1000;
pub const MAX_NOTE_CHARS: usize = 1000;
pub const MAX_SOURCE_CHARS: usize = 128;
/// Longest DNS name (RFC 1035).
pub const MAX_DNS_NAME_LEN: usize = 253;

/// Client input that cannot be used: a 400 with a stable `code` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct InputError {
    pub code: &'static str,
    pub message: String,
}

impl InputError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// `text` cut to at most `max` characters (on a character boundary, `…` marking the cut).
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]).into(),
        None => text.into(),
    }
}

/// Client input as quoted in an error message: Rust-escaped in double quotes (control
/// characters visible, never raw) and at most [`ECHO_CHARS`] characters of it, so that a
/// 9,000-character domain gives a short error. Never use it for configuration values that may
/// be secrets: name the variable instead.
pub fn echo(input: &str) -> String {
    match input.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!(
            "{:?}… ({} characters)",
            &input[..cut],
            input.chars().count()
        ),
        None => format!("{input:?}"),
    }
}

/// Parses a hash from a path or body field, `invalid_hash` naming the field.
pub fn parse_hash(field: &str, value: &str) -> Result<Sha256Hash, InputError> {
    value
        .trim()
        .parse()
        .map_err(|e| InputError::new("invalid_hash", format!("{field}: {e}")))
}

/// A DNS name as stored in the inventory: trimmed, lowercase, no trailing dot, ASCII
/// (Punycode), at most 253 characters; `*.` wildcards allowed.
pub fn normalize_name(field: &str, name: &str) -> Result<String, InputError> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*'));
    if name.is_empty() || name.len() > MAX_DNS_NAME_LEN || !valid_chars {
        return Err(InputError::new(
            "invalid_name",
            format!(
                "{field}: {} is not a DNS name (use Punycode for IDNs)",
                echo(&name)
            ),
        ));
    }
    Ok(name)
}

/// Optional free text: bounded length, no control characters other than newlines and tabs.
pub fn check_text(
    field: &str,
    value: Option<String>,
    max_chars: usize,
) -> Result<Option<String>, InputError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.chars().count() > max_chars {
        return Err(InputError::new(
            "invalid_field",
            format!("{field} is longer than {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(InputError::new(
            "invalid_field",
            format!("{field} contains control characters"),
        ));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_bounded_on_character_boundaries() {
        assert_eq!(echo("a\u{0}b"), r#""a\0b""#);
        let long = "é".repeat(9_000);
        let shown = echo(&long);
        assert!(shown.starts_with(&format!("\"{}\"…", "é".repeat(ECHO_CHARS))));
        assert!(shown.ends_with("(9000 characters)"), "{shown}");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
    }
}
