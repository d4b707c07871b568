//! Matching certificate DNS names against the watch list.
//!
//! A certificate name is read as a pattern of labels in which a wildcard or unreadable label
//! stands for "any one label". An entry with `m` labels matches a name with `k` labels iff
//! `k >= m` and each of the name's rightmost `m` labels equals the entry's label at that position
//! or is an "any" label. So `*.example.org` matches the entries `example.org` and
//! `foo.example.org` but not `a.foo.example.org` (a wildcard covers exactly one label).
//!
//! "Any" labels: `*`, a label containing `*` (`f*o`), `?` and other redaction marks, the empty
//! label, and any label with a character outside `[a-z0-9_-]` after lowercasing (garbage we
//! cannot read might be one of our names). Fail-safe in the manner of SSLMate certspotter, which
//! lets `*`, `?` and unparsable labels match everything, with two deliberate differences:
//! certspotter treats `*` inside a label as a glob (`f*o` matches `foo` only), here such a
//! label matches any label; and certspotter only replaces non-printable labels, here any
//! non-hostname character makes the label "any". An underscore label (`_acme`) is literal: it is
//! a real label that can never equal an entry label, which cannot contain `_`.
//!
//! Names are compared lowercased with one trailing dot removed; a non-ASCII name that is a valid
//! IDN is compared in its Punycode form (so `Bücher.example` matches `xn--bcher-kva.example`),
//! otherwise its non-ASCII labels are "any" labels.
//!
//! The index is a trie over labels from the root (TLD first). A name walks it from its rightmost
//! label; a literal label follows at most one child, an "any" label follows every child at that
//! depth, and every entry node reached is a match. Ordinary names cost O(labels) hash lookups,
//! whatever the size of the list; names made mostly of "any" labels (`*.*.com`) visit at most
//! the part of the trie they can match, so their cost is bounded by the matches they produce.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::domain::WatchDomain;

/// One watch entry that a certificate touches, with the certificate names that touched it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryMatch {
    pub entry: WatchDomain,
    /// The certificate's names that matched this entry, as found in the certificate but
    /// lowercased and without a trailing dot; sorted and deduplicated.
    pub names: Vec<String>,
}

/// An index over the watch list, built once per run; lookups never scan the whole list.
#[derive(Clone)]
pub struct WatchIndex {
    /// Distinct entries in sorted order; a node's `entry` indexes this, so index order is
    /// entry order.
    entries: Vec<WatchDomain>,
    /// Trie nodes; `nodes[0]` is the root (the DNS root, no label).
    nodes: Vec<Node>,
}

#[derive(Clone, Default)]
struct Node {
    children: HashMap<Box<str>, u32>,
    /// Set when the path from the root to this node spells a watch entry.
    entry: Option<u32>,
}

const ROOT: u32 = 0;

impl WatchIndex {
    pub fn new(entries: impl IntoIterator<Item = WatchDomain>) -> Self {
        let entries: Vec<WatchDomain> = entries
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut nodes = vec![Node::default()];
        for (index, entry) in entries.iter().enumerate() {
            let mut at = ROOT;
            for label in entry.labels_from_root() {
                let next = u32::try_from(nodes.len()).expect("fewer than 2^32 trie nodes");
                at = *nodes[at as usize]
                    .children
                    .entry(label.into())
                    .or_insert(next);
                if at == next {
                    nodes.push(Node::default());
                }
            }
            nodes[at as usize].entry =
                Some(u32::try_from(index).expect("fewer than 2^32 watch entries"));
        }
        Self { entries, nodes }
    }

    /// Number of distinct entries in the index.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The distinct entries, sorted.
    pub fn entries(&self) -> &[WatchDomain] {
        &self.entries
    }

    /// Every entry matched by any of `names`, sorted by entry; empty when nothing matches.
    pub fn matches<S: AsRef<str>>(&self, names: &[S]) -> Vec<EntryMatch> {
        let names: Vec<CertName> = names.iter().map(|n| CertName::new(n.as_ref())).collect();
        // (entry, name) index pairs; entry indices sort in entry order.
        let mut hits: Vec<(u32, usize)> = Vec::new();
        let mut walk = Walk::default();
        for (name_index, name) in names.iter().enumerate() {
            self.walk(&name.match_form, &mut walk);
            hits.extend(walk.found.iter().map(|&entry| (entry, name_index)));
        }
        hits.sort_unstable();

        let mut matches = Vec::new();
        for group in hits.chunk_by(|a, b| a.0 == b.0) {
            let mut reported: Vec<&str> = group
                .iter()
                .map(|&(_, name)| names[name].reported.as_str())
                .collect();
            reported.sort_unstable();
            reported.dedup();
            matches.push(EntryMatch {
                entry: self.entries[group[0].0 as usize].clone(),
                names: reported.into_iter().map(str::to_owned).collect(),
            });
        }
        matches
    }

    /// Collects into `walk.found` the entries matched by one name (already in match form).
    fn walk(&self, name: &str, walk: &mut Walk) {
        walk.found.clear();
        walk.frontier.clear();
        walk.frontier.push(ROOT);
        for label in name.rsplit('.') {
            walk.next.clear();
            let any = is_any_label(label);
            for &at in &walk.frontier {
                let children = &self.nodes[at as usize].children;
                if any {
                    walk.next.extend(children.values().copied());
                } else if let Some(&child) = children.get(label) {
                    walk.next.push(child);
                }
            }
            for &at in &walk.next {
                if let Some(entry) = self.nodes[at as usize].entry {
                    walk.found.push(entry);
                }
            }
            std::mem::swap(&mut walk.frontier, &mut walk.next);
            if walk.frontier.is_empty() {
                break;
            }
        }
    }
}

/// Scratch buffers reused across the names of one `matches` call.
#[derive(Default)]
struct Walk {
    frontier: Vec<u32>,
    next: Vec<u32>,
    found: Vec<u32>,
}

/// A certificate name in the two forms matching needs.
struct CertName {
    /// Lowercased, one trailing dot removed: what a match reports.
    reported: String,
    /// What is walked through the trie: `reported`, or its Punycode form if it is a valid IDN.
    match_form: String,
}

impl CertName {
    fn new(raw: &str) -> Self {
        let raw = raw.strip_suffix('.').unwrap_or(raw);
        let reported = raw.to_lowercase();
        let match_form = if reported.is_ascii() {
            reported.clone()
        } else {
            Uts46::new()
                .to_ascii(
                    reported.as_bytes(),
                    AsciiDenyList::EMPTY,
                    Hyphens::Allow,
                    DnsLength::Ignore,
                )
                .map(|ascii| ascii.into_owned())
                .unwrap_or_else(|_| reported.clone())
        };
        Self {
            reported,
            match_form,
        }
    }
}

/// Whether a (lowercased) certificate label stands for "any one label": a wildcard, a redaction
/// mark, empty, or anything that is not plain hostname characters.
fn is_any_label(label: &str) -> bool {
    label.is_empty()
        || !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl fmt::Debug for WatchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchIndex")
            .field("entries", &self.entries.len())
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::is_any_label;

    #[test]
    fn any_labels_are_wildcards_redactions_and_garbage() {
        for label in ["*", "f*o", "?", "", "<unparsable>", "a b", "bü", "a.b\0"] {
            assert!(is_any_label(label), "{label:?} should be an any label");
        }
        for label in ["foo", "xn--bcher-kva", "_acme", "a-b", "123"] {
            assert!(!is_any_label(label), "{label:?} should be literal");
        }
    }
}
