//! HMAC-signed pagination cursors: see [`ctguard::api_input::cursor`] (SDK-free so the fuzz
//! targets cover it).

pub use ctguard::api_input::cursor::*;
