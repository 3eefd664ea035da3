//! Cairn's durable report store: verified reports kept byte for byte in sled, numbered in
//! arrival order (the sync cursor), indexed for queries, with versions and retractions.
//!
//! The interface is narrow on purpose: open, ingest, get, list after a cursor, query, history.
//! Nothing outside this crate sees sled.

mod error;
mod id_filter;
mod index;
mod keys;
mod query;
mod store;

pub use error::{IngestError, OpenError, ReadError, ResolveError};
pub use query::ReportQuery;
pub use store::{IngestOutcome, Provenance, ReportStatus, Store, StoreConfig, StoredReport};
