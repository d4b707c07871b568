#![no_main]
//! See `ctguard::fuzzing::cert_parse` (the stable tests replay the corpora through the same function).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ctguard::fuzzing::cert_parse(data));
