//! The rules for what a caller writes into the inventory, in one place:
//! - a push caller names what it vouches for: every record it writes carries at least one DNS
//!   name (from the certificate, or `dns_names` for hash-only pushes), and a scoped push
//!   token's names must all lie in its scope (else 403 `out_of_scope`, listing them);
//! - pushes are append-only (the store's `push_*`); only admin replaces (`put_*`).

use chrono::{DateTime, Utc};
use http::StatusCode;

use ctguard::hash::Sha256Hash;
use ctguard::model::{Acknowledgement, AuthorizedKey, InventoryCert};
use ctguard::rules::{self, ExpiryStage};
use ctguard::store::{AlertStore, InventoryStore, PutOutcome};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, echo};

/// A 403 lists at most this many of the names outside the scope (each quoted by [`echo`]), so
/// the message, count included, stays under the error length bound.
const MAX_LISTED_NAMES: usize = 4;

/// 400 when a push names nothing, 403 when a scoped push names something outside its scope.
/// Admin callers may write anything.
pub fn check_names(caller: &Caller, names: &[String]) -> ApiResult<()> {
    if caller.role != Role::Push {
        return Ok(());
    }
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "missing_field",
            "a push must name what it vouches for: give dns_names (or a certificate with DNS names)",
        ));
    }
    let Some(scope) = &caller.scope else {
        return Ok(());
    };
    let outside = scope.outside(names);
    if outside.is_empty() {
        return Ok(());
    }
    let mut listed: Vec<String> = outside
        .iter()
        .take(MAX_LISTED_NAMES)
        .map(|n| echo(n))
        .collect();
    if outside.len() > MAX_LISTED_NAMES {
        listed.push(format!("and {} more", outside.len() - MAX_LISTED_NAMES));
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "out_of_scope",
        format!(
            "{} of {} names lie outside the scope of this token ({}): {}",
            outside.len(),
            names.len(),
            caller.label,
            listed.join(", ")
        ),
    ))
}

/// Stores a certificate: append-only for push callers, a replacing upsert for admin.
pub async fn write_cert<S: InventoryStore>(
    store: &S,
    caller: &Caller,
    cert: &InventoryCert,
) -> ApiResult<(PutOutcome, InventoryCert)> {
    check_names(caller, &cert.dns_names)?;
    Ok(match caller.role {
        Role::Push => store.push_cert(cert).await?,
        Role::Admin => store.put_cert(cert).await?,
    })
}

/// Who resolves an `expiring` alert when a renewal is pushed (the alert's `ack.by`).
pub const RENEWAL_ACK_BY: &str = "ctguard:renewal";
/// Replaced certificates whose `expiring` alerts one push resolves at most (a certificate
/// usually replaces one; each costs a few reads).
const RENEWALS_MAX: usize = 10;

/// Expiry tracking after a certificate write (push or admin): records the stored certificate
/// as its names' latest deployed one, and resolves the `expiring` alerts of each certificate
/// it replaced once every name of that one is served by a later certificate
/// ([`rules::renewed`]). An error fails the request: the write is idempotent, a retry
/// completes the tracking.
pub async fn track_expiry<S: InventoryStore + AlertStore>(
    store: &S,
    stored: &InventoryCert,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let replaced = store.record_deployed(stored).await?;
    for old in replaced.iter().take(RENEWALS_MAX) {
        let Some(old) = store.get_cert(old).await? else {
            continue;
        };
        let Some(not_after) = old.not_after else {
            continue;
        };
        let names = rules::deployed_names(&old.dns_names);
        let mut wanted = names.clone();
        wanted.extend(names.iter().filter_map(|n| rules::wildcard_parent(n)));
        let records = store.get_deployed(&wanted).await?;
        let later = records
            .iter()
            .map(|r| (std::slice::from_ref(&r.name), r.not_after));
        if rules::renewed(&names, not_after, later) {
            resolve_expiring(store, &old.tbs_sha256, &stored.tbs_sha256, now).await?;
        }
    }
    Ok(())
}

/// Acknowledges the `expiring` alerts of `old` (those that exist and nobody acknowledged).
async fn resolve_expiring<S: AlertStore>(
    store: &S,
    old: &Sha256Hash,
    renewal: &Sha256Hash,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    for stage in [ExpiryStage::First, ExpiryStage::Second] {
        let id = rules::expiring_alert_id(old, stage);
        if store.get_alert(&id).await?.is_some_and(|a| a.ack.is_none()) {
            let ack = Acknowledgement {
                by: RENEWAL_ACK_BY.to_owned(),
                note: Some(format!("renewed: certificate {renewal} was pushed")),
                at: now,
            };
            store.acknowledge(&id, &ack).await?;
            tracing::info!(alert = %id, %old, %renewal, "expiring alert resolved by a renewal");
        }
    }
    Ok(())
}

/// Stores an authorized key: append-only for push callers, a replacing upsert for admin.
pub async fn write_key<S: InventoryStore>(
    store: &S,
    caller: &Caller,
    key: &AuthorizedKey,
) -> ApiResult<(PutOutcome, AuthorizedKey)> {
    check_names(caller, &key.dns_names)?;
    Ok(match caller.role {
        Role::Push => store.push_key(key).await?,
        Role::Admin => store.put_key(key).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctguard::scope::NameScope;

    fn push(scope: Option<&[&str]>) -> Caller {
        Caller {
            role: Role::Push,
            label: "lb:shop".into(),
            scope: scope.map(|s| NameScope::parse(s).unwrap()),
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn admin_writes_anything_push_must_name_something() {
        let admin = Caller {
            role: Role::Admin,
            label: "ops".into(),
            scope: None,
        };
        assert!(check_names(&admin, &[]).is_ok());
        assert_eq!(
            check_names(&push(None), &[]).unwrap_err().code,
            "missing_field"
        );
        assert!(check_names(&push(None), &names(&["anything.example.net"])).is_ok());
    }

    #[test]
    fn out_of_scope_names_are_listed_bounded() {
        let caller = push(Some(&["shop.example.com"]));
        assert!(check_names(&caller, &names(&["shop.example.com", "*.shop.example.com"])).is_ok());
        let err = check_names(&caller, &names(&["shop.example.com", "*.example.com"])).unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::FORBIDDEN, "out_of_scope")
        );
        assert!(err.message.contains("\"*.example.com\""), "{}", err.message);
        assert!(
            !err.message.contains("\"shop.example.com\""),
            "{}",
            err.message
        );

        let many: Vec<String> = (0..500)
            .map(|i| format!("{}{i}.example.org", "x".repeat(200)))
            .collect();
        let err = check_names(&caller, &many).unwrap_err();
        assert!(err.message.contains("and 496 more"), "{}", err.message);
        assert!(err.message.len() < 2000, "{} bytes", err.message.len());
    }
}
