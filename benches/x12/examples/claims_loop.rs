//! Runs the streamed 837P pipeline of `benches/claims.rs` (read claims and
//! flatten them to Arrow, one transaction set at a time) a fixed number of
//! times, for profilers and instruction counts: on a shared virtual
//! machine wall times vary from run to run, instruction counts do not.
//!
//! ```sh
//! cargo build --release -p caresync-bench-x12 --example claims_loop
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/claims_loop 2
//! ```
//!
//! Argument: the number of passes over the 10,000-claim file (default 10).
//! Subtract a run with 0 passes to leave out generating the file.

use std::io::Write as _;

use caresync_testkit::x12::{X12Generator, X12Kind, X12Options};
use caresync_x12::Document;
use caresync_x12::claim::read_claims;
use caresync_x12::flatten::ClaimFlattener;

const CLAIMS: usize = 10_000;

fn main() {
    let passes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let text = X12Generator::new(42, X12Options::default())
        .claims_file(X12Kind::Professional, CLAIMS)
        .text;
    let mut rows = 0;
    for _ in 0..passes {
        let doc = Document::read(std::hint::black_box(&text)).expect("reads");
        let mut flattener = ClaimFlattener::with_capacity(CLAIMS);
        for tx in doc.transactions() {
            let claims = read_claims(&tx);
            flattener.push_transaction(&tx, &claims.claims);
        }
        rows += flattener.finish().claim.num_rows();
    }
    let _ = writeln!(std::io::stdout(), "{passes} passes, {rows} claim rows");
}
