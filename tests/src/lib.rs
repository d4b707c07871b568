//! Test support for ctguard integration tests.
