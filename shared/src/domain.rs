//! Watch-list entries: a registrable domain (or a name below one) that covers itself and every
//! subdomain at any depth. Normalised on input; invalid input is rejected with a reason.
//!
//! OWNER: helper "matching" (issue 2 §3). Interface fixed here; bodies to be written.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised watch-list entry: lowercase ASCII (Punycode), no trailing dot, no wildcard.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WatchDomain(String);

/// Why an input is not a valid watch-list entry. Each message is shown to the operator as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the domain is empty")]
    Empty,
}

impl WatchDomain {
    /// Normalises and validates operator input (trim, lowercase, trailing dot, leading `*.`,
    /// IDNA/UTS 46 to Punycode) and rejects what cannot be watched.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let _ = input;
        todo!("issue 2 §3")
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
