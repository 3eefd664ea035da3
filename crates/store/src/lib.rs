//! Cairn's durable report store: verified reports kept byte for byte (sled records naming
//! envelopes in an envelope file), numbered in arrival order (the sync cursor), indexed for
//! queries, with versions and retractions.
//!
//! The interface is narrow on purpose: open, ingest, get, list after a cursor, query, history,
//! and what exchanges with partners need (catch-up cursors, the audit trail of deliveries,
//! organisations' key statements).
//! Nothing outside this crate sees sled.

mod backup;
mod bloom;
mod correlate;
mod envelopes;
mod error;
mod exchange;
mod id_filter;
mod index;
mod keys;
mod query;
mod runs;
mod statements;
mod store;

pub use backup::{BackupError, BackupSummary};
pub use correlate::{Correlated, Correlation, Link};
pub use envelopes::EnvelopeReadError;
pub use error::{IngestError, OpenError, ReadError, ResolveError};
pub use exchange::Delivery;
pub use query::ReportQuery;
pub use statements::{KeepStatementsError, MAX_STATEMENTS_PER_ORG};
pub use store::{
    ArrivalMark, IngestOutcome, Provenance, ReportStatus, Store, StoreConfig, StoredEnvelope,
    StoredReport,
};
