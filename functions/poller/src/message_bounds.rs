//! Size bounds on what subscribers receive, so every alert reaches every channel: SNS refuses
//! a message over 256 KiB ("Message too long"), SES a message over its own limit, and a
//! certificate may carry thousands of names. The rules (the README's alert formats repeat
//! them):
//! - SNS alert message: `dns_names` at most [`MESSAGE_NAMES_MAX`]; `matched` as stored (in full
//!   up to the stored alert's hard bound); if the body would still exceed [`SNS_BODY_MAX`],
//!   names are added back in order (matched first) while they fit. `names_total`,
//!   `matched_names_total` count everything, `names_truncated`, `matched_truncated` and
//!   `truncated` say what was cut. The `domains` attribute is at most
//!   [`DOMAINS_ATTRIBUTE_MAX`] bytes.
//! - Email: per certificate at most [`EMAIL_MATCHED_NAMES_MAX`] matched names and
//!   [`EMAIL_NAMES_MAX`] other names, with counts; one email at most [`EMAIL_MAX_BYTES`] of
//!   text and HTML together: past that, certificates are listed in one line each.
//! - Baseline summaries: at most [`SUMMARY_NAMES_MAX`] names per certificate, and the list
//!   within the same byte bounds (`truncated: true`; the counts always cover everything).

use std::borrow::Cow;

use ctguard::matcher::EntryMatch;
use serde::Serialize;

use crate::message::AlertMessage;

/// SNS's limit for one message: body, subject and attributes together.
pub const SNS_MESSAGE_MAX: usize = 256 * 1024;
/// The `domains` attribute (a JSON array of matched entries).
pub const DOMAINS_ATTRIBUTE_MAX: usize = 32 * 1024;
/// Room for the subject (100 characters) and the other attributes (names, types, values).
const SNS_OVERHEAD: usize = 4 * 1024;
/// The JSON body of one SNS message.
pub const SNS_BODY_MAX: usize = SNS_MESSAGE_MAX - DOMAINS_ATTRIBUTE_MAX - SNS_OVERHEAD;
/// Names of the certificate listed in an SNS alert message.
pub const MESSAGE_NAMES_MAX: usize = 100;
/// Names of a certificate listed in an email, besides the matched ones.
pub const EMAIL_NAMES_MAX: usize = 20;
/// Matched names of a certificate listed in an email.
pub const EMAIL_MATCHED_NAMES_MAX: usize = 200;
/// Names listed per certificate in a baseline summary.
pub const SUMMARY_NAMES_MAX: usize = 20;
/// Text and HTML of one email together (SES v2 takes up to 40 MB, SES v1 10 MB).
pub const EMAIL_MAX_BYTES: usize = 4 * 1024 * 1024;
/// What a one-line entry of a certificate in an email costs at most, text and HTML.
pub const EMAIL_LINE_MAX: usize = 2 * 1024;

/// A count as the messages carry it.
pub fn listed(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The length of `value` as JSON.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_string(value).map_or(usize::MAX / 2, |s| s.len())
}

/// The JSON array of the longest prefix of `items` within `max` bytes.
pub fn json_list_prefix(items: &[&str], max: usize) -> String {
    let mut budget = max.saturating_sub(2);
    let mut kept = Vec::new();
    for item in items {
        let cost = json_len(*item) + 1;
        if cost > budget {
            break;
        }
        budget -= cost;
        kept.push(*item);
    }
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".to_owned())
}

/// The alert message as JSON within `max` bytes. Usually it fits as is; otherwise every
/// entry stays and names are added back in order, matched names first, while they fit.
pub fn fit_alert_message(mut message: AlertMessage<'_>, max: usize) -> String {
    if let Ok(body) = serde_json::to_string(&message)
        && body.len() <= max
    {
        return body;
    }
    let matched = message.matched.clone().into_owned();
    let names = message.dns_names;
    let stored_matched_cut = message.matched_truncated;
    message.matched = Cow::Owned(
        matched
            .iter()
            .map(|m| EntryMatch {
                entry: m.entry.clone(),
                names: Vec::new(),
            })
            .collect(),
    );
    message.dns_names = &[];
    message.truncated = true;
    message.names_truncated = true;
    message.matched_truncated = true;
    // `false` is one byte longer than `true`: room for the flags to flip back.
    let mut budget = max.saturating_sub(json_len(&message) + 8);

    let mut matched_cut = false;
    if let Cow::Owned(kept) = &mut message.matched {
        'entries: for (kept, full) in kept.iter_mut().zip(&matched) {
            for name in &full.names {
                let cost = json_len(name) + 1;
                if cost > budget {
                    matched_cut = true;
                    break 'entries;
                }
                budget -= cost;
                kept.names.push(name.clone());
            }
        }
    }
    let mut listed_names = 0;
    for name in names {
        let cost = json_len(name) + 1;
        if cost > budget {
            break;
        }
        budget -= cost;
        listed_names += 1;
    }
    message.dns_names = &names[..listed_names];
    message.matched_truncated = stored_matched_cut || matched_cut;
    message.names_truncated = listed(listed_names) < message.names_total;
    message.truncated = message.matched_truncated || message.names_truncated;
    match serde_json::to_string(&message) {
        Ok(body) if body.len() <= max => body,
        // Cannot happen with the stored alert's bounds; the primary entry alone always fits.
        _ => {
            message.matched = Cow::Owned(
                matched
                    .first()
                    .map(|m| EntryMatch {
                        entry: m.entry.clone(),
                        names: Vec::new(),
                    })
                    .into_iter()
                    .collect(),
            );
            message.dns_names = &[];
            message.matched_truncated = true;
            message.names_truncated = true;
            message.truncated = true;
            serde_json::to_string(&message).unwrap_or_default()
        }
    }
}

/// `a, b, c (+N more, T in total)`: at most `max` of `names`, the rest counted.
pub fn names_line(names: &[String], total: usize, max: usize) -> String {
    let shown = &names[..names.len().min(max)];
    let mut line = if shown.is_empty() {
        "(none listed)".to_owned()
    } else {
        shown.join(", ")
    };
    let total = total.max(names.len());
    if total > shown.len() {
        line.push_str(&format!(
            " (+{} more, {total} in total)",
            total - shown.len()
        ));
    }
    line
}
