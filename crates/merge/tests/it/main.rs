//! Integration tests of caresync-merge (one binary, modules by topic).

mod common;
mod errors;
mod laws;
mod scenarios;
