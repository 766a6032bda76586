//! mxcall: place and answer Matrix voice calls from the command line.

pub mod audio;
pub mod media;
