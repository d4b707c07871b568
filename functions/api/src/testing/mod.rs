//! Test support (feature `testing`), shared by this crate's tests and the workspace's
//! integration tests (`tests/tests/api_*`): Function URL events built as AWS sends them
//! ([`event`]) and the two test callers with their tokens. Not compiled into the Lambda.

pub mod event;

use ctguard::hash::Sha256Hash;

use crate::ApiSettings;
use crate::auth::{AuthMode, Role, TokenEntry};

pub const PUSH_TOKEN: &str = "push-token-for-host-1";
pub const ADMIN_TOKEN: &str = "admin-token-for-ops";
pub const PUSH_LABEL: &str = "lb:host-1";
pub const ADMIN_LABEL: &str = "ops";

/// The two test callers: an unscoped push token and an admin token.
pub fn tokens() -> Vec<TokenEntry> {
    vec![
        TokenEntry {
            sha256: Sha256Hash::digest(PUSH_TOKEN.as_bytes()),
            role: Role::Push,
            label: PUSH_LABEL.into(),
            names: None,
        },
        TokenEntry {
            sha256: Sha256Hash::digest(ADMIN_TOKEN.as_bytes()),
            role: Role::Admin,
            label: ADMIN_LABEL.into(),
            names: None,
        },
    ]
}

/// Settings with [`tokens`] and every other default.
pub fn settings() -> ApiSettings {
    ApiSettings::new(AuthMode::Bearer(tokens()))
}

/// Adds the test callers' credentials to an event request.
pub trait Callers: Sized {
    fn admin(self) -> Self;
    fn push(self) -> Self;
}

impl Callers for event::Req {
    fn admin(self) -> Self {
        self.token(ADMIN_TOKEN)
    }
    fn push(self) -> Self {
        self.token(PUSH_TOKEN)
    }
}
