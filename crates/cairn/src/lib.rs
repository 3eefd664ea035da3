//! What the `cairn` binary reads that other crates also need: node.toml (`config`) and its
//! sharing sections (`sharing`), so that the fuzzer reads them as the node does.

pub mod config;
pub mod sharing;
