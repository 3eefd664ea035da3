//! What can go wrong, per store operation.

use std::path::PathBuf;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds it.
    #[error("the store at {0} is in use by another Cairn process")]
    Locked(PathBuf),
    /// Written by a newer Cairn.
    #[error(
        "the store at {path} has format {found}, newer than this Cairn understands ({supported}); upgrade Cairn"
    )]
    NewerFormat {
        /// The store.
        path: PathBuf,
        /// Its format.
        found: u32,
        /// This build's format.
        supported: u32,
    },
    /// A record needed to open the store is damaged.
    #[error("the store at {path} holds a damaged record ({what}); restore it from a backup")]
    Corrupt {
        /// The store.
        path: PathBuf,
        /// What is damaged.
        what: String,
    },
    /// The envelope file could not be opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Anything else sled reports.
    #[error("cannot open the store at {path}: {source}")]
    Storage {
        /// The store.
        path: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
}

/// Why an ingest batch was not written. Nothing of the batch is stored then.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// sled failed to write or flush.
    #[error("storing reports failed: {0}")]
    Storage(#[from] sled::Error),
    /// Writing the envelope file failed.
    #[error("writing the envelope file failed: {0}")]
    Envelopes(std::io::Error),
    /// Writing the query index failed (the reports themselves are stored).
    #[error("writing the query index failed: {0}")]
    Index(std::io::Error),
    /// The store holds a record it cannot read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// sled failed to read.
    #[error("reading the store failed: {0}")]
    Storage(#[from] sled::Error),
    /// An envelope could not be read back from the envelope file.
    #[error("{0}; restore the data directory from a backup if this persists")]
    Envelope(#[from] crate::EnvelopeReadError),
    /// The query index could not be read.
    #[error(
        "reading the query index failed: {0}; removing the store's query-index folder makes Cairn build it again"
    )]
    Index(std::io::Error),
    /// A record does not decode.
    #[error("the store holds a damaged record ({0}); restore the data directory from a backup")]
    Corrupt(String),
}

/// Why a report id or id prefix could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not hexadecimal, or too short.
    #[error("{0:?} is not a report id: give at least 8 of its hexadecimal digits")]
    BadPrefix(String),
    /// No stored report starts so.
    #[error("no report {0} in this node's store")]
    NotFound(String),
    /// Several match.
    #[error("{prefix} matches {count} reports: give more digits")]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// How many matched.
        count: usize,
    },
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}
