#![no_main]
//! See `ctguard::fuzzing::certspotter_page` (the stable tests replay the corpora through the same function).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ctguard::fuzzing::certspotter_page(data));
