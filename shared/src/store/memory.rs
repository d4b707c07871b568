//! TODO (helper "poller"): in-memory implementation of the store traits, for fast unit tests.
