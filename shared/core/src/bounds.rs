//! Size bounds on what ctguard stores, whatever Cert Spotter returns. The rules live here, in
//! one place; the README's "Limits" section documents them.
//!
//! A certificate may carry thousands of names, names longer than any DNS name, and a CA
//! controls its issuer strings. Unbounded, one such certificate makes its alert exceed
//! DynamoDB's 400 KB item limit, the page cannot be stored, and the entry's cursor never moves
//! again: a rogue CA could hide an issuance behind it. So every stored alert is bounded by
//! construction:
//! - every name is at most [`NAME_MAX_BYTES`] (longer ones keep their rightmost part, the part
//!   that matched a watch entry, behind a leading `…`);
//! - the names that matched a watch entry are kept in full up to a hard bound
//!   ([`MATCHED_MAX_BYTES`], several thousand names); beyond it `matched_truncated` is set and
//!   `matched_names_total` keeps the count. The polled entry always stays listed;
//! - the other names (`dns_names`) are kept up to [`NAMES_MAX_BYTES`], with `names_total` and
//!   `names_truncated`;
//! - issuer strings, the problem-reporting contact and the issuance id are cut at
//!   [`TEXT_MAX_BYTES`] (ending in `…`), CAA domains at [`CAA_DOMAINS_MAX`].
//!
//! The certificate stays identified by its hashes and crt.sh link, which are never cut. The
//! sum of the bounds is well under [`ITEM_MAX_BYTES`]; the DynamoDB store still measures every
//! alert item before writing it, and the poller stores a reduced alert
//! ([`reduced_alert`]) for an issuance whose alert is refused anyway.

use crate::domain::WatchDomain;
use crate::matcher::EntryMatch;
use crate::model::{Alert, IssuerInfo, Severity};

/// DynamoDB's item size limit: attribute names plus values, in UTF-8 bytes.
pub const ITEM_MAX_BYTES: usize = 400 * 1024;
/// One name (a DNS name is at most 253 bytes).
pub const NAME_MAX_BYTES: usize = 256;
/// One free-text field from Cert Spotter (issuer name, contact, issuance id).
pub const TEXT_MAX_BYTES: usize = 1024;
/// CAA domains listed for the issuer.
pub const CAA_DOMAINS_MAX: usize = 16;
/// Matched entries and names of one alert, counted with [`ELEMENT_OVERHEAD`] per string. The
/// entries are also stored in the `matched_domains` set, so they count twice.
pub const MATCHED_MAX_BYTES: usize = 160 * 1024;
/// `dns_names` of one alert, counted with [`ELEMENT_OVERHEAD`] per name.
pub const NAMES_MAX_BYTES: usize = 32 * 1024;
/// What a list element costs on top of its bytes (DynamoDB type and length bytes).
pub const ELEMENT_OVERHEAD: usize = 4;
/// Names a reduced alert keeps for the polled entry.
pub const REDUCED_NAMES_MAX: usize = 10;

const ELLIPSIS: &str = "…";

/// `text` cut to at most `max` bytes at a character boundary, ending in `…` when cut.
pub fn clip_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// A name cut to at most [`NAME_MAX_BYTES`]: `…` and its rightmost part (the part that
/// matched a watch entry, so the alert still shows which of your names it is about).
pub fn clip_name(name: &str) -> String {
    if name.len() <= NAME_MAX_BYTES {
        return name.to_owned();
    }
    let mut start = name.len() - (NAME_MAX_BYTES - ELLIPSIS.len());
    while !name.is_char_boundary(start) {
        start += 1;
    }
    format!("{ELLIPSIS}{}", &name[start..])
}

fn cost(s: &str) -> usize {
    s.len() + ELEMENT_OVERHEAD
}

/// Bounds an alert built from an issuance, in place (see the module docs). `polled` is the
/// entry whose poll found it: it stays among the matched entries whatever else is cut.
pub fn bound_alert(alert: &mut Alert, polled: &WatchDomain) {
    let names_total = alert.dns_names.len();
    let matched_total: usize = alert.matched.iter().map(|m| m.names.len()).sum();
    alert.names_total = Some(saturating_u32(names_total));
    alert.matched_names_total = Some(saturating_u32(matched_total));

    // Matched entries and names: the polled entry first, then the others in order.
    let mut budget = MATCHED_MAX_BYTES;
    let mut matched_cut = false;
    let mut order: Vec<EntryMatch> = std::mem::take(&mut alert.matched);
    if let Some(at) = order.iter().position(|m| &m.entry == polled) {
        let first = order.remove(at);
        order.insert(0, first);
    }
    let mut kept = Vec::with_capacity(order.len());
    for (position, m) in order.into_iter().enumerate() {
        let entry_cost = 2 * cost(m.entry.as_str());
        if position > 0 && entry_cost > budget {
            matched_cut = true;
            continue;
        }
        budget = budget.saturating_sub(entry_cost);
        let listed = m.names.len();
        let names = take_within(m.names.iter(), &mut budget, &mut matched_cut);
        matched_cut |= names.len() < listed;
        kept.push(EntryMatch {
            entry: m.entry,
            names,
        });
    }
    kept.sort_by(|a, b| a.entry.cmp(&b.entry));
    alert.matched = kept;
    alert.matched_truncated |= matched_cut;

    let mut names_cut = false;
    let mut budget = NAMES_MAX_BYTES;
    let names = take_within(alert.dns_names.iter(), &mut budget, &mut names_cut);
    names_cut |= names.len() < names_total;
    alert.dns_names = names;
    alert.names_truncated |= names_cut;

    alert.issuer = bound_issuer(&alert.issuer);
    alert.problem_reporting = alert
        .problem_reporting
        .as_deref()
        .map(|p| clip_text(p, TEXT_MAX_BYTES));
    alert.issuance_id = clip_text(&alert.issuance_id, TEXT_MAX_BYTES);
}

/// Names in order while they fit `budget` (each clipped to [`NAME_MAX_BYTES`]); sets `cut`
/// when a name had to be clipped.
fn take_within<'a>(
    names: impl Iterator<Item = &'a String>,
    budget: &mut usize,
    cut: &mut bool,
) -> Vec<String> {
    let mut kept = Vec::new();
    for name in names {
        let clipped = clip_name(name);
        *cut |= clipped != *name;
        let name = clipped;
        if cost(&name) > *budget {
            break;
        }
        *budget -= cost(&name);
        kept.push(name);
    }
    kept
}

fn bound_issuer(issuer: &IssuerInfo) -> IssuerInfo {
    IssuerInfo {
        friendly_name: issuer
            .friendly_name
            .as_deref()
            .map(|n| clip_text(n, TEXT_MAX_BYTES)),
        name: issuer.name.as_deref().map(|n| clip_text(n, TEXT_MAX_BYTES)),
        pubkey_sha256: issuer.pubkey_sha256,
        caa_domains: issuer
            .caa_domains
            .iter()
            .take(CAA_DOMAINS_MAX)
            .map(|d| clip_name(d))
            .collect(),
    }
}

/// The minimal alert stored when an issuance's alert is refused even bounded: `suspicious`,
/// the hashes and validity (so the crt.sh link works), the polled entry with at most
/// [`REDUCED_NAMES_MAX`] of its names, and `reduced` saying why. Deliveries as the original.
pub fn reduced_alert(alert: &Alert, polled: &WatchDomain, reason: &str) -> Alert {
    let names: Vec<String> = alert
        .matched
        .iter()
        .find(|m| &m.entry == polled)
        .map(|m| {
            m.names
                .iter()
                .take(REDUCED_NAMES_MAX)
                .map(|n| clip_name(n))
                .collect()
        })
        .unwrap_or_default();
    Alert {
        dns_names: names.clone(),
        matched: vec![EntryMatch {
            entry: polled.clone(),
            names,
        }],
        issuer: IssuerInfo {
            pubkey_sha256: alert.issuer.pubkey_sha256,
            ..IssuerInfo::default()
        },
        problem_reporting: None,
        issuance_id: clip_text(&alert.issuance_id, 128),
        // Critical stays critical (its reasons are kept: they are bounded).
        severity: alert.severity.max(Severity::Suspicious),
        authorized_by: None,
        caa: None,
        grace_until: None,
        names_total: alert.names_total,
        names_truncated: true,
        matched_names_total: alert.matched_names_total,
        matched_truncated: true,
        reduced: Some(clip_text(reason, TEXT_MAX_BYTES)),
        ..alert.clone()
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_text_cuts_at_char_boundaries_and_marks_the_cut() {
        assert_eq!(clip_text("short", 10), "short");
        let cut = clip_text(&"é".repeat(100), 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with(ELLIPSIS));
    }

    #[test]
    fn clip_name_keeps_the_rightmost_part() {
        let long = format!("{}.www.example.com", "a".repeat(1000));
        let cut = clip_name(&long);
        assert!(cut.len() <= NAME_MAX_BYTES);
        assert!(cut.starts_with(ELLIPSIS) && cut.ends_with(".www.example.com"));
        let exact = "b".repeat(NAME_MAX_BYTES);
        assert_eq!(clip_name(&exact), exact);
    }
}
