//! Unit tests of the signalling machine on a virtual clock: one file per group of rules.

pub(super) mod harness;

mod calls;
mod glare;
mod ice;
mod parse;
mod security;
mod timing;
mod two_peers;
