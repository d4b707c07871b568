//! Matching certificate names against the watch list (`ctguard::matcher`).

use ctguard::domain::WatchDomain;
use ctguard::matcher::{EntryMatch, WatchIndex};

fn domain(s: &str) -> WatchDomain {
    WatchDomain::parse(s).unwrap_or_else(|err| panic!("{s:?}: {err}"))
}

fn index(entries: &[&str]) -> WatchIndex {
    WatchIndex::new(entries.iter().map(|e| domain(e)))
}

/// Matches as `(entry, names)` pairs of plain strings, for readable expectations.
fn found(index: &WatchIndex, names: &[&str]) -> Vec<(String, Vec<String>)> {
    index
        .matches(names)
        .into_iter()
        .map(|EntryMatch { entry, names }| (entry.as_str().to_owned(), names))
        .collect()
}

/// Expected matches of a single name: the entries it matches, each reported with `reported`.
fn only(entries: &[&str], reported: &str) -> Vec<(String, Vec<String>)> {
    entries
        .iter()
        .map(|e| (e.to_string(), vec![reported.to_owned()]))
        .collect()
}

const ENTRIES: &[&str] = &[
    "example.org",
    "a.example.org",
    "foo.example.net",
    "a.foo.example.net",
    "xn--bcher-kva.example",
    "example.co.uk",
];

/// One name at a time: (certificate name, entries it must match, name as reported).
/// Entries are listed in sorted order, which is the order `matches` must return.
const SINGLE_NAME_CASES: &[(&str, &[&str], &str)] = &[
    // Label-boundary suffix matching.
    ("example.org", &["example.org"], "example.org"),
    ("www.example.org", &["example.org"], "www.example.org"),
    ("a.b.example.org", &["example.org"], "a.b.example.org"),
    ("notexample.org", &[], ""),
    ("example.org.evil.com", &[], ""),
    ("xample.org", &[], ""),
    ("org", &[], ""),
    ("example.net", &[], ""),
    ("bar.example.net", &[], ""),
    // Nested entries are both reported.
    (
        "a.example.org",
        &["a.example.org", "example.org"],
        "a.example.org",
    ),
    (
        "x.y.a.example.org",
        &["a.example.org", "example.org"],
        "x.y.a.example.org",
    ),
    (
        "b.a.foo.example.net",
        &["a.foo.example.net", "foo.example.net"],
        "b.a.foo.example.net",
    ),
    // Case and trailing dot.
    ("WWW.Example.ORG", &["example.org"], "www.example.org"),
    ("www.example.org.", &["example.org"], "www.example.org"),
    // A wildcard stands for exactly one label.
    (
        "*.example.org",
        &["a.example.org", "example.org"],
        "*.example.org",
    ),
    ("*.example.net", &["foo.example.net"], "*.example.net"),
    (
        "*.foo.example.net",
        &["a.foo.example.net", "foo.example.net"],
        "*.foo.example.net",
    ),
    (
        "*.a.example.org",
        &["a.example.org", "example.org"],
        "*.a.example.org",
    ),
    ("*.b.example.org", &["example.org"], "*.b.example.org"),
    (
        "a.*.example.net",
        &["a.foo.example.net", "foo.example.net"],
        "a.*.example.net",
    ),
    ("b.*.example.net", &["foo.example.net"], "b.*.example.net"),
    ("*.co.uk", &["example.co.uk"], "*.co.uk"),
    ("*.*", &["example.org", "xn--bcher-kva.example"], "*.*"),
    ("*", &[], ""),
    // A `*` inside a label matches any label (certspotter would glob: f*o only `foo`).
    ("f*o.example.net", &["foo.example.net"], "f*o.example.net"),
    ("b*r.example.net", &["foo.example.net"], "b*r.example.net"),
    // Redacted and unreadable labels are fail-safe "any" labels.
    (
        "?.example.org",
        &["a.example.org", "example.org"],
        "?.example.org",
    ),
    (
        "?.?.example.net",
        &["a.foo.example.net", "foo.example.net"],
        "?.?.example.net",
    ),
    ("x.?.example.net", &["foo.example.net"], "x.?.example.net"),
    (
        "<unparsable>.example.net",
        &["foo.example.net"],
        "<unparsable>.example.net",
    ),
    ("a b.example.net", &["foo.example.net"], "a b.example.net"),
    ("x..example.net", &["foo.example.net"], "x..example.net"),
    ("?.org", &["example.org"], "?.org"),
    // An underscore label is literal: it never equals an entry label.
    (
        "_acme-challenge.example.org",
        &["example.org"],
        "_acme-challenge.example.org",
    ),
    (
        "_a.foo.example.net",
        &["foo.example.net"],
        "_a.foo.example.net",
    ),
    ("_foo.example.net", &[], ""),
    // Internationalised names, in Punycode or Unicode.
    (
        "xn--bcher-kva.example",
        &["xn--bcher-kva.example"],
        "xn--bcher-kva.example",
    ),
    (
        "www.XN--BCHER-KVA.example",
        &["xn--bcher-kva.example"],
        "www.xn--bcher-kva.example",
    ),
    (
        "www.Bücher.example",
        &["xn--bcher-kva.example"],
        "www.bücher.example",
    ),
    ("buecher.example", &[], ""),
    (
        "xn--bcher-kva.example.org",
        &["example.org"],
        "xn--bcher-kva.example.org",
    ),
    // Unrelated and degenerate names.
    ("www.example.co.uk", &["example.co.uk"], "www.example.co.uk"),
    ("co.uk", &[], ""),
    ("", &[], ""),
    (".", &[], ""),
];

#[test]
fn single_names_match_the_expected_entries() {
    let index = index(ENTRIES);
    for &(name, entries, reported) in SINGLE_NAME_CASES {
        assert_eq!(
            found(&index, &[name]),
            only(entries, reported),
            "certificate name {name:?}"
        );
    }
}

#[test]
fn reports_each_entry_once_with_its_names_sorted_and_deduplicated() {
    let index = index(ENTRIES);
    let names = [
        "www.example.org",
        "api.foo.example.net",
        "example.org",
        "WWW.example.org.",
        "unrelated.test",
        "*.example.org",
        "www.example.org",
    ];
    let expected = vec![
        ("a.example.org".to_owned(), vec!["*.example.org".to_owned()]),
        (
            "example.org".to_owned(),
            vec![
                "*.example.org".to_owned(),
                "example.org".to_owned(),
                "www.example.org".to_owned(),
            ],
        ),
        (
            "foo.example.net".to_owned(),
            vec!["api.foo.example.net".to_owned()],
        ),
    ];
    assert_eq!(found(&index, &names), expected);
}

#[test]
fn nothing_matches_an_empty_list_or_no_names() {
    let empty = WatchIndex::new(Vec::new());
    assert!(empty.is_empty());
    assert_eq!(found(&empty, &["example.org", "*.*", "?"]), vec![]);
    let index = index(ENTRIES);
    assert_eq!(found(&index, &[]), vec![]);
}

#[test]
fn duplicate_entries_are_indexed_once() {
    let index = WatchIndex::new(
        [
            "example.org",
            "EXAMPLE.org.",
            "*.example.org",
            "a.example.org",
        ]
        .into_iter()
        .map(domain),
    );
    assert_eq!(index.len(), 2);
    assert_eq!(
        found(&index, &["www.example.org"]),
        only(&["example.org"], "www.example.org")
    );
}

/// The trie against a direct, per-entry reading of the matching rule, on random lists and names
/// drawn from a small label alphabet so that shared suffixes, nesting and wildcards are common.
#[test]
fn agrees_with_a_brute_force_reading_of_the_rule() {
    const LABELS: &[&str] = &["a", "b", "example", "org", "net", "xn--bcher-kva"];
    const NAME_LABELS: &[&str] = &[
        "a",
        "b",
        "example",
        "org",
        "net",
        "xn--bcher-kva",
        "*",
        "?",
        "c",
        "_x",
    ];
    let mut rng = fastrand::Rng::with_seed(0x00c7_6a4d);
    let pick = |rng: &mut fastrand::Rng, from: &[&str], len: usize| -> String {
        (0..len)
            .map(|_| from[rng.usize(..from.len())])
            .collect::<Vec<_>>()
            .join(".")
    };
    for _round in 0..200 {
        let entry_count = rng.usize(1..30);
        let entries: Vec<WatchDomain> = (0..entry_count)
            .filter_map(|_| {
                let len = rng.usize(2..5);
                WatchDomain::parse(&pick(&mut rng, LABELS, len)).ok()
            })
            .collect();
        let names: Vec<String> = (0..rng.usize(1..8))
            .map(|_| {
                let len = rng.usize(1..6);
                pick(&mut rng, NAME_LABELS, len)
            })
            .collect();

        let mut expected: Vec<(String, Vec<String>)> = Vec::new();
        let mut distinct: Vec<&str> = entries.iter().map(WatchDomain::as_str).collect();
        distinct.sort();
        distinct.dedup();
        for entry in distinct {
            let mut matched: Vec<String> = names
                .iter()
                .filter(|name| rule_matches(entry, name))
                .cloned()
                .collect();
            matched.sort();
            matched.dedup();
            if !matched.is_empty() {
                expected.push((entry.to_owned(), matched));
            }
        }

        let index = WatchIndex::new(entries.clone());
        let actual: Vec<(String, Vec<String>)> = index
            .matches(&names)
            .into_iter()
            .map(|m| (m.entry.as_str().to_owned(), m.names))
            .collect();
        assert_eq!(actual, expected, "entries {entries:?}, names {names:?}");
    }
}

/// The rule as stated: k >= m, and each of the name's rightmost m labels equals the entry's
/// label or is a wildcard/redaction label. (Names here are lowercase ASCII.)
fn rule_matches(entry: &str, name: &str) -> bool {
    let entry: Vec<&str> = entry.split('.').collect();
    let name: Vec<&str> = name.split('.').collect();
    name.len() >= entry.len()
        && name[name.len() - entry.len()..]
            .iter()
            .zip(&entry)
            .all(|(n, e)| n == e || *n == "*" || *n == "?")
}
