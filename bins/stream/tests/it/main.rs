//! Integration tests of the stream: real sockets, real Delta tables in
//! temporary folders.

mod folder;
mod http;
mod kill;
mod mllp;
mod replay;
mod support;
