//! Flattening (being written).
