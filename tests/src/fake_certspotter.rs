//! TODO (helper "certspotter"): fake Cert Spotter API server on loopback.
