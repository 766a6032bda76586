//! Unit tests of the MatrixRTC machine on a virtual clock: one file per group of rules.

pub(super) mod harness;

mod failures;
mod incoming;
mod keys;
mod parse;
mod security;
mod timing;
mod two_peers;
