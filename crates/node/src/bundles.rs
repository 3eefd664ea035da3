//! Bundles on a node: writing what a partner organisation may see into a signed file, and
//! reading one a partner wrote, with the same sharing rules, audit trail and catch-up position
//! as the network ([`cairn_core::bundle`] is the format). A bundle is the pages a pull from
//! the partner would get, one after the other; reading one stores its reports as a page from
//! the partner's node would be stored, and moves our position in that node's arrivals when
//! the bundle follows on from what we hold.

use cairn_core::bundle::{self, BundleBody, BundleError, BundledReport};
use cairn_core::{NodeKey, OrgPublicKey};
use cairn_net::PassedReport;
use cairn_net::wire::{MAX_PAGE_REPORTS, PAGE_BUDGET_BYTES};
use cairn_policy::Partner;
use cairn_store::Store;

use crate::exchange::{self, Received, SharingRules};
use crate::keylogs::{Certified, SharedKeyLogs};

/// The node named in the audit trail for a report written into a bundle: no node asked for
/// it, and whoever holds the file may read it.
pub const DELIVERED_IN_BUNDLE: [u8; 32] = [0; 32];

/// Most envelope bytes one bundle carries; a bundle that stops there says there is more.
pub const MAX_BUNDLE_ENVELOPE_BYTES: usize = 64 << 20;

/// What a bundle written for a partner holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundleContents {
    /// The reports in it.
    pub reports: usize,
    /// This node's arrival numbers after `after`...
    pub after: u64,
    /// ...up to `through` are accounted for.
    pub through: u64,
    /// This node's newest arrival number.
    pub head: u64,
    /// Whether more did not fit (write another bundle after `through`).
    pub more: bool,
    /// Reports passed over because a sharing rule withholds them, by rule name.
    pub withheld: Vec<(String, u64)>,
    /// The bundle stopped at a report embargoed for the partner until then (ms).
    pub embargo_until: Option<i64>,
}

/// A bundle written for a partner.
#[derive(Debug, Clone)]
pub struct WrittenBundle {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// What it holds.
    pub contents: BundleContents,
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteBundleError {
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Read(#[from] cairn_store::ReadError),
    /// The audit trail or the bundle position could not be written.
    #[error("recording the bundle: {0}")]
    Record(#[from] cairn_store::IngestError),
}

/// What this node's own identity puts in a bundle.
pub struct Writer<'a> {
    /// The node's encoded certificate.
    pub certificate: &'a [u8],
    /// The organisation's encoded key statements.
    pub statements: Vec<Vec<u8>>,
    /// The node key that signs.
    pub node_key: &'a NodeKey,
}

/// Writes what `partner` may see of this node's arrivals after `after` into a bundle (at most
/// [`MAX_BUNDLE_ENVELOPE_BYTES`] of reports), records each report in the audit trail as
/// delivered to the partner in a bundle, and remembers `through` as where the next bundle for
/// the partner starts.
pub fn write(
    store: &Store,
    rules: &SharingRules,
    partner: &Partner,
    after: u64,
    writer: Writer<'_>,
    now_ms: i64,
) -> Result<WrittenBundle, WriteBundleError> {
    let mut reports: Vec<BundledReport> = Vec::new();
    let mut delivered = Vec::new();
    let mut withheld: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let mut bytes = 0usize;
    let mut through = after;
    let (mut head, mut more, mut embargo_until);
    loop {
        let served = exchange::serve_page(
            store,
            rules,
            partner,
            through,
            MAX_PAGE_REPORTS as usize,
            PAGE_BUDGET_BYTES.min(MAX_BUNDLE_ENVELOPE_BYTES.saturating_sub(bytes)),
            now_ms,
        )?;
        for (rule, n) in served.withheld {
            *withheld.entry(rule).or_default() += n;
        }
        for passed in served.page.reports {
            bytes += passed.envelope.len();
            reports.push(BundledReport {
                envelope: passed.envelope,
                hop: passed.hop,
            });
        }
        delivered.extend(served.delivered);
        // A page that moved nothing (no room left) ends the bundle too.
        let moved = served.page.through > through;
        through = served.page.through.max(through);
        head = served.page.head;
        more = served.page.more;
        embargo_until = served.embargo_until;
        if !more || !moved || bytes >= MAX_BUNDLE_ENVELOPE_BYTES || embargo_until.is_some() {
            break;
        }
    }
    store.record_deliveries(&partner.org, &DELIVERED_IN_BUNDLE, &delivered, now_ms)?;
    store.save_bundle_cursor(&partner.org, through)?;
    let count = reports.len();
    let body = BundleBody {
        certificate: writer.certificate.to_vec(),
        statements: writer.statements,
        recipient: partner.org,
        created_ms: now_ms,
        after,
        through,
        head,
        more,
        reports,
    };
    Ok(WrittenBundle {
        bytes: bundle::seal(&body, writer.node_key),
        contents: BundleContents {
            reports: count,
            after,
            through,
            head,
            more,
            withheld: withheld
                .into_iter()
                .map(|(rule, n)| (rule.to_string(), n))
                .collect(),
            embargo_until,
        },
    })
}

/// Why a bundle was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadBundleError {
    /// Not a bundle, changed, or not signed by its node.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Written for another organisation.
    #[error("this bundle is for organisation {0}, not this one")]
    NotForUs(OrgPublicKey),
    /// From an organisation not in the trust list.
    #[error("this bundle comes from organisation {0}, which is not a partner in the trust list")]
    NotAPartner(OrgPublicKey),
    /// The node that wrote it does not stand for its organisation.
    #[error("the node that wrote this bundle does not stand for {partner}: {reason}")]
    Standing {
        /// The partner's name.
        partner: String,
        /// Why, as its organisation's key statements say.
        reason: String,
    },
    /// The store could not be read or written.
    #[error("the store: {0}")]
    Store(String),
}

/// What reading a bundle did.
#[derive(Debug)]
pub struct ReadBundle {
    /// The partner it came from.
    pub partner: Partner,
    /// The node that wrote it.
    pub node_key: [u8; 32],
    /// What the bundle accounts for of that node's arrivals, and its newest then.
    pub after: u64,
    /// See `after`.
    pub through: u64,
    /// See `after`.
    pub head: u64,
    /// Whether the writer had more than fit.
    pub more: bool,
    /// Our position in that node's arrivals before the bundle, and after.
    pub cursor_before: u64,
    /// See `cursor_before`.
    pub cursor_after: u64,
    /// Key statements of the partner new to this node.
    pub new_statements: Vec<cairn_core::keylog::KeyStatement>,
    /// Key statements refused, with why.
    pub refused_statements: Vec<String>,
    /// What became of its reports.
    pub received: Received,
}

impl ReadBundle {
    /// The arrivals of the writer this node still lacks before the bundle: an earlier bundle
    /// was not read (`after` is past our position).
    pub fn gap(&self) -> Option<(u64, u64)> {
        (self.after > self.cursor_before).then_some((self.cursor_before, self.after))
    }
}

/// Reads a bundle for this node's organisation `us`: checks it, takes the writer
/// organisation's key statements, checks that the writing node stands for it, stores the
/// reports as a page from that node would be (inbound rules, provenance) and moves our
/// position in its arrivals when the bundle follows on from it.
pub fn read(
    store: &Store,
    rules: &SharingRules,
    keylogs: &SharedKeyLogs,
    us: &OrgPublicKey,
    partners: &[Partner],
    bytes: &[u8],
    now_ms: i64,
) -> Result<ReadBundle, ReadBundleError> {
    let opened = bundle::open(bytes)?;
    if opened.body.recipient != *us {
        return Err(ReadBundleError::NotForUs(opened.body.recipient));
    }
    let certificate = opened.certificate;
    let partner = partners
        .iter()
        .find(|p| p.org == certificate.org_key)
        .cloned()
        .ok_or(ReadBundleError::NotAPartner(certificate.org_key))?;
    let admitted = keylogs.write().admit(&partner.org, &opened.body.statements);
    if !admitted.new.is_empty() {
        store
            .keep_statements(&admitted.new)
            .map_err(|e| ReadBundleError::Store(e.to_string()))?;
    }
    keylogs
        .read()
        .standing(
            &partner.org,
            &certificate.node_key,
            Some(Certified::from(&certificate)),
            now_ms,
        )
        .map_err(|reason| ReadBundleError::Standing {
            partner: partner.name.clone(),
            reason,
        })?;
    let node_key = certificate.node_key;
    let cursor_before = store
        .cursor(&node_key)
        .map_err(|e| ReadBundleError::Store(e.to_string()))?;
    let reports: Vec<PassedReport> = opened
        .body
        .reports
        .into_iter()
        .map(|r| PassedReport {
            envelope: r.envelope,
            hop: r.hop,
        })
        .collect();
    let mut received = exchange::receive(store, rules, &partner, reports, keylogs, now_ms)
        .map_err(|e| ReadBundleError::Store(e.to_string()))?;
    // The statements a bundle could bring came with it: nothing more to wait for.
    let waited: Vec<_> = received.awaiting.drain(..).map(|a| a.refused()).collect();
    received.rejected.extend(waited);
    let body_after = opened.body.after;
    let through = opened.body.through;
    let cursor_after = if body_after <= cursor_before && through > cursor_before {
        store
            .save_cursor(&node_key, through)
            .and_then(|()| store.flush())
            .map_err(|e| ReadBundleError::Store(e.to_string()))?;
        through
    } else {
        cursor_before
    };
    Ok(ReadBundle {
        partner,
        node_key,
        after: body_after,
        through,
        head: opened.body.head,
        more: opened.body.more,
        cursor_before,
        cursor_after,
        new_statements: admitted.new,
        refused_statements: admitted.refused,
        received,
    })
}
