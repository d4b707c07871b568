//! Who is calling: bearer tokens (stored only as SHA-256 with a role and a label) or, behind a
//! Function URL with `AuthType: AWS_IAM`, the IAM caller AWS already authenticated.

use http::header;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde::Deserialize;
use subtle::{ConditionallySelectable, ConstantTimeEq};

use ctguard::hash::Sha256Hash;
use ctguard::scope::NameScope;

use crate::error::{ApiError, ApiResult};
use crate::iam_principal::PrincipalPattern;
use crate::router::Access;

/// What a caller may do. `push` is for load balancers: POST /certs and POST /keys only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Push,
    Admin,
}

/// One configured token: the SHA-256 of the secret, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub sha256: Sha256Hash,
    pub role: Role,
    /// Recorded as the `source` of what this caller pushes, e.g. `lb:host-1`.
    pub label: String,
    /// Push tokens: the names this token may vouch for (watch-entry patterns such as
    /// `shop.example.com`, `*.cdn.example.com`); `None` is unscoped (any name).
    #[serde(default)]
    pub names: Option<NameScope>,
}

/// Why a token configuration is unusable. Messages never contain token material: not even
/// serde's, which quotes the offending value (a token pasted where its hash belongs).
#[derive(Debug, thiserror::Error)]
pub enum TokenConfigError {
    #[error(
        "not a JSON list of {{\"sha256\", \"role\", \"label\", \"names\"?}} objects \
         ({problem} at line {line}, column {column}; value not shown)"
    )]
    Json {
        problem: &'static str,
        line: usize,
        column: usize,
    },
    #[error("no tokens configured")]
    Empty,
    #[error("token #{index}: the label must be 1-128 printable characters")]
    BadLabel { index: usize },
    #[error("token #{index}: the same sha256 is configured twice")]
    DuplicateHash { index: usize },
    #[error("token #{index}: names scope push tokens only (an admin token may change anything)")]
    ScopedAdmin { index: usize },
}

/// Parses the token list, e.g. `[{"sha256":"…","role":"push","label":"lb:host-1"}]`.
/// Kept apart from the environment so the same JSON can come from SSM or Secrets Manager.
pub fn tokens_from_json(json: &str) -> Result<Vec<TokenEntry>, TokenConfigError> {
    let entries: Vec<TokenEntry> = serde_json::from_str(json).map_err(|e| {
        use serde_json::error::Category;
        TokenConfigError::Json {
            problem: match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => "not valid JSON",
                Category::Data => "a missing field, or a field of the wrong type or value",
            },
            line: e.line(),
            column: e.column(),
        }
    })?;
    if entries.is_empty() {
        return Err(TokenConfigError::Empty);
    }
    for (index, entry) in entries.iter().enumerate() {
        let label_ok = !entry.label.is_empty()
            && entry.label.chars().count() <= 128
            && !entry.label.chars().any(char::is_control);
        if !label_ok {
            return Err(TokenConfigError::BadLabel { index });
        }
        if entries[..index].iter().any(|e| e.sha256 == entry.sha256) {
            return Err(TokenConfigError::DuplicateHash { index });
        }
        if entry.role == Role::Admin && entry.names.is_some() {
            return Err(TokenConfigError::ScopedAdmin { index });
        }
    }
    Ok(entries)
}

/// How callers authenticate.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// `Authorization: Bearer <token>`, checked against the configured hashes.
    Bearer(Vec<TokenEntry>),
    /// The Function URL checked a SigV4 signature (`AuthType: AWS_IAM`); the caller is the IAM
    /// principal in the request context. A caller matching `admin_principals` is admin, else one
    /// matching `push_principals` is push; any other signed caller is refused (403). Matching
    /// rules: [`crate::iam_principal`].
    Iam {
        admin_principals: Vec<PrincipalPattern>,
        push_principals: Vec<PrincipalPattern>,
    },
}

impl AuthMode {
    /// Labels of the push credentials without a name scope: each may vouch for any name, so a
    /// leaked one could authorize certificates for every watched domain. Logged at cold start
    /// and listed by GET /status. (IAM push principals cannot be scoped yet.)
    pub fn unscoped_push_labels(&self) -> Vec<String> {
        match self {
            AuthMode::Bearer(tokens) => tokens
                .iter()
                .filter(|t| t.role == Role::Push && t.names.is_none())
                .map(|t| t.label.clone())
                .collect(),
            AuthMode::Iam {
                push_principals, ..
            } => push_principals
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    pub label: String,
    /// The names a push caller may vouch for; `None`: any (admin, or an unscoped push token).
    pub scope: Option<NameScope>,
}

impl Caller {
    /// 403 unless this caller's role may use a route with `access`.
    pub fn authorize(&self, access: Access) -> ApiResult<()> {
        match (access, self.role) {
            (Access::Public, _) | (_, Role::Admin) | (Access::Push, Role::Push) => Ok(()),
            (Access::Admin, Role::Push) => Err(ApiError::forbidden(
                "a push token may only POST /certs and POST /keys",
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Authenticator {
    mode: AuthMode,
}

impl Authenticator {
    pub fn new(mode: AuthMode) -> Self {
        Self { mode }
    }

    /// Identifies the caller, or 401.
    pub fn authenticate<B>(&self, request: &http::Request<B>) -> ApiResult<Caller> {
        match &self.mode {
            AuthMode::Bearer(tokens) => bearer_caller(tokens, request),
            AuthMode::Iam {
                admin_principals,
                push_principals,
            } => iam_caller(admin_principals, push_principals, request),
        }
    }
}

fn bearer_token<B>(request: &http::Request<B>) -> ApiResult<&[u8]> {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (Some(value), None) => value,
        (None, _) => {
            return Err(ApiError::unauthorized("send Authorization: Bearer <token>"));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::unauthorized("more than one Authorization header"));
        }
    };
    let value = value.as_bytes();
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .and_then(|_| value.get(7..))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization scheme must be Bearer"))?;
    Ok(token)
}

fn bearer_caller<B>(tokens: &[TokenEntry], request: &http::Request<B>) -> ApiResult<Caller> {
    let presented = Sha256Hash::digest(bearer_token(request)?);
    // Compare against every entry without an early exit, so timing does not tell which entry
    // (or whether any) matched.
    let mut found = subtle::Choice::from(0);
    let mut index = 0u32;
    for (i, entry) in tokens.iter().enumerate() {
        let equal = entry.sha256.as_bytes().ct_eq(presented.as_bytes());
        index.conditional_assign(&(i as u32), equal);
        found |= equal;
    }
    if !bool::from(found) {
        return Err(ApiError::unauthorized("unknown token"));
    }
    let entry = &tokens[index as usize];
    Ok(Caller {
        role: entry.role,
        label: entry.label.clone(),
        scope: entry.names.clone(),
    })
}

fn iam_caller<B>(
    admin_principals: &[PrincipalPattern],
    push_principals: &[PrincipalPattern],
    request: &http::Request<B>,
) -> ApiResult<Caller> {
    let arn = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone()),
        _ => None,
    }
    .filter(|arn| !arn.is_empty())
    .ok_or_else(|| ApiError::unauthorized("no IAM caller in the request (sign it with SigV4)"))?;
    let listed = |list: &[PrincipalPattern]| list.iter().any(|p| p.matches(&arn));
    // Admin first: a principal an operator listed as admin keeps its rights if a broad push
    // entry (a prefix) also covers it.
    let role = if listed(admin_principals) {
        Role::Admin
    } else if listed(push_principals) {
        Role::Push
    } else {
        // AWS authenticated the signature, but any principal with lambda:InvokeFunctionUrl on
        // the function would get here: only listed principals have a role.
        let shown: String = arn.chars().take(256).collect();
        return Err(ApiError::forbidden(format!(
            "IAM principal {shown} is in neither IAM_ADMIN_PRINCIPALS nor IAM_PUSH_PRINCIPALS"
        )));
    };
    Ok(Caller {
        role,
        label: arn,
        scope: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use lambda_http::Request;

    fn entry(secret: &str, role: Role, label: &str) -> TokenEntry {
        TokenEntry {
            sha256: Sha256Hash::digest(secret.as_bytes()),
            role,
            label: label.into(),
            names: None,
        }
    }

    fn request_with(authorization: &[&str]) -> Request {
        let mut builder = http::Request::builder().uri("/certs");
        for value in authorization {
            builder = builder.header("authorization", *value);
        }
        builder.body(lambda_http::Body::Empty).unwrap()
    }

    fn bearer() -> Authenticator {
        Authenticator::new(AuthMode::Bearer(vec![
            entry("push-secret", Role::Push, "lb:host-1"),
            entry("admin-secret", Role::Admin, "ops"),
        ]))
    }

    #[test]
    fn known_tokens_map_to_role_and_label() {
        let auth = bearer();
        let caller = auth
            .authenticate(&request_with(&["Bearer push-secret"]))
            .unwrap();
        assert_eq!(
            caller,
            Caller {
                role: Role::Push,
                label: "lb:host-1".into(),
                scope: None,
            }
        );
        let caller = auth
            .authenticate(&request_with(&["bearer   admin-secret "]))
            .unwrap();
        assert_eq!(caller.role, Role::Admin);
    }

    #[test]
    fn missing_unknown_and_malformed_credentials_are_401() {
        let auth = bearer();
        for headers in [
            &[][..],
            &["Bearer nope"],
            &["Basic cHVzaC1zZWNyZXQ="],
            &["Bearer"],
            &["Bearer "],
            &["push-secret"],
            &["Bearer push-secret", "Bearer admin-secret"],
        ] {
            let err = auth.authenticate(&request_with(headers)).unwrap_err();
            assert_eq!(err.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        }
    }

    #[test]
    fn push_may_only_use_push_routes() {
        let push = Caller {
            role: Role::Push,
            label: "lb".into(),
            scope: None,
        };
        assert!(push.authorize(Access::Push).is_ok());
        assert!(push.authorize(Access::Public).is_ok());
        assert_eq!(
            push.authorize(Access::Admin).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let admin = Caller {
            role: Role::Admin,
            label: "ops".into(),
            scope: None,
        };
        assert!(admin.authorize(Access::Admin).is_ok());
    }

    #[test]
    fn token_config_is_validated() {
        let hash = Sha256Hash::digest(b"x").to_hex();
        let ok = format!(r#"[{{"sha256":"{hash}","role":"push","label":"lb:host-1"}}]"#);
        assert_eq!(tokens_from_json(&ok).unwrap().len(), 1);
        assert!(matches!(
            tokens_from_json("[]"),
            Err(TokenConfigError::Empty)
        ));
        assert!(matches!(
            tokens_from_json("{"),
            Err(TokenConfigError::Json { .. })
        ));
        let bad_role = format!(r#"[{{"sha256":"{hash}","role":"root","label":"x"}}]"#);
        assert!(matches!(
            tokens_from_json(&bad_role),
            Err(TokenConfigError::Json { .. })
        ));
        let bad_hash = r#"[{"sha256":"abc","role":"push","label":"x"}]"#;
        assert!(matches!(
            tokens_from_json(bad_hash),
            Err(TokenConfigError::Json { .. })
        ));
        let empty_label = format!(r#"[{{"sha256":"{hash}","role":"push","label":""}}]"#);
        assert!(matches!(
            tokens_from_json(&empty_label),
            Err(TokenConfigError::BadLabel { index: 0 })
        ));
        let dup = format!(
            r#"[{{"sha256":"{hash}","role":"push","label":"a"}},{{"sha256":"{hash}","role":"admin","label":"b"}}]"#
        );
        assert!(matches!(
            tokens_from_json(&dup),
            Err(TokenConfigError::DuplicateHash { index: 1 })
        ));
    }

    #[test]
    fn push_tokens_may_carry_a_name_scope() {
        let hash = Sha256Hash::digest(b"x").to_hex();
        let other = Sha256Hash::digest(b"y").to_hex();
        let json = format!(
            r#"[{{"sha256":"{hash}","role":"push","label":"lb:shop","names":["Shop.Example.com","*.cdn.example.com"]}},
                {{"sha256":"{other}","role":"push","label":"lb:legacy"}}]"#
        );
        let tokens = tokens_from_json(&json).unwrap();
        let scope = tokens[0].names.as_ref().unwrap();
        assert!(scope.covers("www.shop.example.com") && scope.covers("cdn.example.com"));
        assert!(!scope.covers("example.com"));
        assert_eq!(tokens[1].names, None);
        assert_eq!(
            AuthMode::Bearer(tokens).unscoped_push_labels(),
            ["lb:legacy"]
        );

        for bad in [
            r#"[]"#,
            r#"["com"]"#,
            r#"["*.*.example.com"]"#,
            r#""x.example.com""#,
        ] {
            let json =
                format!(r#"[{{"sha256":"{hash}","role":"push","label":"a","names":{bad}}}]"#);
            assert!(
                matches!(tokens_from_json(&json), Err(TokenConfigError::Json { .. })),
                "{bad}"
            );
        }
        let admin = format!(
            r#"[{{"sha256":"{hash}","role":"admin","label":"a","names":["example.com"]}}]"#
        );
        assert!(matches!(
            tokens_from_json(&admin),
            Err(TokenConfigError::ScopedAdmin { index: 0 })
        ));
    }

    /// A Function URL event with the IAM authorizer context AWS sends for a signed caller.
    fn iam_request(user_arn: &str) -> Request {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/certs", "rawQueryString": "",
            "headers": {"host": "abcdefghij.lambda-url.us-east-1.on.aws"},
            "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "apiId": "abcdefghij",
                "domainName": "abcdefghij.lambda-url.us-east-1.on.aws", "domainPrefix": "abcdefghij",
                "http": {"method": "POST", "path": "/certs", "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.7", "userAgent": "aws-cli/2"},
                "requestId": "r-1", "routeKey": "$default", "stage": "$default",
                "time": "30/Nov/2026:11:00:00 +0000", "timeEpoch": 1796036400000u64,
                "authorizer": {"iam": {
                    "accessKey": "ASIAEXAMPLEEXAMPLE", "accountId": "123456789012",
                    "callerId": "AROAEXAMPLEEXAMPLE:host-1", "cognitoIdentity": null,
                    "principalOrgId": null, "userArn": user_arn,
                    "userId": "AROAEXAMPLEEXAMPLE:host-1"
                }}
            }
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn iam(admin: &[&str], push: &[&str]) -> Authenticator {
        let list = |l: &[&str]| {
            l.iter()
                .map(|p| PrincipalPattern::parse(p).unwrap())
                .collect()
        };
        Authenticator::new(AuthMode::Iam {
            admin_principals: list(admin),
            push_principals: list(push),
        })
    }

    #[test]
    fn iam_mode_gives_listed_principals_their_role_and_refuses_others() {
        let auth = iam(
            &[
                "arn:aws:iam::123456789012:role/ops",
                "arn:aws:iam::123456789012:user/alice",
            ],
            &["arn:aws:iam::123456789012:role/lb-push"],
        );
        let session = "arn:aws:sts::123456789012:assumed-role/lb-push/host-1";
        let caller = auth.authenticate(&iam_request(session)).unwrap();
        assert_eq!(caller.role, Role::Push);
        assert_eq!(caller.label, session);
        let admin = "arn:aws:sts::123456789012:assumed-role/ops/alice-sso";
        assert_eq!(
            auth.authenticate(&iam_request(admin)).unwrap().role,
            Role::Admin
        );
        let user = "arn:aws:iam::123456789012:user/alice";
        assert_eq!(
            auth.authenticate(&iam_request(user)).unwrap().role,
            Role::Admin
        );

        // Signed, but in neither list: refused, never admin.
        for stranger in [
            "arn:aws:sts::123456789012:assumed-role/some-other-role/x",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:sts::210987654321:assumed-role/lb-push/host-1",
            "arn:aws:iam::123456789012:root",
        ] {
            let err = auth.authenticate(&iam_request(stranger)).unwrap_err();
            assert_eq!(err.status, StatusCode::FORBIDDEN, "{stranger}");
        }
        // Unsigned: 401.
        let unsigned = request_with(&["Bearer push-secret"]);
        assert_eq!(
            auth.authenticate(&unsigned).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        // With no lists at all nobody gets in.
        let err = iam(&[], &[]).authenticate(&iam_request(admin)).unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
    }
}
