//! Cairn's durable report store: verified reports kept byte for byte in sled, numbered in
//! arrival order (the sync cursor), indexed for queries, with versions and retractions.
//!
//! The interface is narrow on purpose: open, ingest, get, list after a cursor, query, history.
//! Nothing outside this crate sees sled.

mod keys;
mod store;

pub use store::{
    IngestError, IngestOutcome, OpenError, Provenance, ReadError, ReportQuery, ReportStatus,
    ResolveError, Store, StoreConfig, StoredReport,
};
