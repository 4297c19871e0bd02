//! The security suite: the adversarial cases of `shared/security.md` section 4, each a test named
//! by its case ID (`h02_...`), against a real daemon: in-process with scripted DNS where the case
//! is about decisions, the built binary where it is about a process (memory, file limits, logs).
//! Everything stays on loopback; nothing is sent anywhere else.
//!
//! | module | group |
//! |---|---|
//! | `h` | H: the handshake (Host, Origin, token) |
//! | `j` | J: JSON-RPC input validation |
//! | `e` | E: egress (connect, sendto) |
//! | `l` | L: listen, bind, setsockopt |
//! | `u` | U: Unix sockets |
//! | `r` | R: resource exhaustion |
//! | `c` | C: configuration, audit log, lifecycle |

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod c;
mod e;
mod h;
mod j;
mod l;
mod r;
mod u;
