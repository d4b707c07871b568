//! Matching certificate DNS names against the watch list.
//!
//! OWNER: helper "matching" (issue 2 §3). Interface fixed here; bodies to be written.

use crate::domain::WatchDomain;

/// One watch entry that a certificate touches, with the certificate names that touched it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryMatch {
    pub entry: WatchDomain,
    /// The certificate's names (as found in the certificate) that matched this entry, sorted.
    pub names: Vec<String>,
}

/// An index over the watch list, built once per run; lookups never scan the whole list.
pub struct WatchIndex {
    _private: (),
}

impl WatchIndex {
    pub fn new(entries: impl IntoIterator<Item = WatchDomain>) -> Self {
        let _ = entries.into_iter();
        todo!("issue 2 §3")
    }

    /// Every entry matched by any of `names`, sorted by entry; empty when nothing matches.
    pub fn matches<S: AsRef<str>>(&self, names: &[S]) -> Vec<EntryMatch> {
        let _ = names;
        todo!("issue 2 §3")
    }
}
