//! Least privilege, checked per function: what each function's role in `template.yaml` grants,
//! resolved to concrete ARNs, against what the emulator recorded each function calling.
//!
//! The tests run every function with its own access key id ([`crate::aws::TestAws::function_key`]);
//! the moto wrapper records each call as (key id, IAM action, resource ARN)
//! (`infra/local-aws/call_log.py`). This module reads that record ([`recorded_calls`]) and the
//! template's policies ([`function_grants`]): inline statements and SAM policy templates (expanded
//! from SAM's own `policy_templates.json`), inside `Fn::If` branches whose conditions are
//! evaluated with the deployment's parameters, with `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`
//! resolved to the test's tables, topic and parameters ([`Bindings`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use ctguard::store::dynamo::TableNames;

/// moto's account (every test key maps to it), and the tests' region.
pub const ACCOUNT_ID: &str = "123456789012";

/// One distinct recorded call: the caller's key id, the IAM action, the resource, how often.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedCall {
    pub key_id: String,
    pub action: String,
    pub resource: String,
    pub count: u64,
}

/// The emulator's call record for key ids starting with `key_prefix`.
pub async fn recorded_calls(endpoint: &str, key_prefix: &str) -> Vec<RecordedCall> {
    #[derive(Deserialize)]
    struct Record {
        calls: Vec<RecordedCall>,
    }
    let url = format!("{endpoint}/ctguard-api/calls");
    let record: Record = reqwest::Client::new()
        .get(&url)
        .query(&[("key_prefix", key_prefix)])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| {
            panic!(
                "GET {url}: {e}. The emulator must be the repository's moto wrapper \
                 (infra/local-aws/start); restart it after changing infra/local-aws/*.py"
            )
        })
        .json()
        .await
        .expect("the call record is JSON");
    record.calls
}

/// One permission: an IAM action on one resource ARN, with the statement's condition (if any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    pub resource: String,
    /// `{"StringEquals": {"ses:FromAddress": "…"}}` and the like, resolved; `Null` when none.
    pub condition: String,
}

/// What the template's intrinsic functions resolve to in one deployment (here: one test).
#[derive(Debug, Clone)]
pub struct Bindings {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// Parameter values: the template's defaults, then the overrides.
    pub parameters: BTreeMap<String, String>,
    /// Logical id → the value of `!Ref` and of each `!GetAtt` attribute.
    pub resources: BTreeMap<String, (String, BTreeMap<String, String>)>,
}

impl Bindings {
    /// The template's parameter defaults; no resources yet.
    pub fn new(template: &Value, region: &str) -> Self {
        let parameters = template["Parameters"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, p)| {
                let default = match &p["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((name.clone(), default))
            })
            .collect();
        Self {
            partition: "aws".into(),
            region: region.into(),
            account: ACCOUNT_ID.into(),
            parameters,
            resources: BTreeMap::new(),
        }
    }

    pub fn parameter(mut self, name: &str, value: &str) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }

    /// A DynamoDB table: `!Ref` is its name, `!GetAtt .Arn` its ARN.
    pub fn table(mut self, logical_id: &str, name: &str) -> Self {
        let arn = format!(
            "arn:{}:dynamodb:{}:{}:table/{name}",
            self.partition, self.region, self.account
        );
        self.resources.insert(
            logical_id.into(),
            (name.into(), BTreeMap::from([("Arn".into(), arn)])),
        );
        self
    }

    /// The template's three tables (`WatchesTable`, `InventoryTable`, `AlertsTable`).
    pub fn tables(self, tables: &TableNames) -> Self {
        self.table("WatchesTable", &tables.watches)
            .table("InventoryTable", &tables.inventory)
            .table("AlertsTable", &tables.alerts)
    }

    /// An SNS topic: `!Ref` is its ARN, `!GetAtt .TopicName` its name.
    pub fn topic(mut self, logical_id: &str, arn: &str) -> Self {
        let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
        self.resources.insert(
            logical_id.into(),
            (
                arn.into(),
                BTreeMap::from([("TopicName".into(), name), ("TopicArn".into(), arn.into())]),
            ),
        );
        self
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Partition" => self.partition.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => "ctguard".into(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str, locals: &BTreeMap<String, Value>) -> Result<Value, String> {
        if name == "AWS::NoValue" {
            return Ok(Value::Null);
        }
        if let Some(value) = locals.get(name) {
            return Ok(value.clone());
        }
        self.pseudo(name)
            .or_else(|| self.parameters.get(name).cloned())
            .or_else(|| self.resources.get(name).map(|(r, _)| r.clone()))
            .map(Value::String)
            .ok_or_else(|| format!("!Ref {name}: not bound"))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, String> {
        self.resources
            .get(resource)
            .and_then(|(_, attributes)| attributes.get(attribute))
            .cloned()
            .ok_or_else(|| format!("!GetAtt {resource}.{attribute}: not bound"))
    }

    /// Replaces `${X}`, `${X.Attr}` and `${!Literal}` in a `Fn::Sub` string.
    fn substitute(&self, text: &str, locals: &BTreeMap<String, Value>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if locals.contains_key(name) || !name.contains('.') {
                match self.reference(name, locals)? {
                    Value::String(s) => out.push_str(&s),
                    other => return Err(format!("${{{name}}} is not a string: {other}")),
                }
            } else {
                let (resource, attribute) = name.split_once('.').unwrap_or((name, ""));
                out.push_str(&self.attribute(resource, attribute)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Evaluates a template condition by name.
    pub fn condition(&self, template: &Value, name: &str) -> Result<bool, String> {
        let definition = template["Conditions"]
            .get(name)
            .ok_or_else(|| format!("no condition {name}"))?;
        self.condition_value(template, definition)
    }

    fn condition_value(&self, template: &Value, value: &Value) -> Result<bool, String> {
        let Some((function, args)) = single_key(value) else {
            return Err(format!("not a condition: {value}"));
        };
        let list = || args.as_array().cloned().unwrap_or_default();
        match function {
            "Condition" => self.condition(template, args.as_str().unwrap_or_default()),
            "Fn::Equals" => {
                let items = list();
                let none = BTreeMap::new();
                match items.as_slice() {
                    [a, b] => Ok(self.eval(template, a, &none)? == self.eval(template, b, &none)?),
                    _ => Err(format!("Fn::Equals needs two values: {value}")),
                }
            }
            "Fn::Not" => {
                Ok(!self.condition_value(template, list().first().unwrap_or(&Value::Null))?)
            }
            "Fn::And" => list()
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.condition_value(template, c)?)),
            "Fn::Or" => {
                list().iter().try_fold(
                    false,
                    |acc, c| Ok(acc || self.condition_value(template, c)?),
                )
            }
            other => Err(format!("unsupported condition function {other}")),
        }
    }

    /// Resolves every intrinsic function in `value` to plain JSON; `AWS::NoValue` disappears.
    pub fn eval(
        &self,
        template: &Value,
        value: &Value,
        locals: &BTreeMap<String, Value>,
    ) -> Result<Value, String> {
        if let Some((function, args)) = single_key(value) {
            match function {
                "Ref" => return self.reference(args.as_str().unwrap_or_default(), locals),
                "Fn::GetAtt" => {
                    let parts: Vec<&str> = match args {
                        Value::String(s) => s.splitn(2, '.').collect(),
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    return match parts.as_slice() {
                        [resource, attribute] => {
                            self.attribute(resource, attribute).map(Value::String)
                        }
                        _ => Err(format!("bad Fn::GetAtt {args}")),
                    };
                }
                "Fn::Sub" => {
                    let (text, variables) = match args {
                        Value::String(s) => (s.clone(), BTreeMap::new()),
                        Value::Array(a) if a.len() == 2 => {
                            let mut vars = locals.clone();
                            for (k, v) in a[1].as_object().into_iter().flatten() {
                                vars.insert(k.clone(), self.eval(template, v, locals)?);
                            }
                            (a[0].as_str().unwrap_or_default().to_owned(), vars)
                        }
                        _ => return Err(format!("bad Fn::Sub {args}")),
                    };
                    let scope = if variables.is_empty() {
                        locals
                    } else {
                        &variables
                    };
                    return self.substitute(&text, scope).map(Value::String);
                }
                "Fn::If" => {
                    let branches = args.as_array().cloned().unwrap_or_default();
                    let [condition, yes, no] = branches.as_slice() else {
                        return Err(format!("bad Fn::If {args}"));
                    };
                    let chosen =
                        if self.condition(template, condition.as_str().unwrap_or_default())? {
                            yes
                        } else {
                            no
                        };
                    return self.eval(template, chosen, locals);
                }
                "Fn::Join" => {
                    let parts = args.as_array().cloned().unwrap_or_default();
                    let [separator, items] = parts.as_slice() else {
                        return Err(format!("bad Fn::Join {args}"));
                    };
                    let items = self.eval(template, items, locals)?;
                    let strings: Vec<String> = items
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v.as_str().unwrap_or_default().to_owned())
                        .collect();
                    return Ok(Value::String(
                        strings.join(separator.as_str().unwrap_or_default()),
                    ));
                }
                other if other.starts_with("Fn::") => {
                    return Err(format!("unsupported intrinsic {other}"));
                }
                _ => {}
            }
        }
        Ok(match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.eval(template, v, locals))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|v| !v.is_null())
                    .collect(),
            ),
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let v = self.eval(template, v, locals)?;
                    if !v.is_null() {
                        out.insert(k.clone(), v);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

fn single_key(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    (map.len() == 1).then(|| map.iter().next().map(|(k, v)| (k.as_str(), v)))?
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// SAM's policy templates, from the SAM CLI the tests install (`infra/sam/install`).
fn sam_policy_templates() -> Result<Value, String> {
    let lib = crate::sam::tools_dir()
        .parent()
        .ok_or("no .local")?
        .join("sam/lib");
    let candidates: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map_err(|e| format!("{}: {e}", lib.display()))?
        .filter_map(Result::ok)
        .map(|e| {
            e.path()
                .join("site-packages/samtranslator/policy_templates_data/policy_templates.json")
        })
        .filter(|p| p.is_file())
        .collect();
    let path = candidates.first().ok_or_else(|| {
        format!(
            "no samtranslator policy_templates.json under {}",
            lib.display()
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Every function's grants (`AWS::Serverless::Function` logical id → grants), resolved with
/// `bindings`. Errors on what cannot be proven: a managed policy, a Deny, NotAction or
/// NotResource, an unbound reference.
pub fn function_grants(
    template: &Value,
    bindings: &Bindings,
) -> Result<BTreeMap<String, BTreeSet<Grant>>, String> {
    let mut out = BTreeMap::new();
    let mut sam_templates: Option<Value> = None;
    let none = BTreeMap::new();
    for (name, resource) in template["Resources"].as_object().into_iter().flatten() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let policies = bindings.eval(template, &resource["Properties"]["Policies"], &none)?;
        let mut statements = Vec::new();
        for policy in as_list(&policies) {
            match &policy {
                Value::String(managed) => {
                    return Err(format!(
                        "{name}: managed policy {managed} cannot be checked resource by resource"
                    ));
                }
                Value::Object(map) if map.contains_key("Statement") => {
                    statements.extend(as_list(&map["Statement"]));
                }
                Value::Object(map) if map.len() == 1 => {
                    let (template_name, parameters) = map.iter().next().expect("one key");
                    if sam_templates.is_none() {
                        sam_templates = Some(sam_policy_templates()?);
                    }
                    let templates = sam_templates.as_ref().expect("loaded above");
                    let definition = &templates["Templates"][template_name]["Definition"];
                    if definition.is_null() {
                        return Err(format!(
                            "{name}: unknown SAM policy template {template_name}"
                        ));
                    }
                    let locals: BTreeMap<String, Value> = parameters
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let expanded = bindings.eval(template, definition, &locals)?;
                    statements.extend(as_list(&expanded["Statement"]));
                }
                other => return Err(format!("{name}: unreadable policy {other}")),
            }
        }
        let mut grants = BTreeSet::new();
        for statement in statements {
            if statement["Effect"] != "Allow" {
                return Err(format!(
                    "{name}: only Allow statements are supported: {statement}"
                ));
            }
            for unsupported in ["NotAction", "NotResource", "NotPrincipal"] {
                if !statement[unsupported].is_null() {
                    return Err(format!("{name}: {unsupported} in {statement}"));
                }
            }
            let condition = statement["Condition"].to_string();
            for action in as_list(&statement["Action"]) {
                for resource in as_list(&statement["Resource"]) {
                    grants.insert(Grant {
                        action: action.as_str().unwrap_or_default().to_owned(),
                        resource: resource.as_str().unwrap_or_default().to_owned(),
                        condition: condition.clone(),
                    });
                }
            }
        }
        out.insert(name.clone(), grants);
    }
    Ok(out)
}

/// The request context IAM would evaluate a statement's condition against, for a recorded call
/// (only what the tests need: SES's sender address, which the record's identity ARN names).
fn condition_context(action: &str, resource: &str) -> BTreeMap<String, String> {
    let mut context = BTreeMap::new();
    if let Some((_, identity)) = resource.split_once(":identity/")
        && action.eq_ignore_ascii_case("ses:SendEmail")
    {
        context.insert("ses:FromAddress".to_owned(), identity.to_owned());
    }
    context
}

/// Whether a resolved condition holds in `context` (fail closed: any other operator, or a key
/// the context lacks, does not hold).
fn condition_holds(condition: &str, context: &BTreeMap<String, String>) -> bool {
    let Ok(condition) = serde_json::from_str::<Value>(condition) else {
        return false;
    };
    match &condition {
        Value::Null => true,
        Value::Object(operators) => operators.iter().all(|(operator, tests)| {
            operator == "StringEquals"
                && tests.as_object().is_some_and(|tests| {
                    tests.iter().all(|(key, expected)| {
                        let actual = context.get(key);
                        as_list(expected).iter().any(|e| {
                            e.as_str().is_some() && e.as_str() == actual.map(String::as_str)
                        })
                    })
                })
        }),
        _ => false,
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one character.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], text)
                || (!text.is_empty() && wildcard_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

impl Grant {
    /// Whether this grant allows `action` on `resource` as IAM evaluates it (actions are
    /// case-insensitive; `*` and `?` are wildcards, which the tests also forbid outright).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        wildcard_match(
            self.action.to_ascii_lowercase().as_bytes(),
            action.to_ascii_lowercase().as_bytes(),
        ) && wildcard_match(self.resource.as_bytes(), resource.as_bytes())
            && condition_holds(&self.condition, &condition_context(action, resource))
    }

    pub fn has_wildcard(&self) -> bool {
        self.action.contains(['*', '?']) || self.resource.contains(['*', '?'])
    }
}

/// The calls recorded for `key_id` that `function`'s role (resolved with `bindings`) does not
/// grant, as `ACTION on RESOURCE` lines; and how many calls were recorded.
pub async fn ungranted_calls(
    endpoint: &str,
    key_id: &str,
    template: &Value,
    function: &str,
    bindings: &Bindings,
) -> (Vec<String>, usize) {
    let grants = function_grants(template, bindings).expect("the policies resolve");
    let role = grants
        .get(function)
        .unwrap_or_else(|| panic!("no function {function} in the template"));
    let calls: Vec<RecordedCall> = recorded_calls(endpoint, key_id)
        .await
        .into_iter()
        .filter(|c| c.key_id == key_id)
        .collect();
    let denied = calls
        .iter()
        .filter(|c| !role.iter().any(|g| g.allows(&c.action, &c.resource)))
        .map(|c| format!("{} on {}", c.action, c.resource))
        .collect();
    (denied, calls.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({
            "Parameters": {"Mail": {"Type": "String", "Default": ""}},
            "Conditions": {"Mails": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Mail"}, ""]}]}},
            "Resources": {
                "T": {"Type": "AWS::DynamoDB::Table"},
                "F": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [
                    {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"],
                        "Resource": [{"Fn::GetAtt": ["T", "Arn"]}, {"Fn::Sub": "${T.Arn}/index/i"}]}]},
                    {"Fn::If": ["Mails", {"Statement": [{"Effect": "Allow", "Action": "ses:SendEmail",
                        "Resource": {"Fn::Sub": ["arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Id}", {"Id": {"Ref": "Mail"}}]},
                        "Condition": {"StringEquals": {"ses:FromAddress": {"Ref": "Mail"}}}}]},
                        {"Ref": "AWS::NoValue"}]}
                ]}}
            }
        })
    }

    #[test]
    fn statements_resolve_through_conditions_and_intrinsics() {
        let t = template();
        let bindings = Bindings::new(&t, "us-east-1").table("T", "tbl");
        let grants = function_grants(&t, &bindings).unwrap();
        let f = &grants["F"];
        assert_eq!(f.len(), 2, "{f:?}");
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/tbl";
        assert!(f.iter().any(|g| g.allows("dynamodb:GetItem", arn)));
        assert!(
            f.iter()
                .any(|g| g.allows("DynamoDB:getitem", &format!("{arn}/index/i")))
        );
        assert!(!f.iter().any(|g| g.allows("dynamodb:PutItem", arn)));
        assert!(
            !f.iter()
                .any(|g| g.allows("dynamodb:GetItem", &format!("{arn}/index/j")))
        );

        let bindings = bindings.parameter("Mail", "a@x.test");
        let grants = function_grants(&t, &bindings).unwrap();
        let identity = "arn:aws:ses:us-east-1:123456789012:identity/a@x.test";
        assert!(
            grants["F"]
                .iter()
                .any(|g| g.allows("ses:SendEmail", identity))
        );
        let other = "arn:aws:ses:us-east-1:123456789012:identity/b@x.test";
        assert!(!grants["F"].iter().any(|g| g.allows("ses:SendEmail", other)));
    }

    #[test]
    fn what_cannot_be_proven_is_an_error() {
        let mut t = template();
        t["Resources"]["F"]["Properties"]["Policies"] = json!(["AmazonDynamoDBFullAccess"]);
        let bindings = Bindings::new(&t, "us-east-1").table("T", "tbl");
        assert!(
            function_grants(&t, &bindings)
                .unwrap_err()
                .contains("managed policy")
        );
        t["Resources"]["F"]["Properties"]["Policies"] = json!([{"Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "Nope"}}]}]);
        assert!(function_grants(&t, &bindings).unwrap_err().contains("Nope"));
    }
}
