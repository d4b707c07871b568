#![no_main]
//! See `ctguard_core::fuzzing::api_query` (the stable tests replay the corpora through the same function).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ctguard_core::fuzzing::api_query(data));
