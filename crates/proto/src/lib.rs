//! Generated prost types for Cairn's wire and storage formats (proto/cairn/v1/*.proto).
//!
//! Nothing else in the workspace generates protobuf code: other crates convert these types to
//! their own domain types at their edges.

#![allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]

/// Version 1 of the report format.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/cairn.v1.rs"));
}

/// The newest envelope format version this build understands.
pub const FORMAT_VERSION: u32 = 3;

/// The envelope format of a report signed by its author organisation's key.
pub const FORMAT_ORG_SIGNED: u32 = 1;

/// The envelope format of a report signed by a node key its organisation authorised.
pub const FORMAT_NODE_SIGNED: u32 = 2;

/// The envelope format of a report whose signature covers its id (the SHA-256 of its author and
/// body) rather than the body itself: signed by the author organisation's key, or by a node key
/// or later organisation key it authorised. What this node writes.
pub const FORMAT_ID_SIGNED: u32 = 3;
