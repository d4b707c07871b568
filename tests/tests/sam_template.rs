//! template.yaml passes SAM's and cfn-lint's checks, and keeps the promises the code relies on:
//! least privilege (no wildcard actions or resources, every DynamoDB call the store makes is
//! allowed), one poll run at a time with a failure destination, secrets only by SSM name.

use std::collections::BTreeSet;
use std::path::Path;

use ctguard_tests::sam::{self, repo_root, tool};
use serde_json::Value;

fn template() -> Value {
    sam::template_json(&repo_root().join("template.yaml"))
}

fn run_checker(name: &str, args: &[&str]) -> String {
    let out = tool(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{name} {}` failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    text
}

#[test]
fn sam_validate_passes() {
    let out = run_checker("sam", &["validate", "--region", "us-east-1"]);
    assert!(out.contains("is a valid SAM Template"), "{out}");
}

#[test]
fn sam_validate_lint_passes_without_findings() {
    let out = run_checker("sam", &["validate", "--lint", "--region", "us-east-1"]);
    assert!(out.contains("is a valid SAM Template"), "{out}");
    // cfn-lint findings are printed as `W1234 …` / `E1234 …` / `I1234 …` lines.
    let findings: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.len() > 5
                && l.starts_with(['E', 'W', 'I'])
                && l[1..5].chars().all(|c| c.is_ascii_digit())
        })
        .collect();
    assert!(findings.is_empty(), "lint findings: {findings:#?}");
}

#[test]
fn cfn_lint_passes_without_warnings() {
    // Exit status 0 means no errors, warnings or informational findings.
    run_checker("cfn-lint", &["template.yaml"]);
}

fn resources(template: &Value) -> &serde_json::Map<String, Value> {
    template["Resources"].as_object().expect("Resources")
}

fn functions(template: &Value) -> Vec<(&String, &Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect()
}

/// Every statement of a function's inline policies, through `Fn::If` branches.
fn statements(function: &Value) -> Vec<Value> {
    fn collect(policy: &Value, out: &mut Vec<Value>) {
        if let Some(branches) = policy.get("Fn::If").and_then(Value::as_array) {
            for branch in branches.iter().skip(1) {
                collect(branch, out);
            }
        } else if let Some(list) = policy.get("Statement").and_then(Value::as_array) {
            out.extend(list.iter().cloned());
        }
    }
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        collect(policy, &mut out);
    }
    out
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

#[test]
fn function_policies_name_their_actions_and_resources() {
    let template = template();
    for (name, function) in functions(&template) {
        let statements = statements(function);
        assert!(!statements.is_empty(), "{name} has no policy statements");
        for statement in statements {
            for action in as_list(&statement["Action"]) {
                let action = action.as_str().unwrap_or_default();
                assert!(
                    !action.contains('*'),
                    "{name}: wildcard action {action} in {statement}"
                );
            }
            for resource in as_list(&statement["Resource"]) {
                // Also inside `!Sub` text: `${Table.Arn}/index/*` grants indexes nobody named.
                assert!(
                    !resource.to_string().contains('*'),
                    "{name}: wildcard resource {resource} in {statement}"
                );
            }
        }
    }
}

/// The IAM actions behind the AWS SDK calls in the Rust sources under `dir`.
fn aws_actions_called(dir: &Path) -> BTreeSet<&'static str> {
    const CALLS: &[(&str, &str)] = &[
        (".get_parameter()", "ssm:GetParameter"),
        (".get_parameters()", "ssm:GetParameters"),
        (".get_parameters_by_path()", "ssm:GetParametersByPath"),
        (".get_secret_value()", "secretsmanager:GetSecretValue"),
        (".get_item()", "dynamodb:GetItem"),
        (".put_item()", "dynamodb:PutItem"),
        (".update_item()", "dynamodb:UpdateItem"),
        (".delete_item()", "dynamodb:DeleteItem"),
        (".query()", "dynamodb:Query"),
        (".scan()", "dynamodb:Scan"),
        (".batch_get_item()", "dynamodb:BatchGetItem"),
        (".batch_write_item()", "dynamodb:BatchWriteItem"),
        // Transactions are authorised per item action.
        ("Put::builder()", "dynamodb:PutItem"),
        ("Update::builder()", "dynamodb:UpdateItem"),
        ("Delete::builder()", "dynamodb:DeleteItem"),
        ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
        (".transact_get_items()", "dynamodb:GetItem"),
    ];
    let sources = rust_sources(dir);
    CALLS
        .iter()
        .filter(|(call, _)| sources.contains(call))
        .map(|(_, action)| *action)
        .collect()
}

fn granted_actions(function: &Value) -> BTreeSet<String> {
    statements(function)
        .iter()
        .flat_map(|s| as_list(&s["Action"]))
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_dynamodb_call_of_the_store_is_allowed_to_some_function() {
    let template = template();
    let granted: BTreeSet<String> = functions(&template)
        .iter()
        .flat_map(|(_, f)| granted_actions(f))
        .filter(|a| a.starts_with("dynamodb:"))
        .collect();
    let store = repo_root().join("shared/src/store");
    let called = aws_actions_called(&store);
    assert!(
        called.len() >= 4,
        "found too few DynamoDB calls in {}: {called:?}",
        store.display()
    );
    let missing: Vec<_> = called.iter().filter(|a| !granted.contains(**a)).collect();
    assert!(
        missing.is_empty(),
        "the store calls {missing:?} but no function may"
    );
}

/// The `Ref` inside a `*_PARAM` variable's value (`!Ref P` or `!If [C, !Ref P, NoValue]`).
fn parameter_ref(value: &Value) -> Option<String> {
    if let Some(name) = value.get("Ref").and_then(Value::as_str) {
        return (name != "AWS::NoValue").then(|| name.to_owned());
    }
    value
        .get("Fn::If")
        .and_then(Value::as_array)
        .and_then(|branches| branches.iter().skip(1).find_map(parameter_ref))
}

#[test]
fn each_function_may_read_exactly_the_ssm_parameters_it_is_given() {
    let template = template();
    let secrets_source =
        std::fs::read_to_string(repo_root().join("shared/src/secrets.rs")).expect("secrets.rs");
    assert!(
        secrets_source.contains(".get_parameter()")
            && secrets_source.contains(".with_decryption(true)"),
        "SecureStrings are read with GetParameter and decryption"
    );
    let mut checked = 0;
    for (name, function) in functions(&template) {
        let variables = function["Properties"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let expected: BTreeSet<String> = variables
            .iter()
            .filter(|(var, _)| var.ends_with("_PARAM"))
            .map(|(var, value)| {
                parameter_ref(value).unwrap_or_else(|| panic!("{name}: {var} is not !Ref X"))
            })
            .map(|parameter| {
                format!(
                    "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{{parameter}}}"
                )
            })
            .collect();
        // The code reads every *_PARAM variable the template sets.
        let code_dir =
            repo_root().join(function["Properties"]["CodeUri"].as_str().expect("CodeUri"));
        let code = rust_sources(&code_dir.join("src"));
        for var in variables.keys().filter(|v| v.ends_with("_PARAM")) {
            assert!(
                code.contains(&format!("\"{var}\"")),
                "{name}: the template sets {var} but {} never reads it",
                code_dir.display()
            );
        }
        let ssm: Vec<Value> = statements(function)
            .into_iter()
            .filter(|s| {
                as_list(&s["Action"])
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| a.starts_with("ssm:")))
            })
            .collect();
        let mut granted = BTreeSet::new();
        for statement in &ssm {
            assert_eq!(
                as_list(&statement["Action"]),
                [Value::from("ssm:GetParameter")],
                "{name}: only ssm:GetParameter: {statement}"
            );
            for resource in as_list(&statement["Resource"]) {
                let arn = resource["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: SSM resource is not !Sub: {resource}"));
                granted.insert(arn.to_owned());
            }
        }
        assert_eq!(granted, expected, "{name}: SSM grants vs *_PARAM variables");
        checked += expected.len();
    }
    assert_eq!(
        checked, 3,
        "API_TOKENS_PARAM, CURSOR_KEY_PARAM and CERTSPOTTER_API_TOKEN_PARAM"
    );
}

/// Every `.rs` file under `dir`, concatenated.
fn rust_sources(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .expect("read dir")
                    .map(|e| e.expect("entry").path()),
            );
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).expect("read source"));
        }
    }
    text
}

#[test]
fn every_secret_call_of_the_shared_code_is_allowed_to_some_function() {
    let template = template();
    let granted: BTreeSet<String> = functions(&template)
        .iter()
        .flat_map(|(_, f)| granted_actions(f))
        .collect();
    let shared = repo_root().join("shared/src");
    let called: BTreeSet<_> = aws_actions_called(&shared)
        .into_iter()
        .filter(|a| !a.starts_with("dynamodb:"))
        .collect();
    assert!(
        called.contains("ssm:GetParameter"),
        "no SSM call found in {}: {called:?}",
        shared.display()
    );
    let missing: Vec<_> = called.iter().filter(|a| !granted.contains(**a)).collect();
    assert!(
        missing.is_empty(),
        "the code calls {missing:?} but no function may"
    );
}

#[test]
fn functions_run_bootstrap_on_al2023_with_json_logs() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(
        globals["Architectures"],
        serde_json::json!([{"Ref": "Architecture"}])
    );
    assert_eq!(template["Parameters"]["Architecture"]["Default"], "arm64");
    for (name, function) in functions(&template) {
        let properties = &function["Properties"];
        assert_eq!(properties["LoggingConfig"]["LogFormat"], "JSON", "{name}");
        assert!(
            properties["Timeout"].as_u64().is_some(),
            "{name} sets no Timeout"
        );
        assert!(
            properties["MemorySize"].as_u64().is_some(),
            "{name} sets no MemorySize"
        );
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
    }
}

#[test]
fn poller_runs_alone_on_a_schedule_with_a_failure_destination() {
    let template = template();
    let poller = &template["Resources"]["PollerFunction"]["Properties"];
    assert_eq!(poller["ReservedConcurrentExecutions"], 1);
    let events: Vec<&Value> = poller["Events"]
        .as_object()
        .expect("Events")
        .values()
        .collect();
    assert!(
        events.iter().any(|e| e["Type"] == "Schedule"),
        "no EventBridge schedule"
    );
    let invoke = &poller["EventInvokeConfig"];
    assert!(
        invoke["MaximumRetryAttempts"].as_u64().is_some(),
        "retries left to the default"
    );
    assert!(
        invoke["DestinationConfig"]["OnFailure"]["Destination"].is_object(),
        "no on-failure destination"
    );
}

#[test]
fn secrets_are_passed_by_ssm_parameter_name_only() {
    let template = template();
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template");
    for (name, function) in functions(&template) {
        let variables = function["Properties"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // Only declared for local runs and removed on deploy (`!Ref AWS::NoValue`).
        let no_value = serde_json::json!({"Ref": "AWS::NoValue"});
        for plain in ["CERTSPOTTER_API_TOKEN", "API_TOKENS", "CURSOR_KEY"] {
            if let Some(value) = variables.get(plain) {
                assert_eq!(
                    value, &no_value,
                    "{name} sets the secret {plain} in the template"
                );
            }
        }
    }
    for parameter in [
        "CertSpotterTokenParameter",
        "ApiTokensParameter",
        "CursorKeyParameter",
    ] {
        let pattern = template["Parameters"][parameter]["AllowedPattern"]
            .as_str()
            .unwrap_or_default();
        assert!(
            pattern.contains('/'),
            "{parameter} must be an SSM parameter name"
        );
    }
    assert!(
        !text.contains("{{resolve:"),
        "dynamic references would put the secret in the function's configuration"
    );
}

/// The cursor signing key: a parameter with a default name (as `make secrets` creates it), the
/// API's `CURSOR_KEY_PARAM` in both auth modes, and `ssm:GetParameter` on exactly that
/// parameter's ARN for the API's role alone.
#[test]
fn the_cursor_key_parameter_is_read_by_the_api_alone() {
    let template = template();
    let parameter = &template["Parameters"]["CursorKeyParameter"];
    assert_eq!(parameter["Type"], "String");
    assert_eq!(parameter["Default"], "/ctguard/cursor-key");
    let arn =
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${CursorKeyParameter}";
    let mut readers = Vec::new();
    for (name, function) in functions(&template) {
        let variables = &function["Properties"]["Environment"]["Variables"];
        let reads = statements(function).iter().any(|s| {
            as_list(&s["Resource"])
                .iter()
                .any(|r| r["Fn::Sub"].as_str() == Some(arn))
        });
        if reads {
            assert_eq!(
                variables["CURSOR_KEY_PARAM"],
                serde_json::json!({"Ref": "CursorKeyParameter"}),
                "{name}: CURSOR_KEY_PARAM is the parameter, in every auth mode"
            );
            readers.push(name.clone());
        } else {
            assert!(variables.get("CURSOR_KEY_PARAM").is_none(), "{name}");
        }
    }
    assert_eq!(readers, ["ApiFunction"]);
}

#[test]
fn the_public_api_has_a_reserved_concurrency_parameter() {
    let template = template();
    let parameter = &template["Parameters"]["ApiReservedConcurrency"];
    assert_eq!(parameter["Type"], "Number");
    let default = parameter["Default"].as_u64().expect("a numeric default");
    let max = parameter["MaxValue"].as_u64().expect("an upper bound");
    assert!(
        (1..=max).contains(&default) && parameter["MinValue"].as_u64() >= Some(1),
        "{parameter}"
    );
    // The function takes it; 0 would disable the API, no value would leave it unbounded.
    assert_eq!(
        template["Resources"]["ApiFunction"]["Properties"]["ReservedConcurrentExecutions"],
        serde_json::json!({"Ref": "ApiReservedConcurrency"})
    );
}

#[test]
fn iam_mode_passes_both_principal_lists_to_the_api() {
    let template = template();
    let variables = &template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    for (var, parameter) in [
        ("IAM_ADMIN_PRINCIPALS", "IamAdminPrincipals"),
        ("IAM_PUSH_PRINCIPALS", "IamPushPrincipals"),
    ] {
        assert_eq!(
            variables[var]["Fn::If"][2],
            serde_json::json!({"Ref": parameter}),
            "{var}"
        );
        assert_eq!(template["Parameters"][parameter]["Type"], "String");
    }
}

/// Every metric the alarms watch in the `ctguard` namespace, by alarm.
fn ctguard_alarm_metrics(template: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, resource) in resources(template) {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let props = &resource["Properties"];
        if props["Namespace"] == "ctguard" {
            found.push((
                name.clone(),
                props["MetricName"].as_str().unwrap_or("").to_owned(),
            ));
        }
        for metric in props["Metrics"].as_array().into_iter().flatten() {
            let m = &metric["MetricStat"]["Metric"];
            if m["Namespace"] == "ctguard" {
                found.push((
                    name.clone(),
                    m["MetricName"].as_str().unwrap_or("").to_owned(),
                ));
            }
        }
    }
    found
}

/// Also: every alarm on the poller's own metrics (namespace `ctguard`) watches a metric the
/// run's EMF record declares, so no alarm waits on a metric that never comes.
#[test]
fn proof_of_watching_is_deployed_by_default_and_alarmed() {
    let template = template();
    // The canary is on by default: `make deploy` (sam deploy --guided) offers this default.
    assert_eq!(
        template["Parameters"]["CanaryDomain"]["Default"],
        "test.certspotter.org"
    );
    let poller_env =
        &template["Resources"]["PollerFunction"]["Properties"]["Environment"]["Variables"];
    assert!(
        poller_env["CANARY_DOMAIN"]
            .to_string()
            .contains("CanaryDomain"),
        "the poller does not get the canary: {}",
        poller_env["CANARY_DOMAIN"]
    );
    for var in ["CANARY_WINDOW", "CANARY_POLL_INTERVAL", "NOT_LOGGED_WINDOW"] {
        assert!(!poller_env[var].is_null(), "{var} not set");
    }
    // The API sends POST /alerts/test through the same topic.
    let api_env = &template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert!(!api_env["ALERT_TOPIC_ARN"].is_null());

    // Each alarm watches a metric the poller's EMF record declares.
    let emf = poller::RunReport::new("r".into(), chrono::Utc::now()).emf();
    let declared: BTreeSet<&str> = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .expect("declared metrics")
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    let alarms = ctguard_alarm_metrics(&template);
    for (alarm, metric) in &alarms {
        assert!(
            declared.contains(metric.as_str()),
            "{alarm} watches undeclared {metric}"
        );
    }
    for metric in [
        "CanaryBlind",
        "MaxEntryLagSeconds",
        "PushedNotLogged",
        "EntriesStuck",
    ] {
        assert!(
            alarms.iter().any(|(_, m)| m == metric),
            "no alarm on {metric}: {alarms:?}"
        );
    }
    assert_eq!(
        template["Resources"]["EntryLagAlarm"]["Properties"]["Threshold"],
        serde_json::json!({"Ref": "MaxEntryLagHours"})
    );
}
