//! Which configured IAM principal a signed Function URL caller is (`AUTH_MODE=iam`).
//!
//! A Function URL with `AuthType: AWS_IAM` puts the caller's ARN in
//! `requestContext.authorizer.iam.userArn`, in one of these forms:
//!
//! | caller | `userArn` AWS sends |
//! |---|---|
//! | a role session (instance profile, Lambda, ECS task, `aws sts assume-role`, SSO) | `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` (the role's path is not in it) |
//! | an IAM user | `arn:aws:iam::ACCOUNT:user/PATH/NAME` |
//! | the account root | `arn:aws:iam::ACCOUNT:root` |
//!
//! A configured principal matches a caller when it is:
//! - the caller's exact ARN (one role session, one user);
//! - a role ARN `arn:aws:iam::ACCOUNT:role/PATH/ROLE`: every session of that role
//!   (`assumed-role/ROLE/*` in the same partition and account);
//! - a prefix ending in `/` (e.g. `arn:aws:sts::ACCOUNT:assumed-role/lb-push/`): every ARN that
//!   starts with it.

/// One entry of `IAM_ADMIN_PRINCIPALS` / `IAM_PUSH_PRINCIPALS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrincipalError {
    #[error(
        "{0:?} is not an IAM or STS ARN (arn:PARTITION:iam::ACCOUNT:… or arn:PARTITION:sts::ACCOUNT:assumed-role/…)"
    )]
    NotAnArn(String),
}

/// The parts of `arn:PARTITION:SERVICE::ACCOUNT:RESOURCE` this module needs.
struct Arn<'a> {
    partition: &'a str,
    service: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn split_arn(arn: &str) -> Option<Arn<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (prefix == "arn"
        && !partition.is_empty()
        && matches!(service, "iam" | "sts")
        && region.is_empty()
        && account_ok
        && !resource.is_empty())
    .then_some(Arn {
        partition,
        service,
        account,
        resource,
    })
}

impl PrincipalPattern {
    pub fn parse(value: &str) -> Result<Self, PrincipalError> {
        let value = value.trim();
        match split_arn(value) {
            Some(_) => Ok(Self(value.to_owned())),
            None => Err(PrincipalError::NotAnArn(value.chars().take(200).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the caller `arn` (as AWS sends it) is this principal.
    pub fn matches(&self, arn: &str) -> bool {
        let pattern = self.0.as_str();
        if pattern == arn || (pattern.ends_with('/') && arn.starts_with(pattern)) {
            return true;
        }
        // A role ARN stands for each of its sessions.
        let (Some(role), Some(caller)) = (split_arn(pattern), split_arn(arn)) else {
            return false;
        };
        let Some(role_name) = (role.service == "iam")
            .then(|| role.resource.strip_prefix("role/"))
            .flatten()
            .and_then(|path_and_name| path_and_name.rsplit('/').next())
        else {
            return false;
        };
        let session_role = (caller.service == "sts")
            .then(|| caller.resource.strip_prefix("assumed-role/"))
            .flatten()
            .and_then(|rest| rest.split_once('/'))
            .map(|(name, _session)| name);
        caller.partition == role.partition
            && caller.account == role.account
            && !role_name.is_empty()
            && session_role == Some(role_name)
    }
}

/// Parses a comma-separated list (empty entries are skipped).
pub fn parse_list(value: &str) -> Result<Vec<PrincipalPattern>, PrincipalError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PrincipalPattern::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PrincipalPattern {
        PrincipalPattern::parse(s).unwrap()
    }

    const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/lb-push/i-0abc";

    #[test]
    fn a_role_arn_matches_each_of_its_sessions_only() {
        let role = p("arn:aws:iam::123456789012:role/lb-push");
        assert!(role.matches(SESSION));
        assert!(role.matches("arn:aws:sts::123456789012:assumed-role/lb-push/other"));
        // The assumed-role ARN drops the role's path.
        assert!(p("arn:aws:iam::123456789012:role/service/lb-push").matches(SESSION));
        for other in [
            "arn:aws:sts::123456789012:assumed-role/lb-push-2/i-0abc",
            "arn:aws:sts::123456789012:assumed-role/lb/i-0abc",
            "arn:aws:sts::210987654321:assumed-role/lb-push/i-0abc",
            "arn:aws-cn:sts::123456789012:assumed-role/lb-push/i-0abc",
            "arn:aws:iam::123456789012:user/lb-push",
            "arn:aws:iam::123456789012:role/lb-push/x",
        ] {
            assert!(!role.matches(other), "{other}");
        }
    }

    #[test]
    fn sessions_users_and_prefixes_match_as_written() {
        assert!(p(SESSION).matches(SESSION));
        assert!(!p(SESSION).matches("arn:aws:sts::123456789012:assumed-role/lb-push/i-0abd"));
        let user = p("arn:aws:iam::123456789012:user/ops/alice");
        assert!(user.matches("arn:aws:iam::123456789012:user/ops/alice"));
        assert!(!user.matches("arn:aws:iam::123456789012:user/ops/alice2"));
        let prefix = p("arn:aws:sts::123456789012:assumed-role/lb-push/");
        assert!(prefix.matches(SESSION));
        assert!(!prefix.matches("arn:aws:sts::123456789012:assumed-role/lb-push-2/x"));
        // Without the trailing slash a session ARN is exact, not a prefix.
        assert!(!p("arn:aws:sts::123456789012:assumed-role/lb").matches(SESSION));
    }

    #[test]
    fn lists_are_parsed_and_non_arns_rejected() {
        let list =
            parse_list(" arn:aws:iam::123456789012:role/a , ,arn:aws:iam::123456789012:root")
                .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].as_str(), "arn:aws:iam::123456789012:role/a");
        for bad in [
            "lb-push",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::12345:role/a",
            "arn:aws:iam:us-east-1:123456789012:role/a",
            "arn:aws:iam::123456789012:",
        ] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
    }
}
