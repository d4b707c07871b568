//! Percent-decoding and query parameters: see [`ctguard::api_input::query`] (SDK-free so the
//! fuzz targets cover it).

pub use ctguard::api_input::query::*;
