//! A seeded, deterministic simulator of Cairn federations. Each organisation runs Cairn's own
//! protocol code with no I/O: catch-up (`cairn_net::sync`), whom to tell and what a page holds
//! (`cairn_node::relay`) and the sharing rules (`cairn_policy`). Time, links (latency, jitter,
//! loss, partitions), nodes going offline and the store are simulated. Every copy stored is
//! checked against an oracle of the sharing rules, and once a run is quiet every holding is
//! compared with the oracle's reach.
//!
//! The same seed plays the same run. `cargo run --release -p cairn-sim -- --help` says how to
//! play the scenarios at 1,000 and 10,000 organisations.

pub mod engine;
pub mod scenario;
pub mod world;

pub use engine::{Links, Simulation, Tally};
pub use scenario::{DEEP_HOPS, Outcome, Scenario, Size, Spread, play};
pub use world::{Org, Shape, Sharing, World, Writing};
