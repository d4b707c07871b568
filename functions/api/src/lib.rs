//! The api Lambda (not built yet: see the open issue for it).
