//! Timestamps from requests: see [`ctguard::api_input::time`] (bounds 1970..=9999 and checked
//! arithmetic; SDK-free so the fuzz targets cover it).

pub use ctguard::api_input::time::*;
