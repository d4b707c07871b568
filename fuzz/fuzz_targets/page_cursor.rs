#![no_main]
//! See `ctguard_core::fuzzing::page_cursor` (the stable tests replay the corpora through the same function).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ctguard_core::fuzzing::page_cursor(data));
