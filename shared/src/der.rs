//! TODO (helper "cert"): strict minimal DER reader/writer for TBS reconstruction.
