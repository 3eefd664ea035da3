//! STIX 2.1: Cairn reports as STIX objects (`export`), and STIX bundles as Cairn report drafts
//! (`import`).

mod coding;
mod export;
mod import;
mod object;

pub use coding::*;
pub use export::*;
pub use import::{MAX_CARRIED_BYTES, import_bundle, indicators_in_pattern, observables_in_pattern};

/// Whether JSON text is STIX (a bundle, a TAXII envelope, a list of objects or one object);
/// an error when it is not JSON at all.
pub(crate) fn is_stix(text: &[u8]) -> Result<bool, crate::import::ImportError> {
    Ok(import::shape_of(text)?.is_some())
}
