//! What a node serves to a partner and what it keeps of what a partner sends: the sharing
//! rules applied at the moment of serving, and verification plus the inbound rules before
//! anything is stored. Blocking code (store reads and writes, signature checks): callers run it
//! off the async tasks.

use std::collections::BTreeMap;

use cairn_core::{OrgPublicKey, ReportId, VerifiedReport};
use cairn_net::{Page, PassedReport};
use cairn_policy::{Arrival, Communities, InboundDecision, InboundPolicy, Partner, decide_inbound};
use cairn_store::{IngestError, IngestOutcome, Provenance, ReadError, Store, StoredReport};

use crate::relay::{self, PagePlan, Skip, Standing, Verdict};

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
    relay::hop_of(us, &stored.report.author(), &stored.provenance)
}

/// What the sharing rules decide about one stored report for one partner, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharingDecision {
    /// The partner's name.
    pub partner: String,
    /// Whether it receives the report.
    pub receives: bool,
    /// Disclosure fields held back from it when it does.
    pub withheld: Vec<String>,
    /// Why, as `cairn policy explain` says it.
    pub reason: String,
}

/// For each partner, whether it receives `stored` from this node now and why: the rule
/// `decide_outbound` applies when serving it, given the hop at which this node holds it.
/// A sighting is explained with what this node holds of the report it concerns
/// ([`concerned_standing`], [`ConcernedStanding::of`]).
pub fn explain_sharing<'a>(
    us: &OrgPublicKey,
    stored: &StoredReport,
    concerned: Option<&ConcernedStanding>,
    partners: impl IntoIterator<Item = &'a Partner>,
    communities: &Communities,
    now_ms: i64,
) -> Vec<SharingDecision> {
    let holding = cairn_policy::Holding {
        hop: holding_hop(us, stored),
        now_ms,
        received_ms: stored.received_ms,
    };
    explain(
        us,
        stored.report.report(),
        holding,
        concerned,
        partners,
        communities,
    )
}

/// For each of `reports` that is a sighting, what this node holds of the report it concerns
/// at `now_ms`, for telling partners about it; `None` for any other report, and for a sighting
/// whose report could not be read (logged: only that report's author is then told of it).
/// Blocking: call it where the reports were stored.
pub fn concerned_of_each<'a>(
    store: &Store,
    us: &OrgPublicKey,
    reports: impl IntoIterator<Item = &'a cairn_core::Report>,
    now_ms: i64,
) -> Vec<Option<ConcernedStanding>> {
    reports
        .into_iter()
        .map(|report| {
            concerned_of(store, us, report, now_ms)
                .inspect_err(|e| {
                    tracing::warn!(
                        error = %e,
                        "the report a sighting concerns could not be read: \
                         only its author is told of the sighting"
                    );
                })
                .ok()
                .flatten()
        })
        .collect()
}

/// For a sighting, what this node holds of the report it concerns; `None` for any other
/// report.
pub fn concerned_of(
    store: &Store,
    us: &OrgPublicKey,
    report: &cairn_core::Report,
    now_ms: i64,
) -> Result<Option<ConcernedStanding>, ReadError> {
    report
        .concerns
        .map(|c| concerned_standing(store, us, &c.report, now_ms))
        .transpose()
}

/// For each partner, whether it would receive `report` if this node's organisation published
/// it now, and why: the decision [`explain_sharing`] gives once it is stored, for a draft
/// not yet signed.
pub fn explain_draft<'a>(
    us: &OrgPublicKey,
    report: &cairn_core::Report,
    concerned: Option<&ConcernedStanding>,
    partners: impl IntoIterator<Item = &'a Partner>,
    communities: &Communities,
    now_ms: i64,
) -> Vec<SharingDecision> {
    let holding = cairn_policy::Holding {
        hop: 0,
        now_ms,
        received_ms: now_ms,
    };
    explain(us, report, holding, concerned, partners, communities)
}

fn explain<'a>(
    us: &OrgPublicKey,
    report: &cairn_core::Report,
    holding: cairn_policy::Holding,
    concerned: Option<&ConcernedStanding>,
    partners: impl IntoIterator<Item = &'a Partner>,
    communities: &Communities,
) -> Vec<SharingDecision> {
    partners
        .into_iter()
        .map(|partner| {
            let decision = match concerned {
                Some(concerned) => cairn_policy::decide_sighting(
                    us,
                    report,
                    holding,
                    concerned.as_concerned(),
                    partner,
                    communities,
                ),
                None => cairn_policy::decide_outbound(us, report, holding, partner, communities),
            };
            match decision {
                cairn_policy::OutboundDecision::Share { withhold, rule } => SharingDecision {
                    partner: partner.name.clone(),
                    receives: true,
                    withheld: withhold.iter().map(|f| f.as_str().to_string()).collect(),
                    reason: rule.explain(),
                },
                cairn_policy::OutboundDecision::Withhold(rule) => SharingDecision {
                    partner: partner.name.clone(),
                    receives: false,
                    withheld: Vec::new(),
                    reason: rule.explain(),
                },
            }
        })
        .collect()
}

/// The copy of the report with this id this node holds, if it holds it: the hop at which it
/// holds it and the disclosures it carries.
pub fn held_copy(
    store: &Store,
    us: &OrgPublicKey,
    id: &ReportId,
) -> Result<Option<relay::Copy>, ReadError> {
    let Some(held) = store.envelope_of(id)? else {
        return Ok(None);
    };
    let report = VerifiedReport::from_stored(&held.envelope)
        .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
    Ok(Some(relay::Copy {
        hop: relay::hop_of(us, &report.author(), &held.provenance),
        disclosures: report.disclosures().len() as u32,
    }))
}

/// Whether `copy`, arriving from a partner at `hop`, is a report this node holds already that
/// the store will now hold by a shorter path that matters, or with more disclosures: then its
/// partners are offered it again.
fn held_again(
    store: &Store,
    copy: &VerifiedReport,
    marking: &cairn_core::Report,
    hop: u32,
) -> Result<bool, ReadError> {
    let may_be_closer = relay::hop_matters(marking);
    let may_be_fuller = !copy.disclosures().is_empty();
    if !may_be_closer && !may_be_fuller {
        return Ok(false);
    }
    let Some(held) = store.envelope_of(&copy.id())? else {
        return Ok(false);
    };
    let closer =
        may_be_closer && matches!(held.provenance, Provenance::Peer { hop: old, .. } if hop < old);
    if closer || !may_be_fuller {
        return Ok(closer);
    }
    let held = VerifiedReport::from_stored(&held.envelope)
        .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
    Ok(held.disclosures().len() < copy.disclosures().len()
        && held
            .disclosures()
            .iter()
            .all(|d| copy.disclosures().contains(d)))
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
    /// Reports passed over because a sharing rule withholds them, by rule name.
    pub withheld: std::collections::BTreeMap<&'static str, u64>,
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
    let mut plan = PagePlan::new(after, head, limit, budget_bytes, SCAN_BUDGET);
    let mut reports = Vec::new();
    let mut delivered = Vec::new();
    let mut withheld = std::collections::BTreeMap::new();
    let mut look_at = |plan: &mut PagePlan, stored: cairn_store::StoredEnvelope| {
        let seq = stored.seq;
        let size = stored.envelope.len();
        let offer = offer(store, rules, partner, stored, None, now_ms, Skip::Theirs)?;
        if let Verdict::Withheld(rule) = offer.verdict {
            *withheld.entry(rule).or_insert(0) += 1;
        }
        if plan.take(seq, &offer.verdict, size)
            && let Some((id, report)) = offer.copy
        {
            delivered.push(id);
            reports.push(report);
        }
        Ok::<(), ReadError>(())
    };
    // A partner's own reports (it wrote them or passed them here) are skipped from their
    // arrival marks, without reading them: a node that took a partner's whole store would
    // otherwise read all of it again to serve that partner's first pull.
    let theirs_may_be_skipped = partner.org != rules.us;
    'scan: while plan.room() > 0 {
        let want = 256.min(plan.room());
        let marks = store.arrival_marks(plan.through(), want)?;
        let marked = marks
            .first()
            .is_some_and(|(seq, _)| *seq == plan.through() + 1)
            && marks.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        if marked {
            for (seq, mark) in marks {
                if plan.room() == 0 {
                    break 'scan;
                }
                if theirs_may_be_skipped && mark.is_from(&partner.org) {
                    plan.take(seq, &Verdict::Theirs, 0);
                    continue;
                }
                let stored = store.envelope_at(seq)?.ok_or_else(|| {
                    ReadError::Corrupt(format!("arrival {seq} has a mark but no record"))
                })?;
                look_at(&mut plan, stored)?;
            }
            continue;
        }
        // Reports stored before the store kept arrival marks: read them whole.
        let chunk = store.envelopes_after(plan.through(), want)?;
        if chunk.is_empty() {
            break;
        }
        for stored in chunk {
            if plan.room() == 0 {
                break 'scan;
            }
            look_at(&mut plan, stored)?;
        }
    }
    let end = plan.end();
    Ok(ServedPage {
        page: Page {
            reports,
            through: end.through,
            more: end.more,
            head,
        },
        delivered,
        embargo_until: end.embargo_until,
        withheld,
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
    Ok(offer(
        store,
        rules,
        partner,
        stored,
        Some(*id),
        now_ms,
        Skip::Nothing,
    )?
    .copy
    .map(|(_, report)| report))
}

/// What a partner gets of one stored report: the decision, and the copy it gets if shared.
struct Offer {
    verdict: Verdict,
    copy: Option<(ReportId, PassedReport)>,
}

/// Decides from a stored envelope's marking alone what `partner` gets of it
/// ([`relay::verdict`]); the report is decoded in full only when disclosures must be withheld
/// from the copy. `known_id` is the id the report was looked up by, if it was (its body is
/// then not hashed again). For a sighting, the report it concerns is looked up: the sighting
/// goes only where that report may go ([`cairn_policy::decide_sighting`]).
fn offer(
    store: &Store,
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
    let concerned = match &view.marking.concerns {
        Some(concerns) => Some(concerned_standing(
            store,
            &rules.us,
            &concerns.report,
            now_ms,
        )?),
        None => None,
    };
    let standing = Standing {
        author: view.author,
        marking: &view.marking,
        provenance: stored.provenance,
        received_ms: stored.received_ms,
        concerned: concerned.as_ref().map(ConcernedStanding::as_concerned),
    };
    let verdict = relay::verdict(
        &rules.us,
        &rules.communities,
        partner,
        standing,
        now_ms,
        skip,
    );
    let copy = match &verdict {
        Verdict::Share { withhold, hop } => {
            let envelope = if withhold.is_empty() {
                stored.envelope
            } else {
                let fields: Vec<_> = withhold.iter().copied().collect();
                VerifiedReport::from_stored_owned(stored.envelope)
                    .map_err(corrupt)?
                    .withhold(&fields)
                    .into_envelope()
            };
            Some((
                view.id,
                PassedReport {
                    envelope,
                    hop: *hop,
                },
            ))
        }
        Verdict::Theirs | Verdict::Embargoed(_) | Verdict::Withheld(_) => None,
    };
    Ok(Offer { verdict, copy })
}

/// The indicators of the current reports `partner` may receive from this node now, each once
/// (without description, file or validity): what a private set intersection query from that
/// partner is answered against. The same decision as serving it a report by id
/// ([`relay::verdict`]); retracted and replaced versions, and reports held back by an embargo,
/// are left out.
pub fn psi_values(
    store: &Store,
    rules: &SharingRules,
    partner: &Partner,
    now_ms: i64,
) -> Result<Vec<cairn_core::Indicator>, ReadError> {
    let mut seen = std::collections::HashSet::new();
    let mut values = Vec::new();
    let mut after = 0;
    loop {
        let chunk = store.envelopes_after(after, 512)?;
        let Some(last) = chunk.last() else {
            break;
        };
        after = last.seq;
        for stored in chunk {
            // The copy the partner would get: only reports it may receive are decoded.
            let offered = offer(store, rules, partner, stored, None, now_ms, Skip::Nothing)?;
            let Some((_, copy)) = offered.copy else {
                continue;
            };
            let report = VerifiedReport::from_stored_owned(copy.envelope)
                .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
            if report.report().indicators.is_empty()
                || store.status(&report)? != cairn_store::ReportStatus::Current
            {
                continue;
            }
            for indicator in &report.report().indicators {
                if seen.insert((indicator.kind, indicator.value.clone())) {
                    values.push(indicator.bare());
                }
            }
        }
    }
    Ok(values)
}

/// What this node holds of the report a sighting concerns: its marking and how it holds it.
#[derive(Debug, Clone)]
pub enum ConcernedStanding {
    /// Held here.
    Held {
        /// Its author.
        author: OrgPublicKey,
        /// Its marking.
        marking: Box<cairn_core::Report>,
        /// How this node holds it.
        holding: cairn_policy::Holding,
    },
    /// Not held here.
    NotHeld,
}

impl ConcernedStanding {
    /// A report this node holds, as `stored`, at `now_ms`.
    pub fn of(us: &OrgPublicKey, stored: &StoredReport, now_ms: i64) -> ConcernedStanding {
        ConcernedStanding::Held {
            author: stored.report.author(),
            marking: Box::new(stored.report.marking()),
            holding: cairn_policy::Holding {
                hop: holding_hop(us, stored),
                now_ms,
                received_ms: stored.received_ms,
            },
        }
    }

    /// The form the sharing rules read.
    pub fn as_concerned(&self) -> cairn_policy::Concerned<'_> {
        match self {
            ConcernedStanding::Held {
                author,
                marking,
                holding,
            } => cairn_policy::Concerned::Held {
                report: marking,
                author: *author,
                holding: *holding,
            },
            ConcernedStanding::NotHeld => cairn_policy::Concerned::NotHeld,
        }
    }
}

/// Looks up the report `id` a sighting concerns, as the sharing rule for sightings reads it
/// at `now_ms`.
pub fn concerned_standing(
    store: &Store,
    us: &OrgPublicKey,
    id: &ReportId,
    now_ms: i64,
) -> Result<ConcernedStanding, ReadError> {
    let Some(held) = store.envelope_of(id)? else {
        return Ok(ConcernedStanding::NotHeld);
    };
    let view = cairn_core::stored_marking_of(*id, &held.envelope)
        .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
    Ok(ConcernedStanding::Held {
        author: view.author,
        holding: cairn_policy::Holding {
            hop: relay::hop_of(us, &view.author, &held.provenance),
            now_ms,
            received_ms: held.received_ms,
        },
        marking: Box::new(view.marking),
    })
}

/// What became of a page a partner sent.
#[derive(Debug, Default)]
pub struct Received {
    /// Newly stored, with the hop at which this node now holds them.
    pub stored: Vec<StoredNew>,
    /// Already held, and now held by a shorter path that may let them go further (community
    /// reports with a hop limit) or with more disclosures: partners whose pulls passed them are
    /// offered them again.
    pub again: Vec<StoredNew>,
    /// Already held.
    pub duplicates: usize,
    /// Not stored yet: signed by a key its author's statements, as known here, do not let
    /// sign. The statements may be on their way; the caller holds these for a while
    /// ([`crate::awaiting`]) or refuses them.
    pub awaiting: Vec<AwaitingReport>,
    /// Not stored: failed verification, broke the inbound rules, or conflicted with what is
    /// stored. One each, for the log and the metrics.
    pub rejected: Vec<Rejection>,
}

/// A report held for its author's statements.
#[derive(Debug)]
pub struct AwaitingReport {
    /// The author it names.
    pub author: cairn_core::OrgPublicKey,
    /// The report as sent.
    pub report: PassedReport,
    /// Why it does not verify yet, for the log.
    pub line: String,
}

impl AwaitingReport {
    /// It, refused.
    pub fn refused(&self) -> Rejection {
        Rejection::new("does_not_verify", self.line.clone())
    }
}

/// A report from a partner that was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why, as a short fixed name: `does_not_verify`, `too_many_relays`, `conflict`, an
    /// inbound rule's name ([`cairn_policy::InboundRule::name`]) or `not_the_report_offered`.
    pub reason: &'static str,
    /// What happened, for the log.
    pub line: String,
}

impl Rejection {
    /// A rejection for this reason.
    pub fn new(reason: &'static str, line: String) -> Rejection {
        Rejection { reason, line }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

/// A report this node did not hold before.
#[derive(Debug, Clone)]
pub struct StoredNew {
    /// Its id.
    pub id: ReportId,
    /// Its author.
    pub author: cairn_core::OrgPublicKey,
    /// Its marking (see [`VerifiedReport::marking`]), for deciding whom to tell about it.
    pub marking: cairn_core::Report,
    /// Its arrival number here.
    pub seq: u64,
    /// Relays before the partner held it.
    pub partner_hop: u32,
    /// The disclosures the copy now held carries.
    pub disclosures: Vec<cairn_core::DisclosureField>,
    /// For a sighting, what this node holds of the report it concerns.
    pub concerned: Option<ConcernedStanding>,
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
    /// The report as sent, when it failed only for its signer ([`VerifyError::Signer`]): its
    /// author's statements may be on their way.
    ///
    /// [`VerifyError::Signer`]: cairn_core::VerifyError::Signer
    pub awaiting: Option<PassedReport>,
}

/// Checks the signatures of a page (on every core); `signers` says which node keys may sign
/// for which organisation. Needs no store: pages are checked ahead while earlier ones are
/// stored.
pub fn check_page(reports: Vec<PassedReport>, signers: &dyn cairn_core::Signers) -> Vec<Checked> {
    let envelopes: Vec<&[u8]> = reports.iter().map(|r| r.envelope.as_slice()).collect();
    let verified = cairn_core::verify_batch_parallel_with(&envelopes, 0, signers);
    reports
        .into_iter()
        .zip(verified)
        .map(|(passed, report)| Checked {
            hop: passed.hop,
            size: passed.envelope.len(),
            awaiting: matches!(report, Err(cairn_core::VerifyError::Signer { .. }))
                .then_some(passed),
            report,
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
    signers: &dyn cairn_core::Signers,
    now_ms: i64,
) -> Result<Received, IngestError> {
    store_checked(store, rules, from, check_page(reports, signers), now_ms)
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
            Err(e @ cairn_core::VerifyError::Signer { author, .. })
                if passed.awaiting.is_some() =>
            {
                if let Some(report) = passed.awaiting {
                    received.awaiting.push(AwaitingReport {
                        author,
                        report,
                        line: format!("a report that does not verify: {e}"),
                    });
                }
                continue;
            }
            Err(e) => {
                received.rejected.push(Rejection::new(
                    "does_not_verify",
                    format!("a report that does not verify: {e}"),
                ));
                continue;
            }
        };
        if passed.hop > MAX_HOP {
            received.rejected.push(Rejection::new(
                "too_many_relays",
                format!(
                    "report {}: claims {} relays (at most {MAX_HOP})",
                    report.id(),
                    passed.hop
                ),
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
            InboundDecision::Reject(rule) => received.rejected.push(Rejection::new(
                rule.name(),
                format!("report {}: refused: {}", report.id(), rule.explain()),
            )),
        }
    }
    for (hop, reports) in accepted {
        // What is kept of each report after it is handed to the store, and whether this copy
        // comes by a shorter path than the one held, when the path matters.
        let mut kept = Vec::with_capacity(reports.len());
        for r in &reports {
            let marking = r.marking();
            let again = held_again(store, r, &marking, hop)?;
            let disclosures = r.disclosures().iter().map(|d| d.field).collect();
            kept.push((r.id(), r.author(), marking, disclosures, again));
        }
        let outcomes = store.insert(reports, Provenance::Peer { org: from.org, hop })?;
        let concerned = concerned_of_each(
            store,
            &rules.us,
            kept.iter().map(|(_, _, marking, _, _)| marking),
            now_ms,
        );
        for (((id, author, marking, disclosures, again), outcome), concerned) in
            kept.into_iter().zip(outcomes).zip(concerned)
        {
            let new = StoredNew {
                id,
                author,
                marking,
                seq: 0,
                partner_hop: hop,
                disclosures,
                concerned,
            };
            match outcome {
                IngestOutcome::Stored { seq, .. } => {
                    received.stored.push(StoredNew { seq, ..new });
                }
                IngestOutcome::Duplicate { seq, .. } if again => {
                    received.duplicates += 1;
                    received.again.push(StoredNew { seq, ..new });
                }
                IngestOutcome::Duplicate { .. } => received.duplicates += 1,
                IngestOutcome::Rejected(e) => received.rejected.push(Rejection::new(
                    "does_not_verify",
                    format!("report {id}: {e}"),
                )),
                IngestOutcome::Refused { id, reason } => received.rejected.push(Rejection::new(
                    "conflict",
                    format!("report {id}: refused: {reason}"),
                )),
            }
        }
    }
    Ok(received)
}
