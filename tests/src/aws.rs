//! TODO (helper "store"): local AWS emulator harness (moto server) and per-test resources.
