//! STIX 2.1: Cairn reports as STIX objects (`export`), and STIX bundles as Cairn report drafts
//! (`import`).

mod export;
mod import;

pub use export::*;
pub use import::import_bundle;
