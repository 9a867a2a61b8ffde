//! Interop with Node `ws` (interop/node), both directions: the peer as client of a wsx server
//! (`peer_client_*`) and as server for the wsx client (`wsx_client_*`). The peers must be
//! installed by `interop/setup.sh`; without them these tests fail, they never skip.
#![allow(clippy::unwrap_used)]

mod interop_common;

interop_common::interop_tests!(interop_common::Kind::Node);
