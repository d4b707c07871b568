//! The triage page (`GET /ui`) in a real browser: Debian's headless Chromium, driven through
//! chromedriver (`infra/browser/install`), against the API's local listener (what
//! `api --listen` serves) on the DynamoDB emulator, with demo-like data. An operator pastes the
//! token, sees the alerts newest first, acknowledges one (read back from the store), filters,
//! and looks at the domains with the status page's warnings. Screenshots go to
//! `<target>/ui/triage.png` and `<target>/ui/domains.png` (the README's picture is the first).

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use ctguard::domain::WatchDomain;
use ctguard::matcher::EntryMatch;
use ctguard::model::{
    Alert, AuthorizedBy, BackfillMode, IssuerInfo, Reason, ReasonCode, Severity, WatchEntry,
};
use ctguard::store::{AlertStore, WatchStore};
use ctguard_core::fixtures::stored_alert;
use ctguard_tests::api::*;
use ctguard_tests::aws::{API_FUNCTION, TestAws};
use ctguard_tests::webdriver::{Driver, Session};
use serde_json::{Value, json};

/// Markup in CA-controlled fields must show as text, never run.
const HOSTILE_ISSUER: &str = r#"<img src=x id=pwned onerror="document.title='pwned'">Evil CA"#;
const ACK_NOTE: &str = "not ours: revoked via the CA, ticket SEC-42 <b>done</b>";

fn domain(value: &str) -> WatchDomain {
    WatchDomain::parse(value).unwrap()
}

fn alert(
    seed: &str,
    severity: Severity,
    first_seen_at: DateTime<Utc>,
    entry: &str,
    names: &[&str],
    issuer: &str,
) -> Alert {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    Alert {
        matched: vec![EntryMatch {
            entry: domain(entry),
            names: names.clone(),
        }],
        names_total: Some(names.len() as u32),
        matched_names_total: Some(names.len() as u32),
        dns_names: names,
        issuer: IssuerInfo {
            friendly_name: Some(issuer.to_owned()),
            name: Some(format!("C=US, O={issuer}")),
            pubkey_sha256: None,
            caa_domains: vec![],
        },
        not_before: first_seen_at - Duration::minutes(10),
        reasons: if severity == Severity::Info {
            vec![]
        } else {
            vec![Reason::new(
                ReasonCode::NotInInventory,
                "neither its TBS nor its public key is in the inventory",
            )]
        },
        authorized_by: (severity == Severity::Info).then_some(AuthorizedBy::TbsSha256),
        grace_until: (severity == Severity::Pending).then(|| first_seen_at + Duration::minutes(30)),
        ..stored_alert(&format!("ui-{seed}"), severity, first_seen_at)
    }
}

struct Seeded {
    pending: Alert,
    suspicious: Alert,
    info: Alert,
    hostile: Alert,
}

/// What `make demo` shows after a poll or two, plus a stuck entry and a hostile issuer.
async fn seed(store: &impl SeedStore, now: DateTime<Utc>) -> Seeded {
    let mut shop = WatchEntry::new(domain("shop.example.com"), None, BackfillMode::Summary, now);
    shop.created_at = now - Duration::days(3);
    shop.cursor = Some("9001".into());
    shop.baseline_completed_at = Some(now - Duration::days(3));
    shop.last_polled_at = Some(now - Duration::minutes(4));
    shop.last_success_at = Some(now - Duration::minutes(4));
    let mut legacy = WatchEntry::new(
        domain("legacy.example.net"),
        None,
        BackfillMode::Summary,
        now,
    );
    legacy.created_at = now - Duration::days(10);
    legacy.last_polled_at = Some(now - Duration::minutes(4));
    legacy.last_success_at = Some(now - Duration::hours(9));
    legacy.last_error = Some("Cert Spotter answered 500 Internal Server Error".into());
    legacy.stalled_runs = 36;
    legacy.stuck_since = Some(now - Duration::hours(8));
    let mut canary = WatchEntry::new(
        domain("test.certspotter.org"),
        None,
        BackfillMode::Summary,
        now,
    );
    canary.canary = true;
    canary.created_at = now - Duration::days(10);
    canary.last_polled_at = Some(now - Duration::hours(2));
    canary.last_success_at = Some(now - Duration::hours(2));
    canary.canary_last_issuance_at = Some(now - Duration::hours(5));
    for entry in [&shop, &legacy, &canary] {
        assert!(store.create_watch(entry).await.unwrap());
    }

    let seeded = Seeded {
        pending: alert(
            "pending",
            Severity::Pending,
            now - Duration::minutes(3),
            "shop.example.com",
            &["new.shop.example.com"],
            "Let's Encrypt",
        ),
        suspicious: alert(
            "suspicious",
            Severity::Suspicious,
            now - Duration::minutes(20),
            "shop.example.com",
            &["shop.example.com", "login.shop.example.com"],
            "Rogue Trust Services",
        ),
        info: alert(
            "info",
            Severity::Info,
            now - Duration::minutes(50),
            "shop.example.com",
            &["shop.example.com", "www.shop.example.com"],
            "Let's Encrypt",
        ),
        hostile: alert(
            "hostile",
            Severity::Suspicious,
            now - Duration::days(2),
            "legacy.example.net",
            &["legacy.example.net"],
            HOSTILE_ISSUER,
        ),
    };
    for a in [
        &seeded.pending,
        &seeded.suspicious,
        &seeded.info,
        &seeded.hostile,
    ] {
        assert!(store.create_alert(a).await.unwrap());
    }
    seeded
}

/// The store the listener serves, as the seed needs it.
trait SeedStore: WatchStore + AlertStore {}
impl<S: WatchStore + AlertStore> SeedStore for S {}

/// `<target>/ui/`: the test binary lives in `<target>/debug/deps/`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("the target directory")
        .join("ui")
}

/// The cards shown, in order: (TBS hash, severity).
async fn cards(page: &Session<'_>) -> Vec<(String, String)> {
    let value = page
        .execute(
            "return [...document.querySelectorAll('#alerts > li.alert')]\
               .map(li => [li.dataset.tbs, li.dataset.severity]);",
            json!([]),
        )
        .await;
    serde_json::from_value(value).unwrap()
}

async fn wait_for_cards(page: &Session<'_>, what: &str, expected: Vec<(String, String)>) {
    page.wait_for(what, || {
        let expected = expected.clone();
        async move { (cards(page).await == expected).then_some(()) }
    })
    .await;
}

fn card(a: &Alert) -> (String, String) {
    (a.tbs_sha256.to_hex(), a.severity.as_str().to_owned())
}

#[tokio::test]
async fn an_operator_triages_alerts_in_headless_chromium() {
    let aws = TestAws::new().await;
    // Seeded with the harness's own credentials: the API's role may not write alerts, and the
    // emulator's call record (iam_per_function) holds every call made with the API's key.
    let seeded = seed(&aws.store(), Utc::now()).await;
    let store = aws.function_store(API_FUNCTION).await;
    let (url, _app) = start_listener(store).await;

    let driver = Driver::start().await;
    let page = driver.session().await;
    page.log("performance").await; // what the browser loaded before (its new-tab page)
    page.goto(&format!("{url}/ui")).await;

    // Without a token the page asks for one and shows nothing.
    let message = page.find("#message").await;
    page.wait_for("the token prompt", || async {
        (page.text(&message).await == "Paste an admin token to start.").then_some(())
    })
    .await;
    assert!(cards(&page).await.is_empty());

    // Paste the token: the alerts appear, newest first, one card each.
    let token = page.find("#token").await;
    page.type_text(&token, ADMIN_TOKEN).await;
    page.click(&page.find("#token-save").await).await;
    let all = vec![
        card(&seeded.pending),
        card(&seeded.suspicious),
        card(&seeded.info),
        card(&seeded.hostile),
    ];
    wait_for_cards(&page, "the four alerts, newest first", all.clone()).await;
    // The token is in this tab's sessionStorage only; the field is cleared.
    let storage = page
        .execute(
            "return [sessionStorage.getItem('ctguard.token'), localStorage.length, \
               document.cookie, document.getElementById('token').value]",
            json!([]),
        )
        .await;
    assert_eq!(storage, json!([ADMIN_TOKEN, 0, "", ""]));

    // The suspicious alert: severity, reason, matched names, issuer, crt.sh link.
    let tbs = seeded.suspicious.tbs_sha256.to_hex();
    let suspicious = page.find(&format!("#alerts li[data-tbs='{tbs}']")).await;
    let text = page.text(&suspicious).await;
    for expected in [
        "SUSPICIOUS",
        "not_in_inventory: neither its TBS nor its public key is in the inventory",
        "nobody deployed it",
        "shop.example.com: shop.example.com, login.shop.example.com",
        "Rogue Trust Services",
        &tbs,
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }
    let link = page
        .find(&format!("#alerts li[data-tbs='{tbs}'] a.crtsh"))
        .await;
    assert_eq!(
        page.attribute(&link, "href").await.as_deref(),
        Some(
            format!(
                "https://crt.sh/?sha256={}",
                seeded.suspicious.cert_sha256.to_hex()
            )
            .as_str()
        )
    );
    assert_eq!(
        page.attribute(&link, "rel").await.as_deref(),
        Some("noopener noreferrer")
    );
    let info_text = page
        .text(
            &page
                .find(&format!(
                    "#alerts li[data-tbs='{}']",
                    seeded.info.tbs_sha256.to_hex()
                ))
                .await,
        )
        .await;
    assert!(
        info_text.contains("this certificate (TBS hash) was pushed"),
        "{info_text}"
    );

    // The CA-controlled issuer is text: no element was made from it, no handler ran.
    let hostile = page
        .execute(
            "const li = document.querySelector(`#alerts li[data-tbs='${arguments[0]}'] .issuer`);\
             return [li.textContent, document.querySelectorAll('img, #pwned').length, document.title];",
            json!([seeded.hostile.tbs_sha256.to_hex()]),
        )
        .await;
    assert_eq!(hostile, json!([HOSTILE_ISSUER, 0, "ctguard triage"]));

    // Acknowledge the suspicious alert with a note.
    let note = page
        .find(&format!("#alerts li[data-tbs='{tbs}'] input[name='note']"))
        .await;
    page.type_text(&note, ACK_NOTE).await;
    page.click(
        &page
            .find(&format!("#alerts li[data-tbs='{tbs}'] button.ack"))
            .await,
    )
    .await;
    let acked = page
        .wait_for("the acknowledgement on the card", || async {
            let card = page
                .find_all(&format!("#alerts li[data-tbs='{tbs}'] .acked-by"))
                .await;
            match card.first() {
                Some(el) => Some(page.text(el).await),
                None => None,
            }
        })
        .await;
    assert!(
        acked.starts_with(&format!("Acknowledged by {ADMIN_LABEL} ")),
        "{acked}"
    );
    assert!(acked.ends_with(&format!(": {ACK_NOTE}")), "{acked}");
    // The store changed: the alert read back from DynamoDB carries the acknowledgement.
    let stored = aws
        .store()
        .get_alert(&seeded.suspicious.tbs_sha256)
        .await
        .unwrap()
        .expect("the alert");
    let ack = stored.ack.expect("acknowledged in the store");
    assert_eq!(ack.by, ADMIN_LABEL);
    assert_eq!(ack.note.as_deref(), Some(ACK_NOTE));
    assert_eq!(stored.severity, Severity::Suspicious);
    // The other alerts were not touched.
    for other in [&seeded.pending, &seeded.info, &seeded.hostile] {
        let stored = aws
            .store()
            .get_alert(&other.tbs_sha256)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.ack.is_none());
    }

    // Filter by severity: only the suspicious ones (the server filters).
    page.click(
        &page
            .find("#filter-severity option[value='suspicious']")
            .await,
    )
    .await;
    page.click(&page.find("#filter-apply").await).await;
    wait_for_cards(
        &page,
        "the suspicious alerts only",
        vec![card(&seeded.suspicious), card(&seeded.hostile)],
    )
    .await;
    // By domain, every severity: the shop's three.
    page.click(&page.find("#filter-severity option[value='']").await)
        .await;
    page.type_text(&page.find("#filter-domain").await, "Shop.Example.com")
        .await;
    page.click(&page.find("#filter-apply").await).await;
    wait_for_cards(&page, "the shop's alerts", all[..3].to_vec()).await;
    let dir = screenshot_dir();
    page.screenshot(&dir.join("triage.png")).await;

    // The domains view: freshness per entry and the status page's warnings.
    page.click(&page.find("#tab-domains").await).await;
    let states = page
        .wait_for("the three domains", || async {
            let rows = page
                .execute(
                    "return [...document.querySelectorAll('#domains tbody tr')]\
                       .map(tr => [tr.dataset.domain, tr.dataset.state]);",
                    json!([]),
                )
                .await;
            (rows.as_array().map(Vec::len) == Some(3)).then_some(rows)
        })
        .await;
    assert_eq!(
        states,
        json!([
            ["legacy.example.net", "stuck"],
            ["shop.example.com", "ok"],
            ["test.certspotter.org", "ok"]
        ])
    );
    let warnings = page.text(&page.find("#warnings").await).await;
    for expected in [
        "Stuck: legacy.example.net",
        "1 alert(s) pending",
        "Coverage: legacy.example.net last caught up",
    ] {
        assert!(
            warnings.contains(expected),
            "{expected:?} not in {warnings:?}"
        );
    }
    let stuck_row = page
        .text(
            &page
                .find("#domains tr[data-domain='legacy.example.net']")
                .await,
        )
        .await;
    assert!(
        stuck_row.contains("Cert Spotter answered 500"),
        "{stuck_row}"
    );
    page.screenshot(&dir.join("domains.png")).await;

    // Everything the page loaded came from the API's origin; nothing else was requested.
    let urls = page.requested_urls(&format!("{url}/")).await;
    assert!(
        urls.iter().any(|u| u == &format!("{url}/ui/app.js")),
        "{urls:?}"
    );
    assert!(
        urls.iter()
            .any(|u| u.starts_with(&format!("{url}/alerts?"))),
        "{urls:?}"
    );
    let foreign: Vec<&String> = urls
        .iter()
        .filter(|u| !u.starts_with(&format!("{url}/")))
        .collect();
    assert!(foreign.is_empty(), "requests outside {url}: {foreign:?}");
    // No console errors: the page runs within its own Content-Security-Policy.
    let errors: Vec<Value> = page
        .log("browser")
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // And the policy is enforced: a fetch elsewhere is refused by connect-src.
    let violation = page
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             let directive = null, refused = false;\
             const finish = () => { if (directive && refused) done(['refused', directive]); };\
             document.addEventListener('securitypolicyviolation', e => {\
               directive = e.effectiveDirective; finish(); });\
             fetch('http://192.0.2.1/steal').then(() => done(['fetched', directive]), \
               () => { refused = true; finish(); });",
            json!([]),
        )
        .await;
    assert_eq!(violation, json!(["refused", "connect-src"]));
    let urls = page.requested_urls(&format!("{url}/")).await;
    assert!(
        urls.iter().all(|u| !u.contains("192.0.2.1")),
        "the refused fetch left the browser: {urls:?}"
    );

    page.close().await;
}

#[tokio::test]
async fn a_refused_token_is_forgotten_and_said_so() {
    let aws = TestAws::new().await;
    let (url, _app) = start_listener(aws.function_store(API_FUNCTION).await).await;
    let driver = Driver::start().await;
    let page = driver.session().await;
    page.goto(&format!("{url}/ui")).await;
    page.type_text(&page.find("#token").await, "not-a-token")
        .await;
    page.click(&page.find("#token-save").await).await;
    let message = page.find("#message").await;
    let said = page
        .wait_for("the refusal", || async {
            let text = page.text(&message).await;
            text.contains("HTTP 401").then_some(text)
        })
        .await;
    assert!(said.contains("(HTTP 401)"), "{said}");
    let stored = page
        .execute("return sessionStorage.getItem('ctguard.token')", json!([]))
        .await;
    assert_eq!(stored, Value::Null);
    page.close().await;
}
