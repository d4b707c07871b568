//! One function per command: call the API, print a table or the API's JSON.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{
    AckArgs, AlertsArgs, CertsCommand, DomainsCommand, KeySource, KeysCommand, PageArgs,
};
use crate::client::{Answer, Api, Body};
use crate::error::CliError;
use crate::output::{clean, list, table, text, time, truncate};

/// Where results go: `--json` prints the API's JSON, else tables and sentences for people.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    fn print_json(&self, value: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }
}

/// Pages followed per poll with `alerts --follow` (each up to --limit alerts).
const FOLLOW_MAX_PAGES: usize = 100;

pub async fn domains(api: &Api, out: Out, command: DomainsCommand) -> Result<(), CliError> {
    match command {
        DomainsCommand::Add {
            domain,
            note,
            backfill,
            canary,
        } => {
            let mut body = json!({ "value": domain });
            if let Some(note) = note {
                body["note"] = note.into();
            }
            if let Some(backfill) = backfill {
                body["backfill"] = backfill.as_str().into();
            }
            if canary {
                body["canary"] = true.into();
            }
            let answer = api.post(&["domains"], Some(Body::Json(body))).await?;
            if out.json {
                out.print_json(&answer.body);
            } else if answer.status == reqwest::StatusCode::CREATED {
                println!("watching {}", text(&answer.body, "value"));
            } else {
                println!("already watching {}", text(&answer.body, "value"));
            }
        }
        DomainsCommand::List => {
            let answer = api.get(&["domains"], &[]).await?;
            if out.json {
                out.print_json(&answer.body);
            } else {
                print!("{}", domains_table(items(&answer)?));
            }
        }
        DomainsCommand::Rm { domain } => {
            api.delete(&["domains", &domain]).await?;
            if !out.json {
                println!("stopped watching {}", clean(&domain));
            }
        }
    }
    Ok(())
}

fn items(answer: &Answer) -> Result<&Vec<Value>, CliError> {
    answer
        .body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| CliError::BadResponse("no items array in the answer".into()))
}

fn entry_state(entry: &Value) -> String {
    if entry.get("stuck") == Some(&Value::Bool(true)) {
        "STUCK".to_owned()
    } else {
        match entry.get("last_poll_succeeded") {
            Some(Value::Bool(true)) => "ok".to_owned(),
            Some(Value::Bool(false)) => "error".to_owned(),
            _ => "not polled yet".to_owned(),
        }
    }
}

fn domains_table(entries: &[Value]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                text(e, "value"),
                entry_state(e),
                if e.get("canary") == Some(&Value::Bool(true)) {
                    "canary".to_owned()
                } else {
                    text(e, "backfill")
                },
                time(e, "last_success_at"),
                time(e, "last_caught_up_at"),
                truncate(&text(e, "last_error"), 60),
            ]
        })
        .collect();
    table(
        &[
            "DOMAIN",
            "STATE",
            "KIND",
            "LAST SUCCESS",
            "CAUGHT UP",
            "LAST ERROR",
        ],
        &rows,
    )
}

pub async fn certs(api: &Api, out: Out, command: CertsCommand) -> Result<(), CliError> {
    match command {
        CertsCommand::Push {
            files,
            attempts,
            retry_delay,
        } => push_certs(api, out, &files, attempts, retry_delay).await,
        CertsCommand::List { name, page } => {
            let mut query = page_query(&page);
            if let Some(name) = name {
                query.push(("name", name));
            }
            let answer = api.get(&["certs"], &query).await?;
            if out.json {
                out.print_json(&answer.body);
            } else {
                let rows: Vec<Vec<String>> = items(&answer)?
                    .iter()
                    .map(|c| {
                        vec![
                            text(c, "tbs_sha256"),
                            time(c, "not_after"),
                            text(c, "source"),
                            truncate(&list(c, "dns_names"), 60),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["TBS SHA-256", "NOT AFTER", "SOURCE", "NAMES"], &rows)
                );
                more(&answer);
            }
            Ok(())
        }
    }
}

fn page_query(page: &PageArgs) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", page.limit.to_string())];
    if let Some(cursor) = &page.cursor {
        query.push(("cursor", cursor.clone()));
    }
    query
}

fn more(answer: &Answer) {
    if let Some(cursor) = answer.body.get("next_cursor").and_then(Value::as_str) {
        eprintln!("more: repeat with --cursor {cursor}");
    }
}

/// The certbot hook's rules: the file as is (PEM, leaf first; or DER), 201 pushed, 200 already
/// known, retries with exponential backoff on network errors, 429 and 5xx, any other refusal
/// final. The TBS hash is computed here too, with the server's code, and a difference is
/// reported (the server's record is what counts).
async fn push_certs(
    api: &Api,
    out: Out,
    files: &[std::path::PathBuf],
    attempts: u32,
    retry_delay: f64,
) -> Result<(), CliError> {
    if !(0.0..=600.0).contains(&retry_delay) {
        return Err(CliError::Usage(
            "--retry-delay must be 0 to 600 seconds".into(),
        ));
    }
    let mut results = Vec::new();
    let mut first_error: Option<CliError> = None;
    let mut pushed = 0usize;
    for file in files {
        match push_one(api, out, file, attempts, retry_delay).await {
            Ok(answer) => {
                pushed += 1;
                results.push(json!({
                    "file": file.display().to_string(),
                    "status": answer.status.as_u16(),
                    "result": answer.body,
                }));
            }
            Err(error) => {
                eprintln!("ctguard: error: {error}");
                let mut entry = error.to_json();
                entry["file"] = file.display().to_string().into();
                results.push(entry);
                first_error.get_or_insert(error);
            }
        }
    }
    if out.json {
        out.print_json(&Value::Array(results));
    }
    if files.len() > 1 {
        eprintln!("{pushed} pushed, {} failed", files.len() - pushed);
    }
    match first_error {
        None => Ok(()),
        Some(error) => Err(CliError::Reported(Box::new(error))),
    }
}

async fn push_one(
    api: &Api,
    out: Out,
    file: &Path,
    attempts: u32,
    retry_delay: f64,
) -> Result<Answer, CliError> {
    let bytes = std::fs::read(file).map_err(|e| CliError::input(file, e.to_string()))?;
    let certs = ctguard_core::cert::parse_certificates(&bytes)
        .map_err(|e| CliError::input(file, e.to_string()))?;
    let leaf = certs
        .first()
        .ok_or_else(|| CliError::input(file, "no certificate"))?;
    let local_tbs = leaf.tbs_sha256.to_hex();
    let content_type = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        "application/x-pem-file"
    } else {
        "application/pkix-cert"
    };
    let mut delay = retry_delay;
    let mut attempt = 1;
    let answer = loop {
        let result = api
            .post(
                &["certs"],
                Some(Body::Raw {
                    content_type,
                    bytes: bytes.clone(),
                }),
            )
            .await;
        let retryable = match &result {
            Ok(_) => false,
            Err(CliError::Api { status, .. }) => *status == 429 || *status >= 500,
            Err(CliError::Network(_)) => true,
            Err(_) => false,
        };
        match result {
            Ok(answer) => break answer,
            Err(error) if retryable && attempt < attempts => {
                eprintln!(
                    "{}: attempt {attempt} failed ({error}); retrying in {delay}s",
                    file.display()
                );
                tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                attempt += 1;
                delay *= 2.0;
            }
            Err(error) if retryable => {
                return Err(error.context(&format!(
                    "{}: giving up after {attempt} attempts",
                    file.display()
                )));
            }
            Err(error) => {
                return Err(error.context(&format!("{}: ctguard refused it", file.display())));
            }
        }
    };
    let server_tbs = text(&answer.body, "tbs_sha256");
    if server_tbs != local_tbs {
        eprintln!(
            "{}: warning: the API stored TBS {server_tbs}, this CLI computed {local_tbs} \
             (the API's value counts; is the CLI older than the API?)",
            file.display()
        );
    }
    if !out.json {
        let what = if answer.status == reqwest::StatusCode::CREATED {
            "pushed"
        } else {
            "already known"
        };
        println!(
            "{}: {what} (tbs {server_tbs}; {})",
            file.display(),
            truncate(&list(&answer.body, "dns_names"), 80)
        );
    }
    Ok(answer)
}

pub async fn keys(api: &Api, out: Out, command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Add {
            source,
            names,
            note,
            expires_at,
        } => add_key(api, out, source, names, note, expires_at).await,
        KeysCommand::List { page } => {
            let answer = api.get(&["keys"], &page_query(&page)).await?;
            if out.json {
                out.print_json(&answer.body);
            } else {
                let rows: Vec<Vec<String>> = items(&answer)?
                    .iter()
                    .map(|k| {
                        vec![
                            text(k, "pubkey_sha256"),
                            time(k, "expires_at"),
                            text(k, "source"),
                            truncate(&list(k, "dns_names"), 50),
                            truncate(&text(k, "note"), 40),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &["PUBKEY SHA-256", "EXPIRES", "SOURCE", "NAMES", "NOTE"],
                        &rows
                    )
                );
                more(&answer);
            }
            Ok(())
        }
        KeysCommand::Compromised { source, note } => compromised_key(api, out, source, note).await,
        KeysCommand::Rm { sha256 } => {
            api.delete(&["keys", &sha256]).await?;
            if !out.json {
                println!("withdrew key {}", clean(&sha256));
            }
            Ok(())
        }
    }
}

/// The key's part of a `POST /keys` or `/keys/compromised` body. A CSR is read here first (a
/// file that is not one is a local input error, exit 2) and sent as PEM: the API verifies
/// its signature and, without `dns_names`, takes its names.
fn key_source_body(source: &KeySource) -> Result<serde_json::Value, CliError> {
    let mut body = json!({});
    if let Some(path) = &source.csr {
        let bytes = std::fs::read(path).map_err(|e| CliError::input(path, e.to_string()))?;
        let csr =
            ctguard_core::csr::parse(&bytes).map_err(|e| CliError::input(path, e.to_string()))?;
        body["csr"] = ctguard_core::csr::to_pem(&csr.der).into();
    } else if let Some(path) = &source.pem {
        let pem =
            std::fs::read_to_string(path).map_err(|e| CliError::input(path, e.to_string()))?;
        body["pem"] = pem.into();
    } else if let Some(hash) = &source.sha256 {
        body["pubkey_sha256"] = hash.trim().into();
    }
    Ok(body)
}

/// `POST /keys/compromised`.
async fn compromised_key(
    api: &Api,
    out: Out,
    source: KeySource,
    note: Option<String>,
) -> Result<(), CliError> {
    let mut body = key_source_body(&source)?;
    if let Some(note) = note {
        body["note"] = note.into();
    }
    let answer = api
        .post(&["keys", "compromised"], Some(Body::Json(body)))
        .await?;
    if out.json {
        out.print_json(&answer.body);
    } else {
        println!(
            "marked key {} compromised: it authorizes nothing, and new certificates for it are \
             critical",
            text(&answer.body, "pubkey_sha256")
        );
    }
    Ok(())
}

/// `POST /keys`.
async fn add_key(
    api: &Api,
    out: Out,
    source: KeySource,
    names: Vec<String>,
    note: Option<String>,
    expires_at: Option<String>,
) -> Result<(), CliError> {
    let mut body = key_source_body(&source)?;
    if !names.is_empty() {
        body["dns_names"] = names.into();
    }
    if let Some(note) = note {
        body["note"] = note.into();
    }
    if let Some(at) = expires_at {
        body["expires_at"] = parse_time(&at, Direction::Future)?.into();
    }
    let answer = api.post(&["keys"], Some(Body::Json(body))).await?;
    if out.json {
        out.print_json(&answer.body);
    } else {
        let what = if answer.status == reqwest::StatusCode::CREATED {
            "authorized"
        } else {
            "already authorized"
        };
        println!(
            "{what} key {} ({})",
            text(&answer.body, "pubkey_sha256"),
            list(&answer.body, "dns_names")
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Past,
    Future,
}

/// RFC 3339, or a duration (`90s`, `30m`, `24h`, `7d`, `2w`) back from or ahead of now.
pub fn parse_time(input: &str, direction: Direction) -> Result<String, CliError> {
    let input = input.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(input) {
        return Ok(t
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    let bad = || {
        CliError::Usage(format!(
            "{input:?} is not a time: use RFC 3339 (2026-11-30T12:00:00Z) or a duration (30m, 24h, 7d)"
        ))
    };
    let split = input.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = input.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let delta = number
        .checked_mul(seconds_per)
        .and_then(chrono::TimeDelta::try_seconds)
        .ok_or_else(bad)?;
    let now = chrono::Utc::now();
    let t = match direction {
        Direction::Past => now.checked_sub_signed(delta),
        Direction::Future => now.checked_add_signed(delta),
    }
    .ok_or_else(bad)?;
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn alert_query(args: &AlertsArgs, since: Option<String>) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(severity) = args.severity {
        query.push(("severity", severity.as_str().to_owned()));
    }
    if let Some(domain) = &args.domain {
        query.push(("domain", domain.clone()));
    }
    if let Some(since) = since {
        query.push(("since", since));
    }
    query
}

fn matched_names(alert: &Value) -> String {
    let mut names: Vec<String> = Vec::new();
    for entry in alert
        .get("matched")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for name in entry
            .get("names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str() {
                let name = clean(name);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    if names.is_empty() {
        list(alert, "dns_names")
    } else {
        names.join(", ")
    }
}

fn alert_row(alert: &Value) -> Vec<String> {
    let issuer = alert.get("issuer").cloned().unwrap_or(Value::Null);
    let issuer = match text(&issuer, "friendly_name").as_str() {
        "-" => text(&issuer, "name"),
        name => name.to_owned(),
    };
    let acked = match alert.get("ack") {
        Some(Value::Object(_)) => "acked".to_owned(),
        _ => "-".to_owned(),
    };
    vec![
        time(alert, "first_seen_at"),
        text(alert, "severity"),
        acked,
        text(alert, "tbs_sha256"),
        truncate(&issuer, 30),
        truncate(&matched_names(alert), 60),
    ]
}

const ALERT_HEADERS: [&str; 6] = [
    "FIRST SEEN",
    "SEVERITY",
    "ACK",
    "TBS SHA-256",
    "ISSUER",
    "NAMES",
];

pub async fn alerts(api: &Api, out: Out, args: AlertsArgs) -> Result<(), CliError> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, Direction::Past))
        .transpose()?;
    if args.follow {
        return follow(api, out, &args, since).await;
    }
    let mut query = alert_query(&args, since);
    if let Some(cursor) = &args.cursor {
        query.push(("cursor", cursor.clone()));
    }
    let answer = api.get(&["alerts"], &query).await?;
    if out.json {
        out.print_json(&answer.body);
    } else {
        let rows: Vec<Vec<String>> = items(&answer)?.iter().map(alert_row).collect();
        print!("{}", table(&ALERT_HEADERS, &rows));
        more(&answer);
    }
    Ok(())
}

/// `alerts --follow`: the newest page first (oldest first on screen, like `tail -f`), then
/// every `--interval` seconds the alerts first seen at or after the newest one shown, every
/// page of them through the API's `next_cursor`; each alert is printed once. Transient
/// failures (network, 5xx, 429) are reported and the next poll tries again; any other error
/// ends the command.
async fn follow(
    api: &Api,
    out: Out,
    args: &AlertsArgs,
    since: Option<String>,
) -> Result<(), CliError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut watermark: Option<String> = since;
    let mut polls = 0u64;
    if !out.json {
        println!("{}", follow_line(&ALERT_HEADERS.map(str::to_owned)));
    }
    loop {
        if polls > 0 {
            tokio::time::sleep(Duration::from_secs(args.interval)).await;
        }
        polls += 1;
        // The first poll shows one page, as `ctguard alerts` does; later ones everything new.
        let max_pages = if polls == 1 { 1 } else { FOLLOW_MAX_PAGES };
        match fetch_new(api, args, watermark.clone(), max_pages, &seen).await {
            Ok(mut new) => {
                new.sort_by_key(seen_at);
                for alert in &new {
                    if out.json {
                        println!("{alert}");
                    } else {
                        println!("{}", follow_line(&alert_row(alert)));
                    }
                }
                if let Some(newest) = new.iter().filter_map(seen_at).max() {
                    let current = watermark
                        .as_deref()
                        .and_then(|w| chrono::DateTime::parse_from_rfc3339(w).ok());
                    if current.is_none_or(|w| newest > w) {
                        // Later polls return only alerts at or after the watermark: the
                        // ones seen before it cannot come back.
                        seen.clear();
                        watermark = Some(
                            newest
                                .with_timezone(&chrono::Utc)
                                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                        );
                    }
                    for alert in &new {
                        if seen_at(alert) == Some(newest) {
                            seen.insert(text(alert, "tbs_sha256"));
                        }
                    }
                }
            }
            Err(error @ (CliError::Network(_) | CliError::BadResponse(_))) => {
                eprintln!("ctguard: poll failed, trying again: {error}");
            }
            Err(error @ CliError::Api { status, .. }) if status == 429 || status >= 500 => {
                eprintln!("ctguard: poll failed, trying again: {error}");
            }
            Err(error) => return Err(error),
        }
        if args.max_polls.is_some_and(|max| polls >= max) {
            return Ok(());
        }
    }
}

fn seen_at(alert: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(alert.get("first_seen_at")?.as_str()?).ok()
}

fn follow_line(cells: &[String]) -> String {
    format!(
        "{:<20}  {:<10}  {:<5}  {:<64}  {:<30}  {}",
        cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
    )
}

async fn fetch_new(
    api: &Api,
    args: &AlertsArgs,
    since: Option<String>,
    max_pages: usize,
    seen: &HashSet<String>,
) -> Result<Vec<Value>, CliError> {
    let base = alert_query(args, since);
    let mut cursor: Option<String> = None;
    let mut new = Vec::new();
    for _ in 0..max_pages {
        let mut query = base.clone();
        if let Some(cursor) = cursor.take() {
            query.push(("cursor", cursor));
        }
        let answer = api.get(&["alerts"], &query).await?;
        for alert in items(&answer)? {
            if !seen.contains(&text(alert, "tbs_sha256")) {
                new.push(alert.clone());
            }
        }
        match answer.body.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(new)
}

pub async fn ack(api: &Api, out: Out, args: AckArgs) -> Result<(), CliError> {
    let body = json!({ "note": args.note });
    let answer = api
        .post(&["alerts", args.tbs.trim(), "ack"], Some(Body::Json(body)))
        .await?;
    if out.json {
        out.print_json(&answer.body);
    } else {
        let ack = answer.body.get("ack").cloned().unwrap_or(Value::Null);
        println!(
            "acknowledged {} by {} at {}",
            text(&answer.body, "tbs_sha256"),
            text(&ack, "by"),
            time(&ack, "at")
        );
    }
    Ok(())
}

fn count(value: &Value) -> String {
    let n = value.get("count").and_then(Value::as_u64).unwrap_or(0);
    if value.get("capped") == Some(&Value::Bool(true)) {
        format!("{n}+")
    } else {
        n.to_string()
    }
}

pub async fn status(api: &Api, out: Out) -> Result<(), CliError> {
    let answer = api.get(&["status"], &[]).await?;
    let s = &answer.body;
    if out.json {
        out.print_json(s);
        return Ok(());
    }
    let ok = s.get("last_poll_succeeded") == Some(&Value::Bool(true));
    println!(
        "monitoring:       {}",
        if ok {
            "ok (every entry's last poll caught up)"
        } else {
            "NOT OK (a poll failed or has not caught up)"
        }
    );
    println!(
        "pending alerts:   {}",
        count(s.get("pending_alerts").unwrap_or(&Value::Null))
    );
    let deliveries = s.get("deliveries").cloned().unwrap_or(Value::Null);
    println!(
        "deliveries:       {} queued, {} failed in the last {} days",
        count(deliveries.get("queued").unwrap_or(&Value::Null)),
        count(deliveries.get("failed").unwrap_or(&Value::Null)),
        text(&deliveries, "failed_window_days")
    );
    let stuck = list(s, "stuck_entries");
    if stuck != "-" {
        println!("stuck entries:    {stuck}");
    }
    if let Some(coverage) = s.get("coverage").filter(|c| c.is_object()) {
        println!(
            "coverage:         oldest {} caught up {} (lag {} s)",
            text(coverage, "oldest_entry"),
            time(coverage, "oldest_caught_up_at"),
            text(coverage, "max_lag_seconds")
        );
    }
    for canary in s
        .get("canaries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!(
            "canary:           {} silent for {} s",
            text(canary, "value"),
            text(canary, "silent_seconds")
        );
    }
    let unscoped = list(s, "unscoped_push_tokens");
    if unscoped != "-" {
        println!("unscoped push tokens (may push for any name): {unscoped}");
    }
    let entries = s
        .get("entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!();
    print!("{}", domains_table(&entries));
    Ok(())
}

pub async fn test_alert(api: &Api, out: Out) -> Result<(), CliError> {
    let answer = api.post(&["alerts", "test"], None).await?;
    if out.json {
        out.print_json(&answer.body);
    } else {
        for channel in ["sns", "email"] {
            let result = answer.body.get(channel).cloned().unwrap_or(Value::Null);
            let id = text(&result, "message_id");
            println!(
                "{channel:<6} {}{}",
                text(&result, "status"),
                if id == "-" {
                    String::new()
                } else {
                    format!(" (message id {id})")
                }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(
            parse_time("2026-11-30T12:00:00+01:00", Direction::Past).unwrap(),
            "2026-11-30T11:00:00Z"
        );
        let t = parse_time("24h", Direction::Past).unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
        let age = chrono::Utc::now() - parsed.with_timezone(&chrono::Utc);
        assert!((age.num_seconds() - 86_400).abs() < 60, "{t}");
        let t = parse_time("7d", Direction::Future).unwrap();
        assert!(t > chrono::Utc::now().to_rfc3339());
        for bad in ["", "h", "5y", "yesterday", "99999999999999999999d", "-5m"] {
            assert!(
                matches!(parse_time(bad, Direction::Past), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }
}
