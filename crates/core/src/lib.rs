//! Cairn reports and identities: build, validate, sign and verify reports, selective
//! disclosures, versions and retractions, organisation keys and node certificates.
//!
//! This crate does no network or storage I/O (key files aside): it decides what a valid,
//! authentic report is, for every other crate.

pub mod bundle;
pub mod coding;
pub mod correlation;
pub mod directory;
pub mod draft;
pub mod envelope;
pub mod identity;
pub mod indicator;
pub mod invitation;
pub mod keylog;
pub mod misp;
pub mod model;
pub mod observance;
pub mod psi;
pub mod report;
pub mod sample;
pub mod score;
pub mod search;
pub mod sighting;
pub mod stix;
pub mod warninglist;
pub mod when;

pub use draft::{IndicatorDraft, ReportDraft, RetractError, retract};
pub use envelope::{
    OrganisationKeysOnly, RevealedDisclosure, Signers, VerifiedReport, VerifyError,
    available_cores, verify, verify_batch, verify_batch_parallel, verify_batch_parallel_with,
    verify_batch_with, verify_with,
};
pub use envelope::{
    StoredMarking, id_of_stored, stored_marking, stored_marking_of, stored_stix_objects,
};
pub use identity::{
    NodeCertificate, NodeKey, OrgKey, OrgPublicKey, ReportSigner, ReportSigningKey,
};
pub use indicator::Indicator;
pub use model::{
    DisclosureField, Distribution, IndicatorType, ReportKind, Scope, Severity, SightingKind, Tlp,
};
pub use report::{InvalidReport, Report, ReportId, limits};
