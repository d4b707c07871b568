//! The alerts a run created or resolved, remembered for delivery in that same run.
//!
//! Why: the outbox is a DynamoDB GSI, and GSI reads are eventually consistent. An alert written
//! a moment ago may not be in the index yet (or be there in an older version), so a run that
//! read its own alerts back only from the outbox could miss them and leave them for the next
//! run, a whole schedule interval later. The run therefore remembers which alerts it created
//! or resolved and reads exactly those with consistent reads of the table, merged with what
//! the outbox shows; the outbox remains the path for everything else (failed sends retried,
//! alerts left by a run that died). Claims are the same conditional leases either way, so
//! nothing is sent twice.
//!
//! Only TBS hashes are kept (32 bytes an alert, whatever an alert's size), so a run's memory
//! stays bounded by its batches, not by how many alerts it created.

use std::collections::{HashMap, HashSet, VecDeque};

use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, DeliveryState, Severity};

#[derive(Debug, Default)]
pub(crate) struct FreshAlerts {
    /// Not yet handed to a delivery batch, oldest first.
    waiting: VecDeque<Sha256Hash>,
    waiting_set: HashSet<Sha256Hash>,
    /// Baseline alerts by matched entry, for the entries' summaries.
    baseline: HashMap<WatchDomain, Vec<Sha256Hash>>,
}

impl FreshAlerts {
    /// Remembers an alert this run created if it has something to deliver now. Pending alerts
    /// wait for their grace period, not for delivery. (Called while polling, before delivery.)
    pub(crate) fn remember(&mut self, alert: &Alert) {
        let queued = [&alert.sns, &alert.email]
            .iter()
            .any(|d| d.state == DeliveryState::Queued);
        if !queued || alert.severity == Severity::Pending || !self.add(alert.tbs_sha256) {
            return;
        }
        if alert.baseline {
            for m in &alert.matched {
                self.baseline
                    .entry(m.entry.clone())
                    .or_default()
                    .push(alert.tbs_sha256);
            }
        }
    }

    /// Remembers an alert this run resolved from `pending` (its channels are queued now unless
    /// skipped; delivery reads its new state).
    pub(crate) fn remember_resolved(&mut self, tbs: Sha256Hash) {
        self.add(tbs);
    }

    /// Takes over what `other` remembered (an entry polled alongside others), after what this
    /// one remembered.
    pub(crate) fn absorb(&mut self, other: FreshAlerts) {
        let mut added = HashSet::with_capacity(other.waiting.len());
        for tbs in other.waiting {
            if self.add(tbs) {
                added.insert(tbs);
            }
        }
        for (entry, hashes) in other.baseline {
            let hashes: Vec<Sha256Hash> =
                hashes.into_iter().filter(|h| added.contains(h)).collect();
            if !hashes.is_empty() {
                self.baseline.entry(entry).or_default().extend(hashes);
            }
        }
    }

    /// `false` if already remembered.
    fn add(&mut self, tbs: Sha256Hash) -> bool {
        let new = self.waiting_set.insert(tbs);
        if new {
            self.waiting.push_back(tbs);
        }
        new
    }

    /// Whether some remembered alert was not handed to a batch yet.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The remembered alerts to read (consistently) into the next delivery batch: those the
    /// outbox listed (its copy may be stale), then the oldest others, up to `limit` in all
    /// (more only if the outbox listed more). Each is handed out once per run.
    pub(crate) fn take_for_batch(&mut self, from_index: &[Alert], limit: usize) -> Vec<Sha256Hash> {
        let mut take: Vec<Sha256Hash> = from_index
            .iter()
            .map(|a| a.tbs_sha256)
            .filter(|tbs| self.waiting_set.remove(tbs))
            .collect();
        while take.len() < limit {
            let Some(tbs) = self.waiting.pop_front() else {
                break;
            };
            if self.waiting_set.remove(&tbs) {
                take.push(tbs);
            }
        }
        // Drop the queue entries of hashes handed out above through the outbox listing.
        let waiting_set = &self.waiting_set;
        self.waiting.retain(|tbs| waiting_set.contains(tbs));
        take
    }

    /// This run's baseline alerts that matched `entry`.
    pub(crate) fn baseline_of(&self, entry: &WatchDomain) -> &[Sha256Hash] {
        self.baseline.get(entry).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use ctguard::model::Delivery;

    use super::*;
    use crate::testutil::{alert, domain, entry_match};

    fn hashes(ns: &[u64]) -> Vec<Sha256Hash> {
        ns.iter()
            .map(|&n| alert(n, Severity::Suspicious, &["x.example.com"]).tbs_sha256)
            .collect()
    }

    #[test]
    fn only_alerts_with_something_to_deliver_now_are_remembered() {
        let mut fresh = FreshAlerts::default();
        let mut nothing_queued = alert(1, Severity::Info, &["a.example.com"]);
        nothing_queued.sns = Delivery::skipped();
        nothing_queued.email = Delivery::skipped();
        fresh.remember(&nothing_queued);
        fresh.remember(&crate::testutil::pending_alert(2, crate::testutil::t0()));
        assert!(!fresh.has_waiting());
        fresh.remember(&alert(3, Severity::Suspicious, &["a.example.com"]));
        assert!(fresh.has_waiting());
    }

    #[test]
    fn batches_take_what_the_index_listed_then_the_oldest_others_each_once() {
        let mut fresh = FreshAlerts::default();
        for n in 1..=5 {
            let a = alert(n, Severity::Suspicious, &["x.example.com"]);
            fresh.remember(&a);
            fresh.remember(&a); // remembered once
        }
        let listed = [alert(4, Severity::Suspicious, &["x.example.com"])];
        assert_eq!(fresh.take_for_batch(&listed, 2), hashes(&[4, 1]));
        assert_eq!(fresh.take_for_batch(&listed, 2), hashes(&[2, 3]));
        assert_eq!(fresh.take_for_batch(&[], 2), hashes(&[5]));
        assert!(!fresh.has_waiting());
        assert!(fresh.take_for_batch(&listed, 2).is_empty());
    }

    #[test]
    fn baseline_alerts_are_found_under_every_matched_entry() {
        let mut fresh = FreshAlerts::default();
        let mut shared = alert(1, Severity::Suspicious, &["www.a.example"]);
        shared.baseline = true;
        shared.matched = vec![
            entry_match("a.example", &["www.a.example"]),
            entry_match("b.example", &["www.b.example"]),
        ];
        fresh.remember(&shared);
        fresh.remember(&alert(2, Severity::Suspicious, &["www.a.example"]));
        for entry in ["a.example", "b.example"] {
            assert_eq!(fresh.baseline_of(&domain(entry)), [shared.tbs_sha256]);
        }
        assert!(fresh.baseline_of(&domain("c.example")).is_empty());
    }
}
