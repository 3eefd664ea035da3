//! What a node serves to a partner and what it keeps of what a partner sends: the sharing
//! rules applied at the moment of serving, and verification plus the inbound rules before
//! anything is stored. Blocking code (store reads and writes, signature checks): callers run it
//! off the async tasks.

use std::collections::BTreeMap;

use cairn_core::{OrgPublicKey, ReportId, VerifiedReport};
use cairn_net::{Page, PassedReport};
use cairn_policy::{
    Arrival, Communities, Holding, InboundDecision, InboundPolicy, OutboundDecision, OutboundRule,
    Partner, decide_inbound, decide_outbound,
};
use cairn_store::{IngestError, IngestOutcome, Provenance, ReadError, Store, StoredReport};

/// Most stored reports looked at for one pull, whatever is shared: a partner that may see
/// little never makes the server read its whole store in one request. A page never covers
/// more arrival numbers than this, which the puller checks.
pub const SCAN_BUDGET: usize = cairn_net::MAX_PAGE_SPAN as usize;

/// Most relays a passed report may claim.
pub const MAX_HOP: u32 = 64;

/// Who we are and what we share with whom: everything a serving decision needs.
#[derive(Debug, Clone)]
pub struct SharingRules {
    /// This node's organisation.
    pub us: OrgPublicKey,
    /// Communities, as this node defines them.
    pub communities: Communities,
    /// What this node accepts.
    pub inbound: InboundPolicy,
}

/// How far a stored report has come to this node: 0 for its own organisation's reports.
pub fn holding_hop(us: &OrgPublicKey, stored: &StoredReport) -> u32 {
    hop_of(us, &stored.report.author(), &stored.provenance)
}

fn hop_of(us: &OrgPublicKey, author: &OrgPublicKey, provenance: &Provenance) -> u32 {
    if author == us {
        return 0;
    }
    match provenance {
        Provenance::Peer { hop, .. } => hop.saturating_add(1),
        // Published or imported here but written by someone else: as if straight from them.
        Provenance::Local | Provenance::Import => 1,
    }
}

/// A page served to a partner, with what the audit trail must record.
#[derive(Debug)]
pub struct ServedPage {
    /// The answer.
    pub page: Page,
    /// The reports in it.
    pub delivered: Vec<ReportId>,
    /// The page stopped at a report embargoed for this partner until then (ms).
    pub embargo_until: Option<i64>,
}

/// Reports `partner` may see that arrived after `after`, at most `limit` of them and
/// `budget_bytes` of envelopes. Reports the partner wrote or passed to us are skipped (it has
/// them). The page stops before the first report embargoed for the partner, so that it
/// arrives once the embargo ends instead of being skipped for ever. Decisions read only each
/// report's marking; a report is decoded in full only when disclosures must be withheld.
pub fn serve_page(
    store: &Store,
    rules: &SharingRules,
    partner: &Partner,
    after: u64,
    limit: usize,
    budget_bytes: usize,
    now_ms: i64,
) -> Result<ServedPage, ReadError> {
    let head = store.last_seq()?;
    let mut page = Page {
        reports: Vec::new(),
        through: after.min(head),
        more: false,
        head,
    };
    let mut delivered = Vec::new();
    let mut bytes = 0usize;
    let mut scanned = 0usize;
    let mut embargo_until = None;
    'scan: while page.through < head && scanned < SCAN_BUDGET {
        let chunk = store.envelopes_after(page.through, 256.min(SCAN_BUDGET - scanned))?;
        if chunk.is_empty() {
            break;
        }
        for stored in chunk {
            if page.reports.len() >= limit || bytes >= budget_bytes {
                break 'scan;
            }
            scanned += 1;
            let seq = stored.seq;
            match offer(rules, partner, stored, None, now_ms, Skip::Theirs)? {
                Offer::Theirs | Offer::Withheld => {}
                Offer::Share { id, report } => {
                    bytes += report.envelope.len();
                    delivered.push(id);
                    page.reports.push(report);
                }
                Offer::Embargoed(until) => {
                    embargo_until = Some(until);
                    break 'scan;
                }
            }
            page.through = seq;
        }
    }
    page.more = embargo_until.is_none() && page.through < head;
    Ok(ServedPage {
        page,
        delivered,
        embargo_until,
    })
}

/// A report by id for `partner`: `None` when it does not exist or the partner may not see it,
/// which the partner cannot tell apart. The decision reads the report's marking only; its
/// content is read only for a partner that may have it.
pub fn serve_fetch(
    store: &Store,
    rules: &SharingRules,
    partner: &Partner,
    id: &ReportId,
    now_ms: i64,
) -> Result<Option<PassedReport>, ReadError> {
    let Some(stored) = store.envelope_of(id)? else {
        return Ok(None);
    };
    Ok(
        match offer(rules, partner, stored, Some(*id), now_ms, Skip::Nothing)? {
            Offer::Share { report, .. } => Some(report),
            Offer::Theirs | Offer::Withheld | Offer::Embargoed(_) => None,
        },
    )
}

/// What an offer leaves out before deciding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Reports the partner wrote or passed to us (a page: it has them).
    Theirs,
    /// Nothing (a fetch by id).
    Nothing,
}

/// What a partner gets of one stored report.
enum Offer {
    /// The partner wrote it or passed it to us: it has it.
    Theirs,
    /// It may have it, as this copy.
    Share { id: ReportId, report: PassedReport },
    /// Not before then (ms since the Unix epoch).
    Embargoed(i64),
    /// Not at all.
    Withheld,
}

/// Decides from a stored envelope's marking alone what `partner` gets of it; the report is
/// decoded in full only when disclosures must be withheld from the copy. `known_id` is the id
/// the report was looked up by, if it was (its body is then not hashed again).
fn offer(
    rules: &SharingRules,
    partner: &Partner,
    stored: cairn_store::StoredEnvelope,
    known_id: Option<ReportId>,
    now_ms: i64,
    skip: Skip,
) -> Result<Offer, ReadError> {
    let corrupt = |e: cairn_core::VerifyError| ReadError::Corrupt(format!("stored envelope: {e}"));
    let view = match known_id {
        Some(id) => cairn_core::stored_marking_of(id, &stored.envelope),
        None => cairn_core::stored_marking(&stored.envelope),
    }
    .map_err(corrupt)?;
    let theirs = view.author == partner.org
        || matches!(stored.provenance, Provenance::Peer { org, .. } if org == partner.org);
    if theirs && skip == Skip::Theirs {
        return Ok(Offer::Theirs);
    }
    let hop = hop_of(&rules.us, &view.author, &stored.provenance);
    Ok(
        match decide_outbound(
            &rules.us,
            &view.marking,
            Holding {
                hop,
                now_ms,
                received_ms: stored.received_ms,
            },
            partner,
            &rules.communities,
        ) {
            OutboundDecision::Share { withhold, .. } => {
                let envelope = if withhold.is_empty() {
                    stored.envelope
                } else {
                    let fields: Vec<_> = withhold.into_iter().collect();
                    VerifiedReport::from_stored_owned(stored.envelope)
                        .map_err(corrupt)?
                        .withhold(&fields)
                        .into_envelope()
                };
                Offer::Share {
                    id: view.id,
                    report: PassedReport { envelope, hop },
                }
            }
            OutboundDecision::Withhold(OutboundRule::Embargoed(until)) => Offer::Embargoed(until),
            OutboundDecision::Withhold(_) => Offer::Withheld,
        },
    )
}

/// What became of a page a partner sent.
#[derive(Debug, Default)]
pub struct Received {
    /// Newly stored, with the hop at which this node now holds them.
    pub stored: Vec<StoredNew>,
    /// Already held.
    pub duplicates: usize,
    /// Not stored: failed verification, broke the inbound rules, or conflicted with what is
    /// stored. One line each, for the log.
    pub rejected: Vec<String>,
}

/// A report this node did not hold before.
#[derive(Debug, Clone)]
pub struct StoredNew {
    /// Its author.
    pub author: cairn_core::OrgPublicKey,
    /// Its marking (see [`VerifiedReport::marking`]), for deciding whom to tell about it.
    pub marking: cairn_core::Report,
    /// Its arrival number here.
    pub seq: u64,
    /// Relays before the partner held it.
    pub partner_hop: u32,
}

/// A report from a page after its signature check, with what the sender said about it.
#[derive(Debug)]
pub struct Checked {
    /// The report, or why it does not verify.
    pub report: Result<VerifiedReport, cairn_core::VerifyError>,
    /// Relays before the sender held it.
    pub hop: u32,
    /// Size of its envelope.
    pub size: usize,
}

/// Checks the signatures of a page (on every core). Needs no store: pages are checked ahead
/// while earlier ones are stored.
pub fn check_page(reports: Vec<PassedReport>) -> Vec<Checked> {
    let envelopes: Vec<&[u8]> = reports.iter().map(|r| r.envelope.as_slice()).collect();
    let verified = cairn_core::verify_batch_parallel(&envelopes, 0);
    reports
        .iter()
        .zip(verified)
        .map(|(passed, report)| Checked {
            report,
            hop: passed.hop,
            size: passed.envelope.len(),
        })
        .collect()
}

/// Verifies what `from` sent, applies the inbound rules at `now_ms` and stores what passes,
/// durably, with its provenance. A report that fails is left out; the others are stored.
pub fn receive(
    store: &Store,
    rules: &SharingRules,
    from: &Partner,
    reports: Vec<PassedReport>,
    now_ms: i64,
) -> Result<Received, IngestError> {
    store_checked(store, rules, from, check_page(reports), now_ms)
}

/// Applies the inbound rules at `now_ms` to a checked page and stores what passes, durably,
/// with its provenance.
pub fn store_checked(
    store: &Store,
    rules: &SharingRules,
    from: &Partner,
    checked: Vec<Checked>,
    now_ms: i64,
) -> Result<Received, IngestError> {
    let mut received = Received::default();
    // Grouped by hop: one provenance per write.
    let mut accepted: BTreeMap<u32, Vec<VerifiedReport>> = BTreeMap::new();
    for passed in checked {
        let report = match passed.report {
            Ok(report) => report,
            Err(e) => {
                received
                    .rejected
                    .push(format!("a report that does not verify: {e}"));
                continue;
            }
        };
        if passed.hop > MAX_HOP {
            received.rejected.push(format!(
                "report {}: claims {} relays (at most {MAX_HOP})",
                report.id(),
                passed.hop
            ));
            continue;
        }
        let author = report.author();
        let decision = decide_inbound(
            &rules.us,
            Arrival {
                report: report.report(),
                author: &author,
                size: passed.size,
                from,
                partner_hop: passed.hop,
                now_ms,
            },
            &rules.inbound,
            &rules.communities,
        );
        match decision {
            InboundDecision::Accept(_) => accepted.entry(passed.hop).or_default().push(report),
            InboundDecision::Reject(rule) => received.rejected.push(format!(
                "report {}: refused: {}",
                report.id(),
                rule.explain()
            )),
        }
    }
    for (hop, reports) in accepted {
        // What is kept of each report after it is handed to the store.
        let kept: Vec<(ReportId, cairn_core::OrgPublicKey, cairn_core::Report)> = reports
            .iter()
            .map(|r| (r.id(), r.author(), r.marking()))
            .collect();
        let outcomes = store.insert(reports, Provenance::Peer { org: from.org, hop })?;
        for ((id, author, marking), outcome) in kept.into_iter().zip(outcomes) {
            match outcome {
                IngestOutcome::Stored { seq, .. } => received.stored.push(StoredNew {
                    author,
                    marking,
                    seq,
                    partner_hop: hop,
                }),
                IngestOutcome::Duplicate { .. } => received.duplicates += 1,
                IngestOutcome::Rejected(e) => received.rejected.push(format!("report {id}: {e}")),
                IngestOutcome::Refused { id, reason } => received
                    .rejected
                    .push(format!("report {id}: refused: {reason}")),
            }
        }
    }
    Ok(received)
}
