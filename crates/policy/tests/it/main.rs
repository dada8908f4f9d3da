//! The policy crate as its users call it: each masking method, the check
//! against contracts, and the built-in Safe Harbor profile.

mod check;
mod methods;
mod safe_harbor;
