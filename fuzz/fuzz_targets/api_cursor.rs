#![no_main]
//! See `ctguard::fuzzing::api_cursor` (the stable tests replay the corpora through the same function).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ctguard::fuzzing::api_cursor(data));
