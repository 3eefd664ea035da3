//! STIX 2.1: Cairn reports as STIX objects (`export`), and STIX bundles as Cairn report drafts
//! (`import`).

mod export;
mod import;
mod object;

pub use export::*;
pub use import::{MAX_GROUPED_OBSERVABLES, import_bundle};
pub(crate) use object::is_bundle;
