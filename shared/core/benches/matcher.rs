//! Watch-list matching throughput (names/s) and index build time, on a 10,000-entry list.
//!
//! `cargo bench -p ctguard-core --bench matcher`

use std::sync::LazyLock;

use ctguard_core::domain::WatchDomain;
use ctguard_core::matcher::WatchIndex;
use divan::Bencher;
use divan::counter::ItemsCount;

fn main() {
    divan::main();
}

const ENTRY_COUNT: usize = 10_000;
/// Certificates carry a few names each; `matches` is called once per certificate.
const NAMES_PER_CERT: usize = 3;

/// A realistic spread of entries: registrable domains under several TLDs (including a
/// two-label public suffix) and names nested below shared parents.
fn entries(count: usize) -> Vec<WatchDomain> {
    (0..count)
        .map(|i| {
            let raw = match i % 5 {
                0 => format!("brand{i}.com"),
                1 => format!("corp{i}.co.uk"),
                2 => format!("svc{i}.example.net"),
                3 => format!("team{i}.org{}.org", i % 97),
                _ => format!("shop{i}.de"),
            };
            WatchDomain::parse(&raw).expect("benchmark entries are valid")
        })
        .collect()
}

/// Names that touch nothing on the list: the bulk of what a CT monitor sees.
fn non_matching_names() -> Vec<String> {
    (0..3_000)
        .map(|i| match i % 4 {
            0 => format!("www.other{i}.com"),
            1 => format!("mail.brand{i}x.com"),
            2 => format!("a.b.c.unwatched{i}.co.uk"),
            _ => format!("host-{i}.example.net"),
        })
        .collect()
}

/// Subdomains of watched entries.
fn matching_names() -> Vec<String> {
    (0..3_000)
        .map(|i| match i % 3 {
            0 => format!("www.brand{}.com", (i * 5) % ENTRY_COUNT),
            1 => format!("api.eu.corp{}.co.uk", (i * 5 + 1) % ENTRY_COUNT),
            _ => format!(
                "login.team{0}.org{1}.org",
                (i * 5 + 3) % ENTRY_COUNT,
                ((i * 5 + 3) % ENTRY_COUNT) % 97
            ),
        })
        .collect()
}

/// Wildcard and redacted names, each below one watched entry or below none.
fn wildcard_names() -> Vec<String> {
    (0..3_000)
        .map(|i| match i % 4 {
            0 => format!("*.brand{}.com", (i * 5) % ENTRY_COUNT),
            1 => format!("*.svc{}.example.net", (i * 5 + 2) % ENTRY_COUNT),
            2 => format!("?.shop{}.de", (i * 5 + 4) % ENTRY_COUNT),
            _ => format!("*.unwatched{i}.org"),
        })
        .collect()
}

/// 70 % non-matching, 20 % matching subdomains, 10 % wildcards, interleaved.
fn realistic_mix() -> Vec<String> {
    let non = non_matching_names();
    let hit = matching_names();
    let wild = wildcard_names();
    (0..3_000)
        .map(|i| match i % 10 {
            0..=6 => non[i].clone(),
            7 | 8 => hit[i].clone(),
            _ => wild[i].clone(),
        })
        .collect()
}

static INDEX: LazyLock<WatchIndex> = LazyLock::new(|| WatchIndex::new(entries(ENTRY_COUNT)));

fn bench_names(bencher: Bencher, names: Vec<String>) {
    let index = &*INDEX;
    bencher.counter(ItemsCount::new(names.len())).bench(|| {
        for cert in names.chunks(NAMES_PER_CERT) {
            divan::black_box(index.matches(divan::black_box(cert)));
        }
    });
}

#[divan::bench]
fn match_realistic_mix(bencher: Bencher) {
    bench_names(bencher, realistic_mix());
}

#[divan::bench]
fn match_non_matching(bencher: Bencher) {
    bench_names(bencher, non_matching_names());
}

#[divan::bench]
fn match_subdomains(bencher: Bencher) {
    bench_names(bencher, matching_names());
}

#[divan::bench]
fn match_wildcards(bencher: Bencher) {
    bench_names(bencher, wildcard_names());
}

/// The worst case: `*.example.net` matches every one of the 2,000 entries directly below
/// `example.net`, so each name yields 2,000 matches. Output-bound, reported separately.
#[divan::bench(sample_count = 20)]
fn match_wildcard_fanout_2000_entries(bencher: Bencher) {
    bench_names(bencher, vec!["*.example.net".to_owned(); 30]);
}

/// Matching cost must not grow with the list: same names, lists of 1k, 10k and 100k entries.
#[divan::bench(args = [1_000, 10_000, 100_000])]
fn match_mix_by_list_size(bencher: Bencher, size: usize) {
    let index = WatchIndex::new(entries(size));
    let names: Vec<String> = non_matching_names()
        .into_iter()
        .take(700)
        .chain(matching_names().into_iter().take(300))
        .collect();
    bencher.counter(ItemsCount::new(names.len())).bench(|| {
        for cert in names.chunks(NAMES_PER_CERT) {
            divan::black_box(index.matches(divan::black_box(cert)));
        }
    });
}

/// Building the index from 10,000 parsed entries (once per poller run).
#[divan::bench(sample_count = 20)]
fn build_index(bencher: Bencher) {
    let parsed = entries(ENTRY_COUNT);
    bencher
        .counter(ItemsCount::new(ENTRY_COUNT))
        .with_inputs(|| parsed.clone())
        .bench_values(WatchIndex::new);
}

/// Parsing and normalising 10,000 operator inputs (IDNA + Public Suffix List lookups).
#[divan::bench(sample_count = 20)]
fn parse_entries(bencher: Bencher) {
    let raw: Vec<String> = entries(ENTRY_COUNT)
        .into_iter()
        .map(|d| format!("*.{}.", d.as_str().to_uppercase()))
        .collect();
    bencher.counter(ItemsCount::new(raw.len())).bench(|| {
        for input in &raw {
            divan::black_box(WatchDomain::parse(divan::black_box(input)).ok());
        }
    });
}
