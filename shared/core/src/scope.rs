//! Name scopes: the certificate names a push credential may vouch for.
//!
//! A scope is a list of watch entries (parsed by [`WatchDomain::parse`], so `*.cdn.example.com`
//! means the same as `cdn.example.com`): each covers its name and every name below it, as a
//! watch entry does. Unlike watch matching, containment is strict: a certificate name lies in
//! the scope only when its rightmost labels *equal* an entry's labels, so a wildcard or
//! unparsable label never stands in for one of the entry's labels (`*.example.com` is not in
//! the scope `shop.example.com`, while `*.shop.example.com` is).

use serde::{Deserialize, Serialize};

use crate::domain::{DomainError, WatchDomain};

/// A non-empty list of entries. Serialised as the list of normalised entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<WatchDomain>", into = "Vec<WatchDomain>")]
pub struct NameScope(Vec<WatchDomain>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope is empty (omit it for an unscoped credential)")]
    Empty,
    #[error(transparent)]
    Entry(#[from] DomainError),
}

impl NameScope {
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ScopeError> {
        let entries = patterns
            .iter()
            .map(|p| WatchDomain::parse(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::try_from(entries)
    }

    pub fn entries(&self) -> &[WatchDomain] {
        &self.0
    }

    /// Whether `name` (a certificate DNS name, possibly a `*.` wildcard) lies in the scope.
    pub fn covers(&self, name: &str) -> bool {
        self.0.iter().any(|entry| name_covers(entry.as_str(), name))
    }

    /// The names that lie outside the scope, in input order.
    pub fn outside<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        names
            .iter()
            .map(String::as_str)
            .filter(|n| !self.covers(n))
            .collect()
    }
}

/// Whether `name` lies at or below `pattern` (one leading `*.` of the pattern is ignored), with
/// every one of the pattern's labels matched exactly (case-insensitive, trailing dots ignored).
pub fn name_covers(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.');
    let pattern = pattern.strip_prefix("*.").unwrap_or(pattern);
    let name = name.trim().trim_end_matches('.');
    if pattern.is_empty() || pattern.contains('*') {
        return false;
    }
    let mut name_labels = name.rsplit('.');
    pattern.rsplit('.').all(|label| {
        name_labels
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(label))
    })
}

/// Whether every one of `names` (at least one) lies under one of `patterns`: what an
/// inventory record that was pushed for `patterns` may authorize.
pub fn names_cover(patterns: &[String], names: &[String]) -> bool {
    !names.is_empty()
        && names
            .iter()
            .all(|n| patterns.iter().any(|p| name_covers(p, n)))
}

impl TryFrom<Vec<WatchDomain>> for NameScope {
    type Error = ScopeError;
    fn try_from(mut entries: Vec<WatchDomain>) -> Result<Self, Self::Error> {
        if entries.is_empty() {
            return Err(ScopeError::Empty);
        }
        entries.sort();
        entries.dedup();
        Ok(Self(entries))
    }
}

impl From<NameScope> for Vec<WatchDomain> {
    fn from(scope: NameScope) -> Self {
        scope.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(entries: &[&str]) -> NameScope {
        NameScope::parse(entries).unwrap()
    }

    #[test]
    fn an_entry_covers_itself_and_everything_below_it() {
        let s = scope(&["shop.example.com", "*.cdn.example.com"]);
        for name in [
            "shop.example.com",
            "SHOP.example.com.",
            "www.shop.example.com",
            "*.shop.example.com",
            "a.b.shop.example.com",
            "cdn.example.com",
            "img.cdn.example.com",
            "*.cdn.example.com",
        ] {
            assert!(s.covers(name), "{name}");
        }
    }

    #[test]
    fn wildcards_and_neighbours_do_not_stand_in_for_entry_labels() {
        let s = scope(&["shop.example.com"]);
        for name in [
            "example.com",
            "*.example.com",
            "?.example.com",
            "www.example.com",
            "notshop.example.com",
            "shop.example.com.evil",
            "shop.example.org",
            "*",
            "",
            "com",
        ] {
            assert!(!s.covers(name), "{name}");
        }
        let names = vec![
            "shop.example.com".to_owned(),
            "*.example.com".to_owned(),
            "x.shop.example.com".to_owned(),
            "other.example.net".to_owned(),
        ];
        assert_eq!(s.outside(&names), ["*.example.com", "other.example.net"]);
    }

    #[test]
    fn record_names_cover_the_same_names_and_names_below() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let record = names(&["shop.example.com", "*.img.example.com"]);
        assert!(names_cover(&record, &names(&["shop.example.com"])));
        assert!(names_cover(
            &record,
            &names(&[
                "WWW.Shop.example.com.",
                "*.img.example.com",
                "img.example.com"
            ])
        ));
        assert!(!names_cover(
            &record,
            &names(&["shop.example.com", "pay.example.com"])
        ));
        assert!(!names_cover(&record, &names(&["*.example.com"])));
        assert!(
            !names_cover(&record, &[]),
            "an issuance without names is not covered"
        );
        assert!(!names_cover(&[], &names(&["shop.example.com"])));
        assert!(!name_covers("*", "x.example.com"));
        assert!(!name_covers("a.*.example.com", "a.b.example.com"));
    }

    #[test]
    fn scopes_are_validated_like_watch_entries() {
        assert_eq!(NameScope::parse::<&str>(&[]), Err(ScopeError::Empty));
        for bad in ["com", "co.uk", "a.*.example.com", "10.0.0.1", ""] {
            assert!(NameScope::parse(&[bad]).is_err(), "{bad}");
        }
        let s: NameScope = serde_json::from_str(r#"["*.B.example.org", "b.example.org"]"#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["b.example.org"]"#);
        assert!(serde_json::from_str::<NameScope>("[]").is_err());
    }
}
