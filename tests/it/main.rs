//! Integration tests: a real daemon (in-process on port 0, or the built binary), real sockets, and
//! the native client, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod ahead;
mod binary;
mod cleanup;
mod concurrency;
mod hosted;
mod labs;
mod options;
mod private;
mod protocol;
mod read_ahead;
mod resolve;
mod select;
mod spec;
mod tcp;
mod timeouts;
mod tutorial;
mod udp;
mod unix;
