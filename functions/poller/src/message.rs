//! What subscribers receive: the versioned SNS JSON schemas (one message per alert; one summary
//! per baseline), their subjects and attributes, and the human email (text and HTML).
//!
//! Every string that comes from a certificate or the CA (names, issuer, contact) is
//! attacker-controlled: the JSON encoder escapes it, the HTML renderer escapes it, subjects are
//! reduced to printable ASCII.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use ctguard::caa::CaaEvidence;
use ctguard::hash::Sha256Hash;
use ctguard::matcher::EntryMatch;
use ctguard::model::{Alert, AuthorizedBy, IssuerInfo, Reason, ReasonCode, Severity};
use serde::Serialize;

use crate::message_bounds::{
    DOMAINS_ATTRIBUTE_MAX, EMAIL_LINE_MAX, EMAIL_MATCHED_NAMES_MAX, EMAIL_MAX_BYTES,
    EMAIL_NAMES_MAX, MESSAGE_NAMES_MAX, SNS_BODY_MAX, SUMMARY_NAMES_MAX, fit_alert_message,
    json_len, json_list_prefix, listed, names_line,
};
use crate::notify::{Email, MessageAttribute, SnsMessage};

/// `schema` of the per-alert SNS message. Bump the version on any incompatible change
/// (v2: `reasons`, and the `critical` severity).
pub const ALERT_SCHEMA: &str = "ctguard.alert.v2";
/// `schema` of the baseline summary SNS message.
pub const BASELINE_SCHEMA: &str = "ctguard.baseline_summary.v1";
/// SNS subjects are limited to 100 printable ASCII characters.
const SUBJECT_MAX: usize = 100;
/// A baseline summary lists at most this many unauthorized certificates (SNS caps a message at
/// 256 KiB); the counts always cover all of them.
pub const SUMMARY_LIST_MAX: usize = 500;

/// The per-alert SNS message body (schema `ctguard.alert.v2`).
#[derive(Debug, Clone, Serialize)]
pub struct AlertMessage<'a> {
    pub schema: &'static str,
    /// `info`, `suspicious`, `critical` (or `pending`, never published).
    pub severity: Severity,
    /// Why it matters: `{code, detail}`, at most one per code (empty on `info`). The codes are
    /// also the `reasons` attribute.
    pub reasons: &'a [Reason],
    /// `tbs_sha256` or `pubkey_sha256` when `info`.
    pub authorized_by: Option<AuthorizedBy>,
    /// The primary matched watch entry (the first of `matched`); also the `domain` attribute.
    pub domain: &'a str,
    /// Every watch entry the certificate matched, with the certificate names that matched it
    /// (in full, up to the stored alert's hard bound: see `matched_truncated`).
    pub matched: Cow<'a, [EntryMatch]>,
    /// The certificate's DNS names, at most [`MESSAGE_NAMES_MAX`] (see `names_truncated`).
    pub dns_names: &'a [String],
    /// Names in the certificate.
    pub names_total: u32,
    /// `dns_names` is not every name of the certificate.
    pub names_truncated: bool,
    /// Names that matched a watch entry.
    pub matched_names_total: u32,
    /// `matched` is not every matched name (a hard size bound was reached).
    pub matched_truncated: bool,
    /// Anything in this message is cut (`names_truncated` or `matched_truncated`).
    pub truncated: bool,
    /// Set on a reduced alert (the full one could not be stored): why.
    pub reduced: Option<&'a str>,
    pub issuer: &'a IssuerInfo,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Validity length in whole days (`not_after - not_before`).
    pub lifetime_days: i64,
    pub tbs_sha256: Sha256Hash,
    pub cert_sha256: Sha256Hash,
    pub pubkey_sha256: Sha256Hash,
    /// Cert Spotter issuance id.
    pub issuance_id: &'a str,
    pub revoked: bool,
    /// The CA's problem-reporting contact (where to ask for revocation), when known.
    pub problem_reporting: Option<&'a str>,
    /// The certificate on crt.sh, by its SHA-256.
    pub crtsh_url: String,
    pub first_seen_at: DateTime<Utc>,
    pub classified_at: DateTime<Utc>,
    /// Found by the first poll of a watch entry.
    pub baseline: bool,
    /// CAA as DNS answered at detection time, per matched name (outcome `permitted`,
    /// `violation`, `no_caa`, `lookup_failed`), with the records seen, the resolver and the
    /// time; `null` when not checked (authorized, a first poll, or `CAA_RESOLVER=off`).
    pub caa: Option<&'a CaaEvidence>,
}

impl<'a> AlertMessage<'a> {
    /// The message for an alert, `dns_names` capped at [`MESSAGE_NAMES_MAX`]; see
    /// [`alert_sns`] for the size bound.
    pub fn new(alert: &'a Alert) -> Self {
        let names_total = alert.names_total.unwrap_or(listed(alert.dns_names.len()));
        let dns_names = &alert.dns_names[..alert.dns_names.len().min(MESSAGE_NAMES_MAX)];
        let names_truncated = alert.names_truncated || listed(dns_names.len()) < names_total;
        let matched_listed: usize = alert.matched.iter().map(|m| m.names.len()).sum();
        Self {
            schema: ALERT_SCHEMA,
            severity: alert.severity,
            reasons: &alert.reasons,
            authorized_by: alert.authorized_by,
            domain: primary_domain(alert),
            matched: Cow::Borrowed(&alert.matched),
            dns_names,
            names_total,
            names_truncated,
            matched_names_total: alert.matched_names_total.unwrap_or(listed(matched_listed)),
            matched_truncated: alert.matched_truncated,
            truncated: names_truncated || alert.matched_truncated,
            reduced: alert.reduced.as_deref(),
            issuer: &alert.issuer,
            not_before: alert.not_before,
            not_after: alert.not_after,
            lifetime_days: lifetime_days(alert),
            tbs_sha256: alert.tbs_sha256,
            cert_sha256: alert.cert_sha256,
            pubkey_sha256: alert.pubkey_sha256,
            issuance_id: &alert.issuance_id,
            revoked: alert.revoked,
            problem_reporting: alert.problem_reporting.as_deref(),
            crtsh_url: crtsh_url(&alert.cert_sha256),
            first_seen_at: alert.first_seen_at,
            classified_at: alert.classified_at,
            baseline: alert.baseline,
            caa: alert.caa.as_ref(),
        }
    }
}

/// The SNS message for one alert: JSON body, subject, and the attributes `severity`, `domain`
/// (the primary matched entry), `domains` (every matched entry, `String.Array`) and, when the
/// alert has any, `reasons` (its reason codes, `String.Array`).
///
/// Bounded by construction under SNS's 256 KiB: the body within [`SNS_BODY_MAX`] (names cut
/// as [`fit_alert_message`] says), `domains` within [`DOMAINS_ATTRIBUTE_MAX`], the subject
/// at 100 characters.
pub fn alert_sns(alert: &Alert) -> SnsMessage {
    let body = fit_alert_message(AlertMessage::new(alert), SNS_BODY_MAX);
    let names = first_names(&alert.dns_names, 2);
    let subject = match alert.severity {
        _ if is_expiring(alert) => format!("ctguard: EXPIRING certificate for {names}, no renewal"),
        Severity::Info => format!("ctguard: authorized certificate for {names}"),
        Severity::Pending => format!("ctguard: pending certificate for {names}"),
        Severity::Suspicious => format!("ctguard: SUSPICIOUS certificate for {names}"),
        Severity::Critical => format!("ctguard: CRITICAL certificate for {names}"),
    };
    SnsMessage {
        subject: sns_subject(&subject),
        body,
        attributes: attributes(
            alert.severity.as_str(),
            primary_domain(alert),
            alert.matched.iter().map(|m| m.entry.as_str()),
            alert.reasons.iter().map(|r| r.code),
        ),
    }
}

/// An `expiring` alert: about a certificate you deployed, not a new issuance.
fn is_expiring(alert: &Alert) -> bool {
    alert.reasons.iter().any(|r| r.code == ReasonCode::Expiring)
}

fn attributes<'a>(
    severity: &str,
    domain: &str,
    domains: impl Iterator<Item = &'a str>,
    reasons: impl Iterator<Item = ReasonCode>,
) -> Vec<MessageAttribute> {
    let domains: Vec<&str> = domains.collect();
    // A subscriber filters on these; beyond the bound the body's `matched` still lists them.
    let domains = json_list_prefix(&domains, DOMAINS_ATTRIBUTE_MAX);
    // At most the 7 codes (~130 bytes), within the room kept for attributes.
    let mut codes: Vec<&str> = reasons.map(|c| c.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let reasons = (!codes.is_empty()).then(|| MessageAttribute {
        name: "reasons",
        data_type: "String.Array",
        value: serde_json::to_string(&codes).unwrap_or_else(|_| "[]".to_owned()),
    });
    let mut attributes = vec![
        MessageAttribute {
            name: "severity",
            data_type: "String",
            value: severity.to_owned(),
        },
        MessageAttribute {
            name: "domain",
            data_type: "String",
            value: domain.to_owned(),
        },
        MessageAttribute {
            name: "domains",
            data_type: "String.Array",
            value: domains,
        },
    ];
    attributes.extend(reasons);
    attributes
}

/// The rule for the `domain` attribute when a certificate matched several entries: the first
/// matched entry in sort order (the matcher sorts them), so it is stable across runs.
pub fn primary_domain(alert: &Alert) -> &str {
    alert.matched.first().map_or("", |m| m.entry.as_str())
}

pub fn crtsh_url(cert_sha256: &Sha256Hash) -> String {
    format!(
        "https://crt.sh/?sha256={}",
        cert_sha256.to_hex().to_uppercase()
    )
}

fn lifetime_days(alert: &Alert) -> i64 {
    (alert.not_after - alert.not_before).num_days()
}

fn first_names(names: &[String], n: usize) -> String {
    match names.len() {
        0 => "(no names)".to_owned(),
        len if len <= n => names.join(", "),
        len => format!("{} (+{} more)", names[..n].join(", "), len - n),
    }
}

/// Printable ASCII, one line, at most 100 characters (the SNS limits).
pub fn sns_subject(raw: &str) -> String {
    let mut clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() > SUBJECT_MAX {
        clean.truncate(SUBJECT_MAX - 3);
        clean.push_str("...");
    }
    clean
}

// ---------------------------------------------------------------------------------------------
// Baseline summary

/// What the first poll of a watch entry found (schema `ctguard.baseline_summary.v1`).
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary<'a> {
    pub schema: &'static str,
    /// The watch entry whose baseline this is.
    pub domain: &'a str,
    /// Certificates covered by this summary.
    pub total: usize,
    pub authorized: usize,
    pub unauthorized: usize,
    /// The unauthorized certificates, at most [`SUMMARY_LIST_MAX`].
    pub unauthorized_certificates: Vec<CertBrief<'a>>,
    /// `true` when `unauthorized_certificates` was cut at [`SUMMARY_LIST_MAX`].
    pub truncated: bool,
    pub generated_at: DateTime<Utc>,
    /// Every reason code of the certificates covered (the `reasons` attribute only).
    #[serde(skip)]
    pub reason_codes: Vec<ReasonCode>,
    /// Some certificate is `critical`.
    #[serde(skip)]
    pub critical: bool,
}

/// One certificate in a summary.
#[derive(Debug, Clone, Serialize)]
pub struct CertBrief<'a> {
    /// At most [`SUMMARY_NAMES_MAX`] names.
    pub dns_names: &'a [String],
    /// Names in the certificate.
    pub names_total: u32,
    pub issuer: Option<&'a str>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub tbs_sha256: Sha256Hash,
    pub cert_sha256: Sha256Hash,
    pub issuance_id: &'a str,
    pub revoked: bool,
    pub crtsh_url: String,
}

fn issuer_label(issuer: &IssuerInfo) -> Option<&str> {
    issuer.friendly_name.as_deref().or(issuer.name.as_deref())
}

impl<'a> CertBrief<'a> {
    fn new(alert: &'a Alert) -> Self {
        Self {
            dns_names: &alert.dns_names[..alert.dns_names.len().min(SUMMARY_NAMES_MAX)],
            names_total: alert.names_total.unwrap_or(listed(alert.dns_names.len())),
            issuer: issuer_label(&alert.issuer),
            not_before: alert.not_before,
            not_after: alert.not_after,
            tbs_sha256: alert.tbs_sha256,
            cert_sha256: alert.cert_sha256,
            issuance_id: &alert.issuance_id,
            revoked: alert.revoked,
            crtsh_url: crtsh_url(&alert.cert_sha256),
        }
    }
}

impl<'a> BaselineSummary<'a> {
    pub fn new(domain: &'a str, alerts: &'a [Alert], now: DateTime<Utc>) -> Self {
        let unauthorized: Vec<&Alert> = alerts
            .iter()
            .filter(|a| a.severity != Severity::Info)
            .collect();
        let mut summary = Self {
            schema: BASELINE_SCHEMA,
            domain,
            total: alerts.len(),
            authorized: alerts.len() - unauthorized.len(),
            unauthorized: unauthorized.len(),
            truncated: unauthorized.len() > SUMMARY_LIST_MAX,
            unauthorized_certificates: unauthorized
                .into_iter()
                .take(SUMMARY_LIST_MAX)
                .map(CertBrief::new)
                .collect(),
            generated_at: now,
            reason_codes: {
                let mut codes: Vec<ReasonCode> = alerts
                    .iter()
                    .flat_map(|a| a.reasons.iter().map(|r| r.code))
                    .collect();
                codes.sort_unstable();
                codes.dedup();
                codes
            },
            critical: alerts.iter().any(|a| a.severity == Severity::Critical),
        };
        summary.fit(SNS_BODY_MAX);
        summary
    }

    /// Lists fewer certificates until the JSON is within `max` bytes (`truncated: true`).
    fn fit(&mut self, max: usize) {
        let mut total = json_len(self);
        if total <= max {
            return;
        }
        self.truncated = true; // `true` is shorter than `false`: the total only shrinks
        while total > max {
            let Some(last) = self.unauthorized_certificates.pop() else {
                break;
            };
            total = total.saturating_sub(json_len(&last) + 1);
        }
    }

    fn severity(&self) -> Severity {
        if self.critical {
            Severity::Critical
        } else if self.unauthorized > 0 {
            Severity::Suspicious
        } else {
            Severity::Info
        }
    }

    fn subject(&self) -> String {
        format!(
            "ctguard: baseline for {}: {} certificates, {} unauthorized",
            self.domain, self.total, self.unauthorized
        )
    }
}

pub fn baseline_sns(summary: &BaselineSummary<'_>) -> SnsMessage {
    SnsMessage {
        subject: sns_subject(&summary.subject()),
        body: serde_json::to_string(summary)
            .unwrap_or_else(|e| format!("{{\"schema\":\"{BASELINE_SCHEMA}\",\"error\":\"{e}\"}}")),
        attributes: attributes(
            summary.severity().as_str(),
            summary.domain,
            std::iter::once(summary.domain),
            summary.reason_codes.iter().copied(),
        ),
    }
}

pub fn baseline_email(summary: &BaselineSummary<'_>) -> Email {
    let mut text = format!(
        "ctguard finished the first look at {domain}: Certificate Transparency logs hold {total} \
         unexpired certificate(s) for it.\n\n  authorized (in your inventory): {auth}\n  \
         unauthorized:                   {unauth}\n\n",
        domain = summary.domain,
        total = summary.total,
        auth = summary.authorized,
        unauth = summary.unauthorized,
    );
    let mut html = format!(
        "<html><body style=\"font-family:sans-serif\"><h2>Baseline for {domain}</h2>\
         <p>Certificate Transparency logs hold <b>{total}</b> unexpired certificate(s) for \
         {domain}: <b>{auth}</b> authorized (in your inventory), <b>{unauth}</b> not.</p>",
        domain = escape(summary.domain),
        total = summary.total,
        auth = summary.authorized,
        unauth = summary.unauthorized,
    );
    if summary.unauthorized > 0 {
        text.push_str("Not in your inventory:\n\n");
        html.push_str(
            "<h3>Not in your inventory</h3><table border=\"1\" cellpadding=\"4\" \
             style=\"border-collapse:collapse\"><tr><th>Names</th><th>Issuer</th>\
             <th>Valid</th><th>Certificate</th></tr>",
        );
        for cert in &summary.unauthorized_certificates {
            text.push_str(&format!(
                "- {names}\n  issuer {issuer}, valid {nb} to {na}{revoked}\n  {url}\n",
                names = names_line(cert.dns_names, cert.names_total as usize, SUMMARY_NAMES_MAX),
                issuer = cert.issuer.unwrap_or("unknown"),
                nb = day(cert.not_before),
                na = day(cert.not_after),
                revoked = if cert.revoked { ", REVOKED" } else { "" },
                url = cert.crtsh_url,
            ));
            html.push_str(&format!(
                "<tr><td>{names}</td><td>{issuer}</td><td>{nb} to {na}{revoked}</td>\
                 <td><a href=\"{url}\">crt.sh</a></td></tr>",
                names = escape(&names_line(
                    cert.dns_names,
                    cert.names_total as usize,
                    SUMMARY_NAMES_MAX
                )),
                issuer = escape(cert.issuer.unwrap_or("unknown")),
                nb = day(cert.not_before),
                na = day(cert.not_after),
                revoked = if cert.revoked { " (revoked)" } else { "" },
                url = escape(&cert.crtsh_url),
            ));
        }
        html.push_str("</table>");
        if summary.truncated {
            let more = summary.unauthorized - summary.unauthorized_certificates.len();
            text.push_str(&format!(
                "... and {more} more (list them with the ctguard API)\n"
            ));
            html.push_str(&format!(
                "<p>... and {more} more (list them with the ctguard API).</p>"
            ));
        }
        text.push_str(&format!("\n{BASELINE_ADVICE}\n"));
        html.push_str(&format!("<p>{}</p>", escape(BASELINE_ADVICE)));
    }
    finish_email(&summary.subject(), text, html)
}

const BASELINE_ADVICE: &str = "These existed before ctguard watched this domain. Push the ones \
    your load balancers serve (certbot deploy hook or the ctguard API) so they count as \
    authorized; look into any you do not recognise. From now on each new certificate is \
    reported as it appears.";

const FOOTER: &str = "\n-- \nctguard: Certificate Transparency monitoring. Alerts are also \
    published to SNS and listed by the ctguard API.\n";

// ---------------------------------------------------------------------------------------------
// The run email

/// The email of one run: every new suspicious certificate (and, if configured, authorized ones).
pub fn run_email(alerts: &[Alert]) -> Email {
    // Critical first, then suspicious (stable: in the order given otherwise).
    let mut suspicious: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.severity != Severity::Info)
        .collect();
    suspicious.sort_by_key(|a| std::cmp::Reverse(a.severity));
    let critical = suspicious
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .count();
    let info: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.severity == Severity::Info)
        .collect();
    let mut domains: Vec<&str> = alerts.iter().map(primary_domain).collect();
    domains.sort_unstable();
    domains.dedup();
    let subject = match (suspicious.len(), info.len()) {
        (0, n) => format!(
            "ctguard: {n} authorized certificate(s) for {}",
            domains.join(", ")
        ),
        (1, 0) if is_expiring(suspicious[0]) => format!(
            "ctguard: EXPIRING certificate for {}, no renewal",
            first_names(&suspicious[0].dns_names, 2)
        ),
        (1, 0) => format!(
            "ctguard: SUSPICIOUS certificate for {}",
            first_names(&suspicious[0].dns_names, 2)
        ),
        (s, 0) => format!(
            "ctguard: {s} SUSPICIOUS certificates for {}",
            domains.join(", ")
        ),
        (s, n) => format!(
            "ctguard: {s} SUSPICIOUS, {n} authorized certificate(s) for {}",
            domains.join(", ")
        ),
    };
    let subject = match critical {
        0 => subject,
        c => format!(
            "ctguard: {c} CRITICAL, {} SUSPICIOUS, {} authorized certificate(s) for {}",
            suspicious.len() - c,
            info.len(),
            domains.join(", ")
        ),
    };

    let mut text = String::new();
    let mut html = String::from("<html><body style=\"font-family:sans-serif\">");
    let mut budget = EmailBudget::new(alerts.len());
    if !suspicious.is_empty() {
        text.push_str(&format!(
            "{} certificate(s) were issued for your domains that need attention: each lists its \
             reasons (not_in_inventory: NOT in your inventory; expiring: a certificate you \
             deployed expires soon and no renewal was pushed: renew it and push the new one).\n\n\
             What to do: if a certificate is yours (a new load balancer, a renewal that was not \
             pushed), push it to ctguard (certbot deploy hook or the ctguard API). If it is \
             not, someone may control DNS or a web server for the name: check your DNS and \
             hosting, then ask the issuing CA to revoke it through its problem-reporting \
             contact.\n\n",
            suspicious.len()
        ));
        html.push_str(&format!(
            "<h2 style=\"color:#b00\">{} suspicious certificate(s)</h2><p>Issued for your \
             domains; each lists its reasons (not_in_inventory: <b>not</b> in your \
             inventory; expiring: a certificate you deployed expires soon and no renewal was \
             pushed: renew it and push the new one).</p><p><b>What to do:</b> if a \
             certificate is yours (a new load balancer, a renewal that was not pushed), push it \
             to ctguard (certbot deploy hook or the ctguard API). If it is not, someone may \
             control DNS or a web server for the name: check your DNS and hosting, then ask the \
             issuing CA to revoke it through its problem-reporting contact.</p>",
            suspicious.len()
        ));
        for alert in &suspicious {
            budget.render(alert, &mut text, &mut html);
        }
    }
    if !info.is_empty() {
        text.push_str(&format!(
            "{} authorized certificate(s) (in your inventory), for information:\n\n",
            info.len()
        ));
        html.push_str(&format!(
            "<h2>{} authorized certificate(s)</h2><p>In your inventory, for information.</p>",
            info.len()
        ));
        for alert in &info {
            budget.render(alert, &mut text, &mut html);
        }
    }
    finish_email(&subject, text, html)
}

/// Ends both bodies with the footer (and the HTML document) and makes the email.
fn finish_email(subject: &str, mut text: String, mut html: String) -> Email {
    text.push_str(FOOTER);
    html.push_str(&format!(
        "<p style=\"color:#666\">{}</p></body></html>",
        escape(FOOTER)
    ));
    Email {
        subject: one_line(subject),
        text,
        html,
    }
}

/// Keeps one email within [`EMAIL_MAX_BYTES`]: each certificate is listed in full while the
/// email has room (a one-line entry stays reserved for every certificate not listed yet),
/// then in one line (names, hashes and details on the crt.sh link and the API); past
/// [`EMAIL_LINES_MAX`] certificates only their count is given.
struct EmailBudget {
    /// Bytes left for full entries.
    left: usize,
    /// Certificates listed so far.
    listed: usize,
    /// Certificates the email covers.
    total: usize,
}

/// Certificates listed one per line at most in one email (the rest are counted).
const EMAIL_LINES_MAX: usize = EMAIL_MAX_BYTES / 2 / EMAIL_LINE_MAX;
/// Fixed text of an email (headings, advice, footer).
const EMAIL_FIXED_MAX: usize = 16 * 1024;

impl EmailBudget {
    fn new(total: usize) -> Self {
        let lines = total.min(EMAIL_LINES_MAX) * EMAIL_LINE_MAX;
        Self {
            left: EMAIL_MAX_BYTES.saturating_sub(lines + EMAIL_FIXED_MAX),
            listed: 0,
            total,
        }
    }

    fn render(&mut self, alert: &Alert, text: &mut String, html: &mut String) {
        self.listed += 1;
        if self.listed > EMAIL_LINES_MAX {
            if self.listed == EMAIL_LINES_MAX + 1 {
                let more = self.total - EMAIL_LINES_MAX;
                let line =
                    format!("... and {more} more certificate(s): list them with GET /alerts");
                text.push_str(&format!("{line}\n\n"));
                html.push_str(&format!("<p>{}</p>", escape(&line)));
            }
            return;
        }
        let (mut t, mut h) = (String::new(), String::new());
        render_alert(alert, &mut t, &mut h);
        if t.len() + h.len() <= self.left {
            self.left -= t.len() + h.len();
            text.push_str(&t);
            html.push_str(&h);
            return;
        }
        let codes: Vec<&str> = alert.reasons.iter().map(|r| r.code.as_str()).collect();
        let line = format!(
            "{} {} [{}]: {} (details left out to keep this email within its size limit; GET \
             /alerts/{})",
            alert.severity.as_str().to_uppercase(),
            primary_domain(alert),
            codes.join(", "),
            crtsh_url(&alert.cert_sha256),
            alert.tbs_sha256,
        );
        text.push_str(&format!("* {line}\n\n"));
        html.push_str(&format!("<p>{}</p>", escape(&line)));
    }
}

fn render_alert(alert: &Alert, text: &mut String, html: &mut String) {
    let verdict = match (alert.severity, alert.authorized_by) {
        (Severity::Info, Some(AuthorizedBy::TbsSha256)) => {
            "Authorized: this certificate is in your inventory."
        }
        (Severity::Info, Some(AuthorizedBy::PubkeySha256)) => {
            "Authorized: its public key is in your inventory."
        }
        (Severity::Info, None) => "Authorized.",
        (_, Some(AuthorizedBy::TbsSha256)) => "In your inventory, but see the reasons.",
        (_, Some(AuthorizedBy::PubkeySha256)) => {
            "Its public key is in your inventory, but see the reasons."
        }
        (_, None) => "Not in your inventory, neither the certificate nor its public key.",
    };
    let reasons: Vec<String> = alert
        .reasons
        .iter()
        .map(|r| format!("{}: {}", r.code.as_str(), one_line(&r.detail)))
        .collect();
    let mut matched_left = EMAIL_MATCHED_NAMES_MAX;
    let yours: Vec<String> = alert
        .matched
        .iter()
        .map(|m| {
            let line = names_line(&m.names, m.names.len(), matched_left);
            matched_left = matched_left.saturating_sub(m.names.len());
            format!("{} ({line})", m.entry)
        })
        .collect();
    let names_total = alert
        .names_total
        .map_or(alert.dns_names.len(), |n| n as usize);
    let issuer = match (&alert.issuer.friendly_name, &alert.issuer.name) {
        (Some(f), Some(n)) => format!("{f} ({n})"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => "unknown".to_owned(),
    };
    let validity = format!(
        "{} to {} ({} days)",
        minute(alert.not_before),
        minute(alert.not_after),
        lifetime_days(alert)
    );
    let url = crtsh_url(&alert.cert_sha256);
    let rows: Vec<(&str, String)> = [
        (
            "Names",
            names_line(&alert.dns_names, names_total, EMAIL_NAMES_MAX),
        ),
        ("Your entries", yours.join("; ")),
        ("Issued by", issuer),
        ("Valid", validity),
        ("First seen", minute(alert.first_seen_at)),
        ("Verdict", verdict.to_owned()),
        (
            "Reasons",
            if reasons.is_empty() {
                "none".to_owned()
            } else {
                reasons.join("; ")
            },
        ),
        (
            "Revoked",
            if alert.revoked { "yes" } else { "no" }.to_owned(),
        ),
        (
            "Report to CA",
            alert
                .problem_reporting
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
        ),
        ("TBS SHA-256", alert.tbs_sha256.to_hex()),
        ("Key SHA-256", alert.pubkey_sha256.to_hex()),
        ("Certificate", url.clone()),
    ]
    .into_iter()
    // A failed lookup shows here ("CAA NOT CHECKED for ..."): never a silent pass.
    .chain(
        alert
            .caa
            .as_ref()
            .map(|caa| ("CAA", ctguard::caa::summary(caa))),
    )
    .chain(alert.reduced.clone().map(|why| ("Reduced", why)))
    .chain((alert.names_truncated || alert.matched_truncated).then(|| {
        (
            "Note",
            "not every name is stored or listed: the certificate has more (crt.sh link)".to_owned(),
        )
    }))
    .collect();

    let headline = first_names(&alert.dns_names, 3);
    text.push_str(&format!(
        "* {} {}\n",
        alert.severity.as_str().to_uppercase(),
        headline
    ));
    for (label, value) in &rows {
        text.push_str(&format!("    {label:<13} {value}\n"));
    }
    text.push('\n');

    html.push_str(&format!(
        "<h3>{}</h3><table cellpadding=\"3\" style=\"border-collapse:collapse\">",
        escape(&headline)
    ));
    for (label, value) in &rows {
        let cell = if *label == "Certificate" {
            format!("<a href=\"{0}\">{0}</a>", escape(value))
        } else {
            escape(value)
        };
        html.push_str(&format!(
            "<tr><td style=\"color:#555\">{}</td><td>{}</td></tr>",
            escape(label),
            cell
        ));
    }
    html.push_str("</table>");
}

fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// HTML-escapes text (certificate names and CA strings are attacker-controlled).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{alert, entry_match};

    #[test]
    fn alert_message_has_the_documented_fields() {
        let mut a = alert(7, Severity::Suspicious, &["www.example.com"]);
        a.matched = vec![
            entry_match("example.com", &["www.example.com"]),
            entry_match("www.example.com", &["www.example.com"]),
        ];
        let msg = alert_sns(&a);
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["schema"], ALERT_SCHEMA);
        assert_eq!(body["severity"], "suspicious");
        assert_eq!(body["reasons"][0]["code"], "not_in_inventory");
        assert_eq!(body["domain"], "example.com");
        assert_eq!(body["matched"][1]["entry"], "www.example.com");
        assert_eq!(body["tbs_sha256"], a.tbs_sha256.to_hex());
        assert_eq!(body["pubkey_sha256"], a.pubkey_sha256.to_hex());
        assert_eq!(body["cert_sha256"], a.cert_sha256.to_hex());
        assert_eq!(body["issuance_id"], a.issuance_id);
        assert_eq!(body["lifetime_days"], 90);
        assert_eq!(body["revoked"], false);
        assert_eq!(
            body["crtsh_url"],
            format!(
                "https://crt.sh/?sha256={}",
                a.cert_sha256.to_hex().to_uppercase()
            )
        );
        for field in [
            "authorized_by",
            "dns_names",
            "issuer",
            "not_before",
            "not_after",
            "problem_reporting",
            "first_seen_at",
            "baseline",
            "reasons",
        ] {
            assert!(body.get(field).is_some(), "missing {field}");
        }
        let attr = |name: &str| {
            msg.attributes
                .iter()
                .find(|a| a.name == name)
                .map(|a| (a.data_type, a.value.clone()))
        };
        assert_eq!(attr("severity"), Some(("String", "suspicious".to_owned())));
        assert_eq!(attr("domain"), Some(("String", "example.com".to_owned())));
        assert_eq!(
            attr("domains"),
            Some((
                "String.Array",
                r#"["example.com","www.example.com"]"#.to_owned()
            ))
        );
        assert!(msg.subject.contains("SUSPICIOUS"));
    }

    fn every_reason() -> Vec<Reason> {
        // Details far over the bound, with characters JSON and HTML must escape.
        let detail = "<\u{1}\"".repeat(5_000);
        ReasonCode::ALL
            .iter()
            .map(|&code| Reason::new(code, &detail))
            .collect()
    }

    #[test]
    fn alert_message_carries_reasons_in_body_and_attribute() {
        let mut a = alert(7, Severity::Suspicious, &["www.example.com"]);
        a.reasons = vec![
            Reason::new(ReasonCode::NotInInventory, "not pushed"),
            Reason::new(ReasonCode::WeakKey, "RSA key of 1024 bits"),
        ];
        let msg = alert_sns(&a);
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["schema"], "ctguard.alert.v2");
        assert_eq!(body["reasons"][0]["code"], "not_in_inventory");
        assert_eq!(body["reasons"][1]["code"], "weak_key");
        assert_eq!(body["reasons"][1]["detail"], "RSA key of 1024 bits");
        let reasons = msg.attributes.iter().find(|a| a.name == "reasons").unwrap();
        assert_eq!(reasons.data_type, "String.Array");
        assert_eq!(reasons.value, r#"["not_in_inventory","weak_key"]"#);

        // No reasons (info): no attribute (a filter on `reasons` does not match it).
        let info = alert(8, Severity::Info, &["www.example.com"]);
        let msg = alert_sns(&info);
        assert!(msg.attributes.iter().all(|a| a.name != "reasons"));
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["reasons"], serde_json::json!([]));
    }

    #[test]
    fn critical_alerts_say_so_and_come_first_in_the_email() {
        let mut c = alert(1, Severity::Critical, &["pay.example.com"]);
        c.reasons = vec![Reason::new(
            ReasonCode::CompromisedKey,
            "this key was marked compromised",
        )];
        c.authorized_by = Some(AuthorizedBy::PubkeySha256);
        let s = alert(2, Severity::Suspicious, &["shop.example.com"]);
        assert!(alert_sns(&c).subject.contains("CRITICAL"));
        let email = run_email(&[s, c]);
        assert!(
            email.subject.contains("1 CRITICAL, 1 SUSPICIOUS"),
            "{}",
            email.subject
        );
        let critical_at = email.text.find("pay.example.com").unwrap();
        let suspicious_at = email.text.find("shop.example.com").unwrap();
        assert!(critical_at < suspicious_at);
        assert!(
            email
                .text
                .contains("Reasons       compromised_key: this key was marked compromised"),
            "{}",
            email.text
        );
        assert!(email.text.contains("not_in_inventory: neither"));
        assert!(
            email
                .html
                .contains("compromised_key: this key was marked compromised")
        );
    }

    #[test]
    fn reasons_keep_the_message_within_the_sns_limit() {
        use crate::message_bounds::SNS_MESSAGE_MAX;
        let names: Vec<String> = (0..20_000)
            .map(|i| format!("{}{i}.example.com", "\u{1}".repeat(40)))
            .collect();
        let mut a = alert(1, Severity::Critical, &[]);
        a.dns_names = names.clone();
        a.names_total = Some(20_000);
        a.matched = vec![EntryMatch {
            entry: crate::testutil::domain("example.com"),
            names,
        }];
        a.reasons = every_reason();
        let msg = alert_sns(&a);
        assert!(sns_size(&msg) <= SNS_MESSAGE_MAX, "{}", sns_size(&msg));
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(
            body["reasons"].as_array().unwrap().len(),
            7,
            "reasons are never cut"
        );
        let attr = msg.attributes.iter().find(|a| a.name == "reasons").unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<String>>(&attr.value)
                .unwrap()
                .len(),
            7
        );
        for r in &a.reasons {
            assert!(r.detail.len() <= ctguard::rules::REASON_DETAIL_MAX);
        }
        let email = run_email(std::slice::from_ref(&a));
        assert!(email.text.len() + email.html.len() <= crate::message_bounds::EMAIL_MAX_BYTES);
    }

    #[test]
    fn subjects_are_printable_ascii_within_100_chars() {
        let long = "ä\n".repeat(80);
        let s = sns_subject(&long);
        assert!(s.len() <= 100);
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        let many: Vec<String> = (0..50).map(|i| format!("host{i}.example.com")).collect();
        let a = alert(
            1,
            Severity::Suspicious,
            &many.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(alert_sns(&a).subject.len() <= 100);
    }

    #[test]
    fn email_escapes_attacker_controlled_strings() {
        let mut a = alert(1, Severity::Suspicious, &["<script>x</script>.example.com"]);
        a.issuer.friendly_name = Some("Evil \"CA\" & <b>".to_owned());
        let email = run_email(&[a]);
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(email.html.contains("Evil &quot;CA&quot; &amp; &lt;b&gt;"));
        assert!(email.text.contains("<script>x</script>.example.com"));
        assert!(!email.subject.contains('\n'));
    }

    #[test]
    fn run_email_lists_suspicious_first_and_says_what_to_do() {
        let s = alert(1, Severity::Suspicious, &["shop.example.com"]);
        let i = alert(2, Severity::Info, &["www.example.com"]);
        let email = run_email(&[i, s]);
        assert!(email.subject.contains("1 SUSPICIOUS, 1 authorized"));
        let suspicious_at = email.text.find("shop.example.com").unwrap();
        let info_at = email.text.find("www.example.com").unwrap();
        assert!(suspicious_at < info_at);
        assert!(email.text.contains("What to do"));
        assert!(email.html.contains("What to do"));
        assert!(email.text.contains("https://crt.sh/?sha256="));
    }

    fn sns_size(msg: &SnsMessage) -> usize {
        msg.body.len()
            + msg.subject.len()
            + msg
                .attributes
                .iter()
                .map(|a| a.name.len() + a.data_type.len() + a.value.len())
                .sum::<usize>()
    }

    #[test]
    fn alert_message_stays_within_the_sns_limit_whatever_the_names() {
        use crate::message_bounds::SNS_MESSAGE_MAX;
        // 20,000 matched names that JSON must escape (6 bytes per control character).
        let names: Vec<String> = (0..20_000)
            .map(|i| format!("{}{i}.example.com", "\u{1}".repeat(40)))
            .collect();
        let mut a = alert(1, Severity::Suspicious, &[]);
        a.dns_names = names.clone();
        a.names_total = Some(20_000);
        a.matched = vec![EntryMatch {
            entry: crate::testutil::domain("example.com"),
            names,
        }];
        let msg = alert_sns(&a);
        assert!(sns_size(&msg) <= SNS_MESSAGE_MAX, "{}", sns_size(&msg));
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["truncated"], true);
        assert_eq!(body["matched_truncated"], true);
        assert_eq!(body["names_total"], 20_000);
        assert!(!body["matched"][0]["names"].as_array().unwrap().is_empty());

        let email = run_email(std::slice::from_ref(&a));
        assert!(email.text.contains("(+19800 more, 20000 in total)"));

        // With CAA evidence at its bounds, values full of what JSON escapes: still within.
        a.caa = Some(max_caa_evidence());
        let msg = alert_sns(&a);
        assert!(sns_size(&msg) <= SNS_MESSAGE_MAX, "{}", sns_size(&msg));
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["caa"]["names"].as_array().unwrap().len(), 10);
        assert!(!body["matched"][0]["names"].as_array().unwrap().is_empty());
    }

    fn max_caa_evidence() -> ctguard::caa::CaaEvidence {
        use ctguard::caa::*;
        let nasty = "\"\\\u{1}".repeat(200);
        let rrset: Vec<CaaRecord> = (0..50)
            .map(|_| CaaRecord::new(0, &nasty, nasty.as_bytes()))
            .collect();
        let name = format!("{}.example.com", "a".repeat(60));
        CaaEvidence {
            checked_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            resolver: "system".to_owned(),
            issuer_caa_domains: vec!["x".repeat(253); 16],
            names: (0..CAA_NAMES_MAX)
                .map(|_| {
                    evaluate(
                        &name,
                        false,
                        &[(name.clone(), RrsetAnswer::Records(rrset.clone()))],
                        &[],
                    )
                })
                .collect(),
            names_total: 1000,
        }
    }

    #[test]
    fn the_email_says_when_caa_was_not_checked() {
        use ctguard::caa::*;
        let mut a = alert(1, Severity::Suspicious, &["www.example.com"]);
        a.caa = Some(CaaEvidence {
            checked_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            resolver: "10.0.0.2:53".to_owned(),
            issuer_caa_domains: vec![],
            names: vec![evaluate(
                "www.example.com",
                false,
                &[(
                    "www.example.com".to_owned(),
                    RrsetAnswer::Failed("SERVFAIL".to_owned()),
                )],
                &[],
            )],
            names_total: 1,
        });
        let email = run_email(std::slice::from_ref(&a));
        assert!(
            email.text.contains(
                "CAA NOT CHECKED for www.example.com: CAA lookup at www.example.com failed: \
                 SERVFAIL"
            ),
            "{}",
            email.text
        );
        assert!(email.html.contains("CAA NOT CHECKED"));
        let body: serde_json::Value = serde_json::from_str(&alert_sns(&a).body).unwrap();
        assert_eq!(body["caa"]["names"][0]["outcome"], "lookup_failed");
        // Not checked: null.
        a.caa = None;
        let body: serde_json::Value = serde_json::from_str(&alert_sns(&a).body).unwrap();
        assert!(body["caa"].is_null());
    }

    #[test]
    fn run_email_stays_within_its_size_limit() {
        use crate::message_bounds::EMAIL_MAX_BYTES;
        // 200 listed matched names of 250 bytes, each escaped to four times its size in HTML.
        let heavy_names: Vec<String> = (0..300)
            .map(|i| format!("{i}{}.example.com", "<".repeat(235)))
            .collect();
        let heavy_names: Vec<&str> = heavy_names.iter().map(String::as_str).collect();
        let mut alerts: Vec<Alert> = (0..60)
            .map(|n| {
                let mut a = alert(n, Severity::Suspicious, &heavy_names);
                a.reasons = every_reason();
                a
            })
            .collect();
        let email = run_email(&alerts);
        let size = email.text.len() + email.html.len();
        assert!(size <= EMAIL_MAX_BYTES, "{size}");
        assert!(
            email.text.contains("details left out"),
            "later ones in one line"
        );
        // Past 1,024 certificates only their count is given.
        alerts.extend((100..1_200).map(|n| alert(n, Severity::Suspicious, &["a.example.com"])));
        let email = run_email(&alerts);
        let size = email.text.len() + email.html.len();
        assert!(size <= EMAIL_MAX_BYTES, "{size}");
        assert!(email.text.contains("... and 136 more certificate(s)"));
    }

    #[test]
    fn an_ordinary_alert_message_is_not_cut() {
        let a = alert(2, Severity::Suspicious, &["www.example.com"]);
        let body: serde_json::Value = serde_json::from_str(&alert_sns(&a).body).unwrap();
        assert_eq!(body["truncated"], false);
        assert_eq!(body["names_total"], 1);
        assert_eq!(body["dns_names"][0], "www.example.com");
    }

    #[test]
    fn baseline_summary_fits_sns_whatever_the_certificates() {
        use crate::message_bounds::SNS_MESSAGE_MAX;
        let long: Vec<String> = (0..40).map(|i| format!("{i}{}", "n".repeat(250))).collect();
        let long: Vec<&str> = long.iter().map(String::as_str).collect();
        let alerts: Vec<Alert> = (0..600)
            .map(|n| alert(n, Severity::Suspicious, &long))
            .collect();
        let summary = BaselineSummary::new("example.com", &alerts, Utc::now());
        let msg = baseline_sns(&summary);
        assert!(sns_size(&msg) <= SNS_MESSAGE_MAX, "{}", sns_size(&msg));
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["truncated"], true);
        assert_eq!(body["unauthorized"], 600);
        assert_eq!(body["unauthorized_certificates"][0]["names_total"], 40);
        let email = baseline_email(&summary);
        assert!(email.text.len() + email.html.len() <= crate::message_bounds::EMAIL_MAX_BYTES);
    }

    #[test]
    fn baseline_summary_counts_and_lists_unauthorized() {
        let alerts = vec![
            alert(1, Severity::Info, &["a.example.com"]),
            alert(2, Severity::Suspicious, &["b.example.com"]),
            alert(3, Severity::Suspicious, &["c.example.com"]),
        ];
        let summary = BaselineSummary::new("example.com", &alerts, Utc::now());
        let msg = baseline_sns(&summary);
        let body: serde_json::Value = serde_json::from_str(&msg.body).unwrap();
        assert_eq!(body["schema"], BASELINE_SCHEMA);
        assert_eq!(body["total"], 3);
        assert_eq!(body["authorized"], 1);
        assert_eq!(body["unauthorized"], 2);
        let listed: Vec<_> = body["unauthorized_certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["dns_names"][0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, ["b.example.com", "c.example.com"]);
        assert_eq!(msg.attributes[0].value, "suspicious");
        let email = baseline_email(&summary);
        assert!(email.text.contains("c.example.com"));
        assert!(!email.text.contains("a.example.com"));
    }
}
