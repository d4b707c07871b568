//! Storage: the contracts and the in-memory store come from the core
//! ([`ctguard_core::store`]); [`dynamo`] implements the contracts on DynamoDB.

pub use ctguard_core::store::*;

pub mod dynamo;
