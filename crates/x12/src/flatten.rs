//! Flattening claims and remittances to Arrow (being written).
