//! X12 837 claims and 835 remittances into silver tables.

use crate::bronze::BronzeRow;
use crate::dlq::Reason;
use crate::ingest::codes;
use crate::silver::Routed;

/// Routes one X12 bronze row.
pub(crate) fn route(seq: i64, row: &BronzeRow, routed: &mut Routed) {
    routed.reject(
        seq,
        row,
        Reason::new(codes::UNSUPPORTED, "ISA", "X12 routing is being built"),
    );
}
