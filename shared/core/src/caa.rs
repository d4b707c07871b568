//! CAA (RFC 8659) at detection time, pure: given the CAA RRsets the resolver returned while
//! climbing from a certificate name towards the root, which outcome the issuing CA gets, with
//! the records seen as evidence. No I/O: the poller's resolver adapter does the lookups.
//!
//! The rules (the README's "CAA at detection time" repeats them):
//! - The relevant RRset of a name is the first non-empty CAA RRset found at the name, then
//!   its parent, up to the TLD ([`climb`]); the resolver follows CNAMEs at each step (the
//!   climb is over the original name's ancestors, as RFC 8659 §3 says). A wildcard name
//!   (`*.example.com`) is looked up at its base (`example.com`).
//! - A lookup that fails (SERVFAIL, timeout, the run's lookup cap) before a non-empty RRset is
//!   found makes the outcome `lookup_failed`: never a pass.
//! - No relevant RRset: `no_caa` (any CA may issue).
//! - A record with the issuer-critical flag (128) and a tag other than `issue`, `issuewild`,
//!   `iodef`: no CA may issue (`violation`).
//! - Wildcard names use the `issuewild` properties when there is at least one, else `issue`;
//!   other names use `issue` only. None of them in the RRset: any CA may issue.
//! - An `issue`/`issuewild` value is `[issuer-domain-name] [; parameters]` (whitespace around
//!   allowed); an empty name (`;`) permits no CA; a malformed value permits no CA; tags and
//!   names compare case-insensitively; parameters are not checked (account bindings and
//!   validation methods are the CA's business and not visible to us).
//! - The CA is permitted when one of its CAA identifiers (Cert Spotter's `caa_domains`)
//!   equals the name of a property that applies. An issuer without identifiers cannot be
//!   shown to be permitted by a restrictive RRset: `violation`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bounds::clip_text;

/// CAA records kept per name in the evidence (an RRset can be large; the rest is counted).
pub const CAA_RECORDS_MAX: usize = 8;
/// Bytes kept of a record's value in the evidence (tags are short by the wire format).
pub const CAA_VALUE_MAX: usize = 255;
/// Matched names checked per alert (the rest is counted in `names_total`).
pub const CAA_NAMES_MAX: usize = 10;
/// Bytes of a lookup error kept in the evidence.
pub const CAA_ERROR_MAX: usize = 200;
/// Bytes of a name check's `detail` (it may quote malformed values).
pub const CAA_DETAIL_MAX: usize = 512;

/// Tags a CA understands: any other tag with the issuer-critical flag forbids issuance.
const KNOWN_TAGS: [&str; 3] = ["issue", "issuewild", "iodef"];
const CRITICAL_FLAG: u8 = 0x80;

/// One CAA record as the resolver returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaRecord {
    pub flags: u8,
    pub tag: String,
    /// The value as text (invalid UTF-8 replaced), at most [`CAA_VALUE_MAX`] bytes.
    pub value: String,
}

impl CaaRecord {
    /// A record from the wire: the tag and value bounded and made text (control characters
    /// become U+FFFD, so the evidence stays readable and its JSON near its byte size).
    pub fn new(flags: u8, tag: &str, value: &[u8]) -> Self {
        let text = |s: &str, max| {
            let clean: String = s
                .chars()
                .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
                .collect();
            clip_text(&clean, max)
        };
        Self {
            flags,
            tag: text(tag, 64),
            value: text(&String::from_utf8_lossy(value), CAA_VALUE_MAX),
        }
    }

    fn critical(&self) -> bool {
        self.flags & CRITICAL_FLAG != 0
    }

    fn is(&self, tag: &str) -> bool {
        self.tag.eq_ignore_ascii_case(tag)
    }
}

/// What one CAA query (one name of the climb) answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RrsetAnswer {
    /// A non-empty CAA RRset (after CNAMEs, as the resolver followed them).
    Records(Vec<CaaRecord>),
    /// No CAA record at this name (NOERROR without CAA, or NXDOMAIN): climb on.
    Empty,
    /// No answer: why (SERVFAIL, timeout, the run's lookup cap...).
    Failed(String),
}

/// The outcome for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaaOutcome {
    /// A property that applies names one of the issuer's identifiers (or none applies).
    Permitted,
    /// The relevant RRset does not permit the issuer.
    Violation,
    /// No CAA RRset up to the TLD: any CA may issue.
    NoCaa,
    /// The lookup did not complete: not checked (never a pass).
    LookupFailed,
}

impl CaaOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CaaOutcome::Permitted => "permitted",
            CaaOutcome::Violation => "violation",
            CaaOutcome::NoCaa => "no_caa",
            CaaOutcome::LookupFailed => "lookup_failed",
        }
    }
}

/// The check of one name: its outcome and what it was based on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaNameCheck {
    /// The certificate name checked (as matched, lower-case).
    pub name: String,
    pub outcome: CaaOutcome,
    /// Where the relevant RRset was found (the name or an ancestor).
    #[serde(default)]
    pub relevant_name: Option<String>,
    /// The relevant RRset, at most [`CAA_RECORDS_MAX`] records.
    #[serde(default)]
    pub records: Vec<CaaRecord>,
    /// Records in the relevant RRset (more than `records` when cut).
    #[serde(default)]
    pub records_total: u32,
    /// Why, in words (for a failed lookup: the error).
    pub detail: String,
}

/// The evidence stored on an alert: every checked name, the resolver and the time. CAA can
/// change after issuance: this is what DNS said when ctguard detected the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaEvidence {
    pub checked_at: DateTime<Utc>,
    /// The resolver asked (`ip:port`, or `system` for the system's configuration).
    pub resolver: String,
    /// The issuer's CAA identifiers compared against (from Cert Spotter).
    pub issuer_caa_domains: Vec<String>,
    /// At most [`CAA_NAMES_MAX`] names.
    pub names: Vec<CaaNameCheck>,
    /// Distinct matched names (more than `names` when cut; the rest were not checked).
    pub names_total: u32,
}

impl CaaEvidence {
    /// Whether any checked name had this outcome.
    pub fn any(&self, outcome: CaaOutcome) -> bool {
        self.names.iter().any(|n| n.outcome == outcome)
    }
}

/// A certificate name normalised for CAA: lower-case, no trailing dot; with whether it is a
/// wildcard and the name the lookups start at (the base of a wildcard). `None` when it is not
/// a domain name (empty labels, a wildcard label elsewhere than first, over 253 bytes).
pub fn normalise(name: &str) -> Option<(String, bool, String)> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let (wildcard, base) = match name.strip_prefix("*.") {
        Some(base) => (true, base.to_owned()),
        None => (false, name.clone()),
    };
    let ok = base
        .split('.')
        .all(|l| !l.is_empty() && l.len() <= 63 && l != "*");
    ok.then_some((name, wildcard, base))
}

/// The names to query, in order: `base` and each ancestor up to the TLD (the root has no CAA
/// to find).
pub fn climb(base: &str) -> Vec<String> {
    let mut out = vec![base.to_owned()];
    let mut rest = base;
    while let Some((_, parent)) = rest.split_once('.') {
        out.push(parent.to_owned());
        rest = parent;
    }
    out
}

/// What an `issue`/`issuewild` value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerValue {
    /// An issuer-domain-name, lower-case.
    Issuer(String),
    /// No name (`;`, or nothing): no CA is permitted.
    Empty,
    /// Not the grammar: no CA is permitted.
    Malformed,
}

/// The issuer-domain-name of an `issue`/`issuewild` value (RFC 8659 §4.2 grammar: labels of
/// letters, digits and inner hyphens; parameters after `;` are not examined).
pub fn issuer_domain(value: &str) -> IssuerValue {
    let wsp = |c: char| c == ' ' || c == '\t';
    let domain = value.split_once(';').map_or(value, |(d, _)| d);
    let domain = domain.trim_matches(wsp);
    if domain.is_empty() {
        return IssuerValue::Empty;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.split('.').all(label_ok) {
        IssuerValue::Issuer(domain.to_ascii_lowercase())
    } else {
        IssuerValue::Malformed
    }
}

/// Evaluates one name. `answers`: what the lookups answered, in [`climb`] order, stopping at
/// the first non-`Empty` one (answers past it are ignored). `issuer_ids`: the issuer's CAA
/// identifiers (compared case-insensitively, a trailing dot ignored).
pub fn evaluate(
    name: &str,
    wildcard: bool,
    answers: &[(String, RrsetAnswer)],
    issuer_ids: &[String],
) -> CaaNameCheck {
    let mut check = CaaNameCheck {
        name: name.to_owned(),
        outcome: CaaOutcome::NoCaa,
        relevant_name: None,
        records: Vec::new(),
        records_total: 0,
        detail: String::new(),
    };
    let found = answers
        .iter()
        .find(|(_, a)| !matches!(a, RrsetAnswer::Empty));
    let (at, records) = match found {
        None => {
            let top = answers.last().map_or("", |(n, _)| n.as_str());
            check.detail =
                format!("no CAA record at {name} or any ancestor up to {top}: any CA may issue");
            return check;
        }
        Some((at, RrsetAnswer::Failed(why))) => {
            check.outcome = CaaOutcome::LookupFailed;
            check.detail = clip_text(&format!("CAA lookup at {at} failed: {why}"), CAA_ERROR_MAX);
            return check;
        }
        Some((at, RrsetAnswer::Records(records))) => (at, records),
        Some((_, RrsetAnswer::Empty)) => unreachable!("filtered out above"),
    };
    check.relevant_name = Some(at.clone());
    check.records = records.iter().take(CAA_RECORDS_MAX).cloned().collect();
    check.records_total = u32::try_from(records.len()).unwrap_or(u32::MAX);
    let (outcome, detail) = decide(records, wildcard, issuer_ids);
    check.outcome = outcome;
    check.detail = clip_text(&format!("CAA at {at}: {detail}"), CAA_DETAIL_MAX);
    check
}

/// The outcome of a relevant RRset for an issuer, with why.
fn decide(records: &[CaaRecord], wildcard: bool, issuer_ids: &[String]) -> (CaaOutcome, String) {
    if let Some(r) = records
        .iter()
        .find(|r| r.critical() && !KNOWN_TAGS.iter().any(|t| r.is(t)))
    {
        return (
            CaaOutcome::Violation,
            format!(
                "critical property {:?} is not understood, so no CA may issue",
                r.tag
            ),
        );
    }
    let wild: Vec<&CaaRecord> = records.iter().filter(|r| r.is("issuewild")).collect();
    let (tag, props): (&str, Vec<&CaaRecord>) = if wildcard && !wild.is_empty() {
        ("issuewild", wild)
    } else {
        ("issue", records.iter().filter(|r| r.is("issue")).collect())
    };
    if props.is_empty() {
        return (
            CaaOutcome::Permitted,
            "no issue property, so any CA may issue".to_owned(),
        );
    }
    let ids: Vec<String> = issuer_ids
        .iter()
        .map(|i| i.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|i| !i.is_empty())
        .collect();
    let mut named = Vec::new();
    for p in &props {
        match issuer_domain(&p.value) {
            IssuerValue::Issuer(d) if ids.contains(&d) => {
                return (
                    CaaOutcome::Permitted,
                    format!("{tag} {d} permits the issuer"),
                );
            }
            IssuerValue::Issuer(d) => named.push(d),
            IssuerValue::Empty => named.push("no CA (\";\")".to_owned()),
            IssuerValue::Malformed => named.push(format!("no CA (malformed {:?})", p.value)),
        }
    }
    named.sort();
    named.dedup();
    let issuer = if ids.is_empty() {
        "the issuer has no CAA identifiers in Cert Spotter".to_owned()
    } else {
        format!("the issuer is {}", ids.join(", "))
    };
    (
        CaaOutcome::Violation,
        format!("{tag} permits only {}; {issuer}", named.join(", ")),
    )
}

/// The `caa_violation` reason's detail, if any checked name is a violation: the first such
/// name, how many there are, and the detection-time caveat.
pub fn violation_detail(evidence: &CaaEvidence) -> Option<String> {
    let violations: Vec<&CaaNameCheck> = evidence
        .names
        .iter()
        .filter(|n| n.outcome == CaaOutcome::Violation)
        .collect();
    let first = violations.first()?;
    let more = match violations.len() {
        1 => String::new(),
        n => format!(" (and {} more names)", n - 1),
    };
    Some(format!(
        "{}: {}{more}; checked at detection time {} via {}",
        first.name,
        first.detail,
        evidence.checked_at.format("%Y-%m-%dT%H:%M:%SZ"),
        evidence.resolver
    ))
}

/// One line summing the evidence up (email, logs): the outcome of each kind and, for failed
/// lookups, that the names were not checked.
pub fn summary(evidence: &CaaEvidence) -> String {
    let count = |o| evidence.names.iter().filter(|n| n.outcome == o).count();
    let mut parts = Vec::new();
    for o in [
        CaaOutcome::Violation,
        CaaOutcome::LookupFailed,
        CaaOutcome::Permitted,
        CaaOutcome::NoCaa,
    ] {
        let n = count(o);
        if n > 0 {
            parts.push(format!("{} {n}", o.as_str()));
        }
    }
    let unchecked = (evidence.names_total as usize).saturating_sub(evidence.names.len());
    if unchecked > 0 {
        parts.push(format!("not checked (bound) {unchecked}"));
    }
    let mut line = format!(
        "CAA at detection time ({} via {}): {}",
        evidence.checked_at.format("%Y-%m-%dT%H:%M:%SZ"),
        evidence.resolver,
        parts.join(", ")
    );
    if let Some(failed) = evidence
        .names
        .iter()
        .find(|n| n.outcome == CaaOutcome::LookupFailed)
    {
        line.push_str(&format!(
            "; CAA NOT CHECKED for {}: {}",
            failed.name, failed.detail
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(flags: u8, tag: &str, value: &str) -> CaaRecord {
        CaaRecord::new(flags, tag, value.as_bytes())
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn at(name: &str, a: RrsetAnswer) -> (String, RrsetAnswer) {
        (name.to_owned(), a)
    }

    fn records(list: &[CaaRecord]) -> RrsetAnswer {
        RrsetAnswer::Records(list.to_vec())
    }

    const LE: &[&str] = &["letsencrypt.org"];

    #[test]
    fn climb_goes_from_the_name_to_the_tld() {
        assert_eq!(
            climb("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        assert_eq!(climb("com"), ["com"]);
        let (name, wild, base) = normalise("*.Shop.Example.COM.").unwrap();
        assert_eq!(
            (name.as_str(), wild, base.as_str()),
            ("*.shop.example.com", true, "shop.example.com")
        );
        assert_eq!(normalise("a..b"), None);
        assert_eq!(normalise("a.*.b"), None);
        assert_eq!(normalise(""), None);
        assert_eq!(normalise(&"a".repeat(254)), None);
    }

    #[test]
    fn the_closest_non_empty_rrset_is_relevant() {
        let answers = [
            at("www.example.com", RrsetAnswer::Empty),
            at(
                "example.com",
                records(&[rec(0, "issue", "letsencrypt.org")]),
            ),
            at("com", records(&[rec(0, "issue", "other.ca")])),
        ];
        let c = evaluate("www.example.com", false, &answers, &ids(LE));
        assert_eq!(c.outcome, CaaOutcome::Permitted);
        assert_eq!(c.relevant_name.as_deref(), Some("example.com"));
        assert_eq!(c.records, [rec(0, "issue", "letsencrypt.org")]);
        // The same climb for another CA: the closer RRset decides, not the TLD's.
        let c = evaluate("www.example.com", false, &answers, &ids(&["other.ca"]));
        assert_eq!(c.outcome, CaaOutcome::Violation);
        assert_eq!(
            c.detail,
            "CAA at example.com: issue permits only letsencrypt.org; the issuer is other.ca"
        );
    }

    #[test]
    fn no_rrset_up_to_the_tld_is_no_caa() {
        let answers = [
            at("example.com", RrsetAnswer::Empty),
            at("com", RrsetAnswer::Empty),
        ];
        let c = evaluate("example.com", false, &answers, &ids(LE));
        assert_eq!(c.outcome, CaaOutcome::NoCaa);
        assert!(c.detail.contains("any CA may issue"), "{}", c.detail);
    }

    #[test]
    fn a_failed_lookup_before_an_rrset_is_never_a_pass() {
        let answers = [
            at("www.example.com", RrsetAnswer::Empty),
            at("example.com", RrsetAnswer::Failed("SERVFAIL".to_owned())),
        ];
        let c = evaluate("www.example.com", false, &answers, &ids(LE));
        assert_eq!(c.outcome, CaaOutcome::LookupFailed);
        assert_eq!(c.detail, "CAA lookup at example.com failed: SERVFAIL");
        // A failure past the relevant RRset does not matter.
        let answers = [
            at(
                "example.com",
                records(&[rec(0, "issue", "letsencrypt.org")]),
            ),
            at("com", RrsetAnswer::Failed("timeout".to_owned())),
        ];
        assert_eq!(
            evaluate("example.com", false, &answers, &ids(LE)).outcome,
            CaaOutcome::Permitted
        );
    }

    #[test]
    fn wildcards_use_issuewild_and_fall_back_to_issue() {
        let both = [at(
            "example.com",
            records(&[
                rec(0, "issue", "letsencrypt.org"),
                rec(0, "issuewild", "pki.goog"),
            ]),
        )];
        // issuewild present: it alone decides for a wildcard...
        assert_eq!(
            evaluate("*.example.com", true, &both, &ids(LE)).outcome,
            CaaOutcome::Violation
        );
        assert_eq!(
            evaluate("*.example.com", true, &both, &ids(&["pki.goog"])).outcome,
            CaaOutcome::Permitted
        );
        // ...and is ignored for other names.
        assert_eq!(
            evaluate("example.com", false, &both, &ids(LE)).outcome,
            CaaOutcome::Permitted
        );
        assert_eq!(
            evaluate("example.com", false, &both, &ids(&["pki.goog"])).outcome,
            CaaOutcome::Violation
        );
        // No issuewild: issue applies to wildcards too.
        let issue_only = [at(
            "example.com",
            records(&[rec(0, "issue", "letsencrypt.org")]),
        )];
        assert_eq!(
            evaluate("*.example.com", true, &issue_only, &ids(LE)).outcome,
            CaaOutcome::Permitted
        );
        assert_eq!(
            evaluate("*.example.com", true, &issue_only, &ids(&["pki.goog"])).outcome,
            CaaOutcome::Violation
        );
        // issuewild ";" forbids wildcards while issue permits plain names.
        let no_wild = [at(
            "example.com",
            records(&[rec(0, "issue", "letsencrypt.org"), rec(0, "issuewild", ";")]),
        )];
        assert_eq!(
            evaluate("*.example.com", true, &no_wild, &ids(LE)).outcome,
            CaaOutcome::Violation
        );
    }

    #[test]
    fn a_critical_unknown_tag_forbids_every_ca() {
        let rrset = [at(
            "example.com",
            records(&[rec(0, "issue", "letsencrypt.org"), rec(128, "tbs", "x")]),
        )];
        let c = evaluate("example.com", false, &rrset, &ids(LE));
        assert_eq!(c.outcome, CaaOutcome::Violation);
        assert!(
            c.detail.contains("critical property \"tbs\""),
            "{}",
            c.detail
        );
        // Not critical: ignored. Critical but known (any case): fine.
        for r in [
            rec(0, "tbs", "x"),
            rec(128, "IODEF", "mailto:x@example.com"),
            rec(128, "Issue", "letsencrypt.org"),
        ] {
            let rrset = [at(
                "example.com",
                records(&[rec(0, "issue", "letsencrypt.org"), r.clone()]),
            )];
            assert_eq!(
                evaluate("example.com", false, &rrset, &ids(LE)).outcome,
                CaaOutcome::Permitted,
                "{r:?}"
            );
        }
    }

    #[test]
    fn values_parameters_case_and_empty_issuers() {
        for (value, permitted) in [
            ("letsencrypt.org", true),
            ("  LetsEncrypt.ORG ", true),
            (
                "letsencrypt.org; accounturi=https://acme/acct/1; validationmethods=dns-01",
                true,
            ),
            ("letsencrypt.org;", true),
            (";", false),
            ("", false),
            (" ; accounturi=x", false),
            ("letsencrypt.org.", false), // not the grammar: permits no CA
            ("lets encrypt.org", false), // malformed
            ("-letsencrypt.org", false),
            ("other.ca", false),
        ] {
            let rrset = [at("example.com", records(&[rec(0, "issue", value)]))];
            let c = evaluate("example.com", false, &rrset, &ids(&["LETSENCRYPT.org."]));
            assert_eq!(
                c.outcome == CaaOutcome::Permitted,
                permitted,
                "{value:?}: {}",
                c.detail
            );
        }
        // Tags are case-insensitive.
        let rrset = [at("example.com", records(&[rec(0, "ISSUE", "other.ca")]))];
        assert_eq!(
            evaluate("example.com", false, &rrset, &ids(LE)).outcome,
            CaaOutcome::Violation
        );
        // ";" next to a permitting record: the permitting one wins.
        let rrset = [at(
            "example.com",
            records(&[rec(0, "issue", ";"), rec(0, "issue", "letsencrypt.org")]),
        )];
        assert_eq!(
            evaluate("example.com", false, &rrset, &ids(LE)).outcome,
            CaaOutcome::Permitted
        );
        assert_eq!(
            issuer_domain(" a.b ; x=y"),
            IssuerValue::Issuer("a.b".to_owned())
        );
        assert_eq!(issuer_domain(";"), IssuerValue::Empty);
        assert_eq!(issuer_domain("a_b.c"), IssuerValue::Malformed);
    }

    #[test]
    fn only_iodef_permits_any_ca_and_unknown_issuers_are_not_permitted() {
        let rrset = [at(
            "example.com",
            records(&[rec(0, "iodef", "mailto:sec@example.com")]),
        )];
        let c = evaluate("example.com", false, &rrset, &[]);
        assert_eq!(c.outcome, CaaOutcome::Permitted);
        let rrset = [at(
            "example.com",
            records(&[rec(0, "issue", "letsencrypt.org")]),
        )];
        let c = evaluate("example.com", false, &rrset, &[]);
        assert_eq!(c.outcome, CaaOutcome::Violation);
        assert!(c.detail.contains("no CAA identifiers"), "{}", c.detail);
    }

    #[test]
    fn evidence_is_bounded() {
        let many: Vec<CaaRecord> = (0..100)
            .map(|i| rec(0, "issue", &format!("ca{i}.example{}", "x".repeat(1000))))
            .collect();
        let c = evaluate(
            "example.com",
            false,
            &[at("example.com", records(&many))],
            &ids(LE),
        );
        assert_eq!(c.records.len(), CAA_RECORDS_MAX);
        assert_eq!(c.records_total, 100);
        assert!(c.records.iter().all(|r| r.value.len() <= CAA_VALUE_MAX));
        let r = CaaRecord::new(0, &"t".repeat(300), &[0xff, 0xfe, 0x01, b'a']);
        assert!(r.tag.len() <= 64);
        assert!(r.value.ends_with('a'));
        assert!(!r.value.chars().any(char::is_control), "{:?}", r.value);
        // Malformed values are quoted in the detail: bounded whatever the RRset.
        let malformed: Vec<CaaRecord> = (0..100)
            .map(|i| rec(0, "issue", &format!("bad value {i} {}", "\"".repeat(200))))
            .collect();
        let c = evaluate(
            "example.com",
            false,
            &[at("example.com", records(&malformed))],
            &ids(LE),
        );
        assert_eq!(c.outcome, CaaOutcome::Violation);
        assert!(c.detail.len() <= CAA_DETAIL_MAX, "{}", c.detail.len());
        let c = evaluate(
            "example.com",
            false,
            &[at("example.com", RrsetAnswer::Failed("e".repeat(10_000)))],
            &ids(LE),
        );
        assert!(c.detail.len() <= CAA_ERROR_MAX);
    }

    #[test]
    fn the_violation_detail_names_the_name_the_time_and_the_resolver() {
        let rrset = [at(
            "example.com",
            records(&[rec(0, "issue", "letsencrypt.org")]),
        )];
        let ev = CaaEvidence {
            checked_at: "2026-01-02T03:04:05Z".parse().unwrap(),
            resolver: "127.0.0.1:5353".to_owned(),
            issuer_caa_domains: ids(&["other.ca"]),
            names: vec![
                evaluate("example.com", false, &rrset, &ids(&["other.ca"])),
                evaluate("www.example.com", false, &rrset, &ids(&["other.ca"])),
                evaluate(
                    "x.example.com",
                    false,
                    &[at("x.example.com", RrsetAnswer::Failed("SERVFAIL".into()))],
                    &[],
                ),
            ],
            names_total: 4,
        };
        assert_eq!(
            violation_detail(&ev).unwrap(),
            "example.com: CAA at example.com: issue permits only letsencrypt.org; the issuer is \
             other.ca (and 1 more names); checked at detection time 2026-01-02T03:04:05Z via \
             127.0.0.1:5353"
        );
        let s = summary(&ev);
        assert!(s.contains("violation 2, lookup_failed 1"), "{s}");
        assert!(s.contains("not checked (bound) 1"), "{s}");
        assert!(s.contains("CAA NOT CHECKED for x.example.com"), "{s}");
        let mut ok = ev.clone();
        ok.names.truncate(0);
        assert_eq!(violation_detail(&ok), None);
    }
}
