//! May the public see a report: the one rule for what a node shows without a token (its
//! public advisories feed). Only TLP:CLEAR with the unrestricted scope: a CLEAR report its
//! author kept to its organisation, its direct peers or a community is not for the public.

use cairn_core::{Report, ReportKind, Scope, Tlp};

/// Whether `report` may be shown to anyone: TLP:CLEAR, unrestricted scope, not a retraction.
/// Its selective disclosures (victim, internal notes, evidence) are never shown publicly,
/// whatever this says: they are for the partners a policy names.
pub fn is_public(report: &Report) -> bool {
    report.tlp == Tlp::Clear
        && report.distribution.scope == Scope::Unrestricted
        && report.kind != ReportKind::Retraction
        && report.retracts.is_none()
}
