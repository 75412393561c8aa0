//! Integration tests of live remote tables: a real worker on real sockets, our client and a
//! plain Flight client, and fault tests with worker processes killed and restarted, a proxy
//! that cuts and blackholes connections, slow and many subscribers.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    unreachable_pub
)]

#[path = "remote/basics.rs"]
mod basics;
#[path = "remote/child.rs"]
mod child;
#[path = "remote/common.rs"]
mod common;
#[path = "remote/faults.rs"]
mod faults;
