//! The delivery policy: on which channels an alert goes out. Decided here, once, from what is
//! configured and the alert itself; the poller uses the same value when it creates an alert
//! (its initial delivery states) and when it delivers one (a pending alert that resolved to
//! `info` is queued again by the store, and delivery skips what the policy does not want).
//!
//! - SNS carries every alert when a topic is configured (machines filter by attributes).
//! - Email carries what a person should read: every non-`info` alert, every baseline alert
//!   (their summary is the point of a baseline), and `info` alerts only when asked to
//!   (`EMAIL_INCLUDE_INFO`). A `pending` alert is wanted: it may well resolve as suspicious.

use crate::model::{Channel, Delivery, Severity};

/// Which channels exist and what email includes. One value per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryPolicy {
    /// An SNS topic is configured.
    pub sns: bool,
    /// Email (SES) is configured.
    pub email: bool,
    /// `info` alerts are emailed too (by default they are not).
    pub email_info: bool,
}

/// Why a channel does not carry an alert (recorded on the skipped delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    NotConfigured(Channel),
    InfoNotEmailed,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Skip::NotConfigured(Channel::Sns) => "SNS is not configured",
            Skip::NotConfigured(Channel::Email) => "email is not configured",
            Skip::InfoNotEmailed => "info alerts are not emailed",
        }
    }
}

impl DeliveryPolicy {
    /// Whether `channel` carries an alert of `severity` (`baseline`: raised by an entry's
    /// first poll), or why not.
    pub fn decide(&self, channel: Channel, severity: Severity, baseline: bool) -> Result<(), Skip> {
        match channel {
            Channel::Sns if !self.sns => Err(Skip::NotConfigured(Channel::Sns)),
            Channel::Sns => Ok(()),
            Channel::Email if !self.email => Err(Skip::NotConfigured(Channel::Email)),
            Channel::Email if severity == Severity::Info && !baseline && !self.email_info => {
                Err(Skip::InfoNotEmailed)
            }
            Channel::Email => Ok(()),
        }
    }

    pub fn wants(&self, channel: Channel, severity: Severity, baseline: bool) -> bool {
        self.decide(channel, severity, baseline).is_ok()
    }

    /// The delivery states a new alert starts with: `(sns, email)`, each queued if wanted.
    pub fn initial(&self, severity: Severity, baseline: bool) -> (Delivery, Delivery) {
        let state = |channel| {
            if self.wants(channel, severity, baseline) {
                Delivery::queued()
            } else {
                Delivery::skipped()
            }
        };
        (state(Channel::Sns), state(Channel::Email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeliveryState;

    const ALL: DeliveryPolicy = DeliveryPolicy {
        sns: true,
        email: true,
        email_info: false,
    };

    #[test]
    fn sns_carries_every_alert_when_configured() {
        for severity in [Severity::Info, Severity::Pending, Severity::Critical] {
            assert!(ALL.wants(Channel::Sns, severity, false));
            let off = DeliveryPolicy { sns: false, ..ALL };
            assert_eq!(
                off.decide(Channel::Sns, severity, false),
                Err(Skip::NotConfigured(Channel::Sns))
            );
        }
    }

    #[test]
    fn email_leaves_out_info_unless_asked_or_baseline() {
        assert_eq!(
            ALL.decide(Channel::Email, Severity::Info, false),
            Err(Skip::InfoNotEmailed)
        );
        assert!(ALL.wants(Channel::Email, Severity::Info, true));
        assert!(ALL.wants(Channel::Email, Severity::Pending, false));
        assert!(ALL.wants(Channel::Email, Severity::Suspicious, false));
        let with_info = DeliveryPolicy {
            email_info: true,
            ..ALL
        };
        assert!(with_info.wants(Channel::Email, Severity::Info, false));
        let off = DeliveryPolicy {
            email: false,
            ..ALL
        };
        assert_eq!(
            off.decide(Channel::Email, Severity::Critical, true),
            Err(Skip::NotConfigured(Channel::Email))
        );
    }

    #[test]
    fn a_new_alert_is_queued_exactly_where_wanted() {
        let (sns, email) = ALL.initial(Severity::Info, false);
        assert_eq!(sns.state, DeliveryState::Queued);
        assert_eq!(email.state, DeliveryState::Skipped);
        let (sns, email) = DeliveryPolicy { sns: false, ..ALL }.initial(Severity::Critical, false);
        assert_eq!(sns.state, DeliveryState::Skipped);
        assert_eq!(email.state, DeliveryState::Queued);
    }
}
