//! Control of the emulator's optional GSI lag (`infra/local-aws/gsi_lag.py`): with a delay set
//! for a table's index, a Query on that GSI does not see items written less than that many
//! seconds ago, as DynamoDB's eventually consistent GSIs may not. Set per table, so tests that
//! share the emulator are not affected.

use serde_json::json;

/// The wrapper's control endpoint.
pub const PATH: &str = "/ctguard-api/gsi-delay";

/// Every global secondary index of a table.
pub const ALL_INDEXES: &str = "*";

/// Hides items written in the last `seconds` from Query/Scan on `index` (or every GSI with
/// [`ALL_INDEXES`]) of `table`; `0.0` removes the delay.
pub async fn delay_gsi(endpoint: &str, table: &str, index: &str, seconds: f64) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}{PATH}"))
        .json(&json!({"table": table, "index": index, "seconds": seconds}))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| {
            panic!("setting the emulator's GSI delay failed ({e}): restart it with infra/local-aws/stop, make emulator")
        });
    let settings: serde_json::Value = response.json().await.expect("GSI delay settings are JSON");
    let applied = settings["delays"].as_array().is_some_and(|delays| {
        delays
            .iter()
            .any(|d| d["table"] == table && d["index"] == index)
            == (seconds > 0.0)
    });
    assert!(
        applied,
        "the emulator did not apply the GSI delay: {settings}"
    );
}
