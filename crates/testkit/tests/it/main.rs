//! Integration tests of caresync-testkit against real PostgreSQL binaries.

// The watchdog test talks to a copy of itself over stdout.
#![allow(clippy::print_stdout)]

mod fhir;
mod generate;
mod hl7;
mod pg;
mod x12;
