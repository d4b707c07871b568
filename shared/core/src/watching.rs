//! The rules that say whether ctguard is still watching, in one place (the poller acts on them,
//! `GET /status` shows them):
//!
//! - **Coverage**: an entry's lag is the time since it last caught up with Cert Spotter (its
//!   `last_success_at`), or since it was created if it never did. Canary entries are left out:
//!   they are polled every few hours on purpose and have their own check.
//! - **Canary**: a canary is *blind* when no new issuance arrived for longer than the window
//!   (counted from its creation before the first one). A blind canary is reported once, and
//!   again every window while it stays blind. Its issuances are expected, never alerts: the
//!   index certificates are matched against leaves canaries out ([`match_index`]).
//! - **Pushed but never logged**: a pushed certificate with embedded SCTs must appear in CT.

use chrono::{DateTime, Duration, Utc};

use crate::domain::WatchDomain;
use crate::matcher::WatchIndex;
use crate::model::WatchEntry;

/// When the entry last caught up with the API (`None`: never).
pub fn last_caught_up_at(entry: &WatchEntry) -> Option<DateTime<Utc>> {
    entry.last_success_at
}

/// How far behind the entry may be: now minus its last catch-up (or creation), never negative.
pub fn entry_lag(entry: &WatchEntry, now: DateTime<Utc>) -> Duration {
    let since = last_caught_up_at(entry).unwrap_or(entry.created_at);
    (now - since).max(Duration::zero())
}

/// The entry that caught up longest ago, among non-canary entries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    pub oldest_entry: WatchDomain,
    /// `None`: that entry never caught up (its lag counts from its creation).
    pub oldest_caught_up_at: Option<DateTime<Utc>>,
    pub max_lag_seconds: i64,
}

/// The index certificates are matched against: every entry but the canaries.
pub fn match_index(entries: &[WatchEntry]) -> WatchIndex {
    WatchIndex::new(
        entries
            .iter()
            .filter(|e| !e.canary)
            .map(|e| e.domain.clone()),
    )
}

/// `None` when no non-canary entry exists.
pub fn coverage<'a>(
    entries: impl IntoIterator<Item = &'a WatchEntry>,
    now: DateTime<Utc>,
) -> Option<Coverage> {
    entries
        .into_iter()
        .filter(|e| !e.canary)
        .map(|e| (entry_lag(e, now), e))
        .max_by(|(a, x), (b, y)| a.cmp(b).then_with(|| y.domain.cmp(&x.domain)))
        .map(|(lag, e)| Coverage {
            oldest_entry: e.domain.clone(),
            oldest_caught_up_at: last_caught_up_at(e),
            max_lag_seconds: lag.num_seconds(),
        })
}

/// Whether a canary entry should be polled now (at most once per `interval`, to save quota).
pub fn canary_due(entry: &WatchEntry, now: DateTime<Utc>, interval: Duration) -> bool {
    entry.last_polled_at.is_none_or(|at| now - at >= interval)
}

/// The start of the canary's current silence.
pub fn canary_silent_since(entry: &WatchEntry) -> DateTime<Utc> {
    entry.canary_last_issuance_at.unwrap_or(entry.created_at)
}

/// No canary issuance arrived within `window`.
pub fn canary_blind(entry: &WatchEntry, now: DateTime<Utc>, window: Duration) -> bool {
    entry.canary && now - canary_silent_since(entry) > window
}

/// Blind, and not yet reported for this silence (or last reported a whole window ago).
pub fn blind_alert_due(entry: &WatchEntry, now: DateTime<Utc>, window: Duration) -> bool {
    canary_blind(entry, now, window)
        && entry
            .blind_alerted_at
            .is_none_or(|at| at < canary_silent_since(entry) || now - at >= window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BackfillMode;

    fn entry(domain: &str, created: DateTime<Utc>) -> WatchEntry {
        WatchEntry::new(
            WatchDomain::parse(domain).unwrap(),
            None,
            BackfillMode::Summary,
            created,
        )
    }

    #[test]
    fn coverage_names_the_entry_that_caught_up_longest_ago_ignoring_canaries() {
        let now = Utc::now();
        let mut a = entry("a.example", now - Duration::days(9));
        a.last_success_at = Some(now - Duration::hours(2));
        let b = entry("b.example", now - Duration::hours(3)); // never caught up
        let mut canary = entry("test.certspotter.org", now - Duration::days(9));
        canary.canary = true;
        let c = coverage([&a, &b, &canary], now).unwrap();
        assert_eq!(c.oldest_entry.as_str(), "b.example");
        assert_eq!(c.oldest_caught_up_at, None);
        assert_eq!(c.max_lag_seconds, 3 * 3600);
        assert_eq!(coverage([&canary], now), None);
    }

    #[test]
    fn blind_canary_is_reported_once_per_window_of_silence() {
        let now = Utc::now();
        let window = Duration::hours(36);
        let mut canary = entry("test.certspotter.org", now - Duration::days(5));
        canary.canary = true;
        canary.canary_last_issuance_at = Some(now - Duration::hours(35));
        assert!(!canary_blind(&canary, now, window));
        canary.canary_last_issuance_at = Some(now - Duration::hours(37));
        assert!(blind_alert_due(&canary, now, window));
        canary.blind_alerted_at = Some(now - Duration::hours(1));
        assert!(!blind_alert_due(&canary, now, window));
        canary.blind_alerted_at = Some(now - Duration::hours(36));
        assert!(blind_alert_due(&canary, now, window));
        let mut plain = canary.clone();
        plain.canary = false;
        assert!(!canary_blind(&plain, now, window));
    }

    #[test]
    fn canary_is_polled_at_most_once_per_interval() {
        let now = Utc::now();
        let mut canary = entry("test.certspotter.org", now);
        assert!(canary_due(&canary, now, Duration::hours(6)));
        canary.last_polled_at = Some(now - Duration::hours(5));
        assert!(!canary_due(&canary, now, Duration::hours(6)));
        canary.last_polled_at = Some(now - Duration::hours(6));
        assert!(canary_due(&canary, now, Duration::hours(6)));
    }
}
