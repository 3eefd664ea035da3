//! Relaying as plain code, with no I/O: how far a held report has come, which partners to tell
//! about reports just stored, what one stored report is to a partner asking for it, and where a
//! page of a pull starts and stops. The actor and the serving threads carry these decisions
//! out; the federation simulator (`cairn-sim`) drives the same functions at scale.

use std::collections::BTreeSet;

use cairn_core::{DisclosureField, OrgPublicKey, Report};
use cairn_policy::{
    Communities, Concerned, Holding, OutboundDecision, OutboundRule, Partner, decide_outbound,
    decide_sighting,
};
use cairn_store::Provenance;

/// How far a held report has come to this node (organisation `us`): 0 when `us` wrote it, 1
/// when it came straight from its author, and so on. A report another node of `us` handed
/// over is as far as it was there: the organisation holds it once.
pub fn hop_of(us: &OrgPublicKey, author: &OrgPublicKey, provenance: &Provenance) -> u32 {
    if author == us {
        return 0;
    }
    match provenance {
        Provenance::Peer { org, hop } if org == us => *hop,
        Provenance::Peer { hop, .. } => hop.saturating_add(1),
        // Published or imported here but written by someone else: as if straight from them.
        Provenance::Local | Provenance::Import => 1,
    }
}

/// A report this node has just stored, as far as telling partners about it goes.
#[derive(Debug, Clone)]
pub struct JustStored<'a> {
    /// Its author.
    pub author: OrgPublicKey,
    /// Its marking.
    pub marking: &'a Report,
    /// The hop at which this node holds it.
    pub hop: u32,
    /// The partner organisation that passed it on, if any.
    pub from: Option<OrgPublicKey>,
    /// For a sighting, what this node holds of the report it concerns, when looked up; without
    /// it only that report's author hears of the sighting.
    pub concerned: Option<Concerned<'a>>,
}

/// Whether to tell one partner about reports just stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    /// At least one of them may go to it now: notify it.
    Now,
    /// None may go now, but one may once its embargo ends then (ms since the Unix epoch).
    At(i64),
    /// None of them is for it.
    Nothing,
}

/// Whether `partner` should hear about `stored` (reports stored at `now_ms` by organisation
/// `us`): never about a report it wrote or passed on to us, which it has. Another node of `us`
/// hears of everything but what a node of `us` passed on (each node of an organisation tells
/// the others what reaches it from outside, and what it publishes).
pub fn tell(
    us: &OrgPublicKey,
    stored: &[JustStored<'_>],
    partner: &Partner,
    communities: &Communities,
    now_ms: i64,
) -> Tell {
    let mut earliest: Option<i64> = None;
    for new in stored {
        let sibling = partner.org == *us;
        if new.from == Some(partner.org) || (!sibling && new.author == partner.org) {
            continue;
        }
        let holding = Holding {
            hop: new.hop,
            now_ms,
            // Just stored.
            received_ms: now_ms,
        };
        let decision = match new.concerned {
            Some(concerned) => {
                decide_sighting(us, new.marking, holding, concerned, partner, communities)
            }
            None => decide_outbound(us, new.marking, holding, partner, communities),
        };
        match decision {
            OutboundDecision::Share { .. } => return Tell::Now,
            OutboundDecision::Withhold(OutboundRule::Embargoed(until)) => {
                earliest = Some(earliest.map_or(until, |e| e.min(until)));
            }
            OutboundDecision::Withhold(_) => {}
        }
    }
    earliest.map_or(Tell::Nothing, Tell::At)
}

/// Whether a report whose hop can change what may be done with it: a community report, whose
/// hop limit counts relays. For every other report a shorter path changes no decision (a
/// relayed copy is never at hop 0), so a copy that comes closer is not offered again.
pub fn hop_matters(marking: &Report) -> bool {
    marking.distribution.scope == cairn_core::Scope::Community
}

/// A copy of a report: the relays before its holder held it (0: its author) and how many
/// disclosures it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// Relays before its holder.
    pub hop: u32,
    /// Disclosures it carries.
    pub disclosures: u32,
}

/// Whether a copy a partner offers again is worth fetching, for a node that holds `held` (the
/// hop at which it holds it, and its disclosures; none: not at all): only if the partner's copy
/// would put it closer, or carries more disclosures.
pub fn worth_fetching(held: Option<Copy>, offered: Copy) -> bool {
    held.is_none_or(|held| {
        held.hop > offered.hop.saturating_add(1) || held.disclosures < offered.disclosures
    })
}

/// The copy of a report just held again (closer, or fuller) that `partner` would get now, if
/// any: its hop and the disclosures left once the partner's policy withholds its own.
pub fn copy_for(
    us: &OrgPublicKey,
    held: &JustStored<'_>,
    disclosures: &[DisclosureField],
    partner: &Partner,
    communities: &Communities,
    now_ms: i64,
) -> Option<Copy> {
    if held.from == Some(partner.org) || held.author == partner.org {
        return None;
    }
    let holding = Holding {
        hop: held.hop,
        now_ms,
        received_ms: now_ms,
    };
    match decide_outbound(us, held.marking, holding, partner, communities) {
        OutboundDecision::Share { withhold, .. } => Some(Copy {
            hop: held.hop,
            disclosures: disclosures.iter().filter(|f| !withhold.contains(f)).count() as u32,
        }),
        OutboundDecision::Withhold(_) => None,
    }
}

/// What a serving decision leaves out before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Reports the partner wrote or passed to us (a page: it has them).
    Theirs,
    /// Nothing (a fetch by id).
    Nothing,
}

/// What a partner gets of one stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The partner wrote it or passed it to us: it has it.
    Theirs,
    /// It may have it, without these disclosures, passed on at this hop.
    Share {
        /// Disclosures left out of its copy.
        withhold: BTreeSet<DisclosureField>,
        /// Relays before this node held it (what the copy says).
        hop: u32,
    },
    /// Not before then (ms since the Unix epoch).
    Embargoed(i64),
    /// Not at all, by this rule ([`cairn_policy::OutboundRule::name`]).
    Withheld(&'static str),
}

/// Where a stored report stands on this node, as a serving decision reads it.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    /// Its author.
    pub author: OrgPublicKey,
    /// Its marking.
    pub marking: &'a Report,
    /// How it came here.
    pub provenance: Provenance,
    /// When this node stored it (ms since the Unix epoch).
    pub received_ms: i64,
    /// For a sighting, what this node holds of the report it concerns, when looked up; without
    /// it a sighting goes to that report's author only.
    pub concerned: Option<Concerned<'a>>,
}

/// What `partner` gets of a report standing on this node (organisation `us`) at `now_ms`.
pub fn verdict(
    us: &OrgPublicKey,
    communities: &Communities,
    partner: &Partner,
    standing: Standing<'_>,
    now_ms: i64,
    skip: Skip,
) -> Verdict {
    // Another node of this organisation may lack what this one wrote or was handed by a third
    // node of it: nothing is "theirs" to skip.
    let theirs = partner.org != *us
        && (standing.author == partner.org
            || matches!(standing.provenance, Provenance::Peer { org, .. } if org == partner.org));
    if theirs && skip == Skip::Theirs {
        return Verdict::Theirs;
    }
    let hop = hop_of(us, &standing.author, &standing.provenance);
    let holding = Holding {
        hop,
        now_ms,
        received_ms: standing.received_ms,
    };
    let decision = match standing.concerned {
        Some(concerned) => decide_sighting(
            us,
            standing.marking,
            holding,
            concerned,
            partner,
            communities,
        ),
        None => decide_outbound(us, standing.marking, holding, partner, communities),
    };
    match decision {
        OutboundDecision::Share { withhold, .. } => Verdict::Share { withhold, hop },
        OutboundDecision::Withhold(OutboundRule::Embargoed(until)) => Verdict::Embargoed(until),
        OutboundDecision::Withhold(rule) => Verdict::Withheld(rule.name()),
    }
}

/// Where a page of a pull starts and stops, fed one stored report at a time in arrival order:
/// at most `limit` reports and about `budget_bytes` of envelopes, at most `scan_budget`
/// reports looked at, and never past a report embargoed for the partner (so that it arrives
/// once the embargo ends instead of being skipped for ever).
#[derive(Debug, Clone)]
pub struct PagePlan {
    limit: usize,
    budget_bytes: usize,
    scan_budget: usize,
    head: u64,
    through: u64,
    reports: usize,
    bytes: usize,
    scanned: usize,
    embargo_until: Option<i64>,
}

/// What a finished [`PagePlan`] says about its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEnd {
    /// The last arrival number the page accounts for.
    pub through: u64,
    /// Whether there is more to look at after it.
    pub more: bool,
    /// The page stopped at a report embargoed for the partner until then.
    pub embargo_until: Option<i64>,
}

impl PagePlan {
    /// A page of a pull after `after`, served by a node whose newest arrival number is `head`.
    pub fn new(
        after: u64,
        head: u64,
        limit: usize,
        budget_bytes: usize,
        scan_budget: usize,
    ) -> PagePlan {
        PagePlan {
            limit,
            budget_bytes,
            scan_budget,
            head,
            through: after.min(head),
            reports: 0,
            bytes: 0,
            scanned: 0,
            embargo_until: None,
        }
    }

    /// Whether another stored report may be looked at, and how many at most.
    pub fn room(&self) -> usize {
        if self.embargo_until.is_some()
            || self.through >= self.head
            || self.reports >= self.limit
            || self.bytes >= self.budget_bytes
        {
            return 0;
        }
        self.scan_budget.saturating_sub(self.scanned)
    }

    /// The arrival number after which the next report to look at comes.
    pub fn through(&self) -> u64 {
        self.through
    }

    /// Takes the stored report at arrival number `seq` (of `size` bytes) with what the partner
    /// gets of it; true when it goes in the page. Call only while [`PagePlan::room`] is not 0.
    pub fn take(&mut self, seq: u64, verdict: &Verdict, size: usize) -> bool {
        if self.room() == 0 {
            return false;
        }
        self.scanned += 1;
        match verdict {
            Verdict::Embargoed(until) => {
                self.embargo_until = Some(*until);
                return false;
            }
            Verdict::Share { .. } => {
                self.reports += 1;
                self.bytes += size;
            }
            Verdict::Theirs | Verdict::Withheld(_) => {}
        }
        self.through = seq;
        matches!(verdict, Verdict::Share { .. })
    }

    /// Where the page ends.
    pub fn end(&self) -> PageEnd {
        PageEnd {
            through: self.through,
            more: self.embargo_until.is_none() && self.through < self.head,
            embargo_until: self.embargo_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share() -> Verdict {
        Verdict::Share {
            withhold: BTreeSet::new(),
            hop: 0,
        }
    }

    #[test]
    fn a_page_stops_at_its_limit_and_says_more_follow() {
        let mut plan = PagePlan::new(0, 10, 2, usize::MAX, 100);
        assert!(plan.take(1, &share(), 10));
        assert!(!plan.take(2, &Verdict::Withheld("no_policy"), 10));
        assert!(plan.take(3, &share(), 10));
        assert_eq!(plan.room(), 0);
        assert!(!plan.take(4, &share(), 10), "past the limit");
        assert_eq!(
            plan.end(),
            PageEnd {
                through: 3,
                more: true,
                embargo_until: None
            }
        );
    }

    #[test]
    fn a_page_stops_before_an_embargoed_report() {
        let mut plan = PagePlan::new(4, 10, 100, usize::MAX, 100);
        assert!(plan.take(5, &share(), 10));
        assert!(!plan.take(6, &Verdict::Embargoed(99), 10));
        assert_eq!(
            plan.end(),
            PageEnd {
                through: 5,
                more: false,
                embargo_until: Some(99)
            }
        );
    }

    #[test]
    fn a_page_reads_at_most_its_scan_budget() {
        let mut plan = PagePlan::new(0, 1000, 100, usize::MAX, 3);
        for seq in 1..=3 {
            assert!(!plan.take(seq, &Verdict::Withheld("no_policy"), 10));
        }
        assert_eq!(plan.room(), 0);
        assert_eq!(plan.end().through, 3);
        assert!(plan.end().more);
    }

    #[test]
    fn only_a_closer_or_fuller_copy_is_worth_fetching() {
        let copy = |hop, disclosures| Copy { hop, disclosures };
        assert!(worth_fetching(None, copy(5, 0)), "not held");
        assert!(
            worth_fetching(Some(copy(4, 0)), copy(2, 0)),
            "held at 4, offered as 3"
        );
        assert!(
            !worth_fetching(Some(copy(3, 0)), copy(2, 0)),
            "held at 3 already"
        );
        assert!(!worth_fetching(Some(copy(1, 0)), copy(2, 0)));
        assert!(!worth_fetching(Some(copy(0, 2)), copy(u32::MAX, 2)), "ours");
        assert!(
            worth_fetching(Some(copy(2, 1)), copy(5, 2)),
            "fuller, further"
        );
        assert!(
            !worth_fetching(Some(copy(2, 2)), copy(1, 2)),
            "as full, as close"
        );
    }

    #[test]
    fn a_cursor_past_the_head_reads_nothing() {
        let plan = PagePlan::new(50, 10, 100, usize::MAX, 100);
        assert_eq!(plan.room(), 0);
        assert_eq!(
            plan.end(),
            PageEnd {
                through: 10,
                more: false,
                embargo_until: None
            }
        );
    }

    #[test]
    fn within_an_organisation_a_report_keeps_its_distance_and_every_node_hears_of_it() {
        use cairn_core::OrgKey;
        use rand::SeedableRng;
        let key =
            |seed: u64| OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed)).public();
        let (us, author, other) = (key(1), key(2), key(3));
        // Handed over by another node of ours: as far as it was there; by a partner: one more.
        let from_ours = Provenance::Peer { org: us, hop: 1 };
        let from_partner = Provenance::Peer { org: other, hop: 1 };
        assert_eq!(hop_of(&us, &author, &from_ours), 1);
        assert_eq!(hop_of(&us, &author, &from_partner), 2);
        assert_eq!(hop_of(&us, &us, &from_ours), 0);

        let marking = sample_marking();
        let own_node = Partner {
            org: us,
            name: "bank (this organisation)".into(),
            kind: cairn_policy::OrgKind::Other,
            sector: None,
            region: None,
            policy: cairn_policy::OutboundPolicy::default(),
        };
        let stored = |author: OrgPublicKey, from: Option<OrgPublicKey>| JustStored {
            author,
            marking: &marking,
            hop: 0,
            from,
            concerned: None,
        };
        let communities = Communities::default();
        // What this node wrote, and what a partner sent it: the other node hears of both.
        assert_eq!(
            tell(&us, &[stored(us, None)], &own_node, &communities, 1),
            Tell::Now
        );
        assert_eq!(
            tell(
                &us,
                &[stored(author, Some(other))],
                &own_node,
                &communities,
                1
            ),
            Tell::Now
        );
        // What a node of ours handed over: that node has it.
        assert_eq!(
            tell(&us, &[stored(author, Some(us))], &own_node, &communities, 1),
            Tell::Nothing
        );
        // Asked, it gets even what it handed over (a third node of ours may not have it).
        let standing = Standing {
            author: us,
            marking: &marking,
            provenance: from_ours,
            received_ms: 0,
            concerned: None,
        };
        assert!(matches!(
            verdict(&us, &communities, &own_node, standing, 1, Skip::Theirs),
            Verdict::Share { .. }
        ));
    }

    /// A GREEN report, community scope.
    fn sample_marking() -> Report {
        let draft = cairn_core::sample::indicator_report(
            &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5),
            5,
        );
        let key = cairn_core::OrgKey::generate(
            &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9),
        );
        let mut draft = draft;
        draft.tlp = Some(cairn_core::Tlp::Green);
        draft
            .sign(
                &key,
                &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(6),
            )
            .unwrap()
            .report()
            .clone()
    }
}
