//! What the store keeps about exchanges with partner nodes: the catch-up cursor per partner
//! node (our position in its arrival order) and the audit trail of which organisation was
//! served which report, and when. Both live in the durable reports database.

use cairn_core::{OrgPublicKey, ReportId};

use crate::{IngestError, ReadError, Store};

/// One delivery of a report to a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The organisation it went to.
    pub org: OrgPublicKey,
    /// The node of that organisation that asked for it.
    pub node: [u8; 32],
    /// When it was served (ms since the Unix epoch).
    pub at_ms: i64,
}

impl Store {
    /// Our position in a partner node's arrival order (0: nothing pulled yet).
    pub fn cursor(&self, node: &[u8; 32]) -> Result<u64, ReadError> {
        match self.trees.cursors.get(node)? {
            None => Ok(0),
            Some(v) => v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| ReadError::Corrupt("catch-up cursor".into())),
        }
    }

    /// Every saved cursor, by partner node.
    pub fn cursors(&self) -> Result<Vec<([u8; 32], u64)>, ReadError> {
        let mut out = Vec::new();
        for item in self.trees.cursors.iter() {
            let (k, v) = item?;
            let node: [u8; 32] = k
                .as_ref()
                .try_into()
                .map_err(|_| ReadError::Corrupt("catch-up cursor key".into()))?;
            let cursor = v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| ReadError::Corrupt("catch-up cursor".into()))?;
            out.push((node, cursor));
        }
        Ok(out)
    }

    /// Saves a partner node's cursor. It reaches the disk with the next ingest (every ingest
    /// flushes), with [`Store::flush`], or within sled's flush interval: a crash before then
    /// only makes the node pull again what it already stored, which changes nothing. A cursor
    /// never moves back: a smaller value than the saved one is ignored.
    pub fn save_cursor(&self, node: &[u8; 32], cursor: u64) -> Result<(), IngestError> {
        self.trees.cursors.fetch_and_update(node, |old| {
            let old = old
                .and_then(|v| v.try_into().ok())
                .map_or(0, u64::from_be_bytes);
            Some(old.max(cursor).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// Sets the catch-up cursor for a partner node, even backwards: catching up with it starts
    /// again from there (its arrival numbers were reset, or an answer moved the cursor too far).
    pub fn reset_cursor(&self, node: &[u8; 32], cursor: u64) -> Result<(), IngestError> {
        self.trees.cursors.insert(node, &cursor.to_be_bytes())?;
        self.trees.db.flush()?;
        Ok(())
    }

    /// How far this node's arrivals were last written into a bundle for `org` (0: never): the
    /// next bundle for it starts there unless told otherwise.
    pub fn bundle_cursor(&self, org: &OrgPublicKey) -> Result<u64, ReadError> {
        match self.trees.bundles.get(org.as_bytes())? {
            None => Ok(0),
            Some(v) => v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| ReadError::Corrupt("bundle cursor".into())),
        }
    }

    /// Saves how far the last bundle written for `org` went, flushed before this returns.
    pub fn save_bundle_cursor(&self, org: &OrgPublicKey, through: u64) -> Result<(), IngestError> {
        self.trees
            .bundles
            .insert(org.as_bytes(), &through.to_be_bytes())?;
        self.trees.db.flush()?;
        Ok(())
    }

    /// Records that `reports` were served to `org` (through its node `node`), as one record
    /// flushed before this returns: the audit trail never misses a report that left, and a
    /// page of reports costs one write.
    pub fn record_deliveries(
        &self,
        org: &OrgPublicKey,
        node: &[u8; 32],
        reports: &[ReportId],
        at_ms: i64,
    ) -> Result<(), IngestError> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut value = Vec::with_capacity(AUDIT_HEADER + 32 * reports.len());
        value.extend_from_slice(org.as_bytes());
        value.extend_from_slice(node);
        value.extend_from_slice(&at_ms.to_be_bytes());
        for id in reports {
            value.extend_from_slice(id.as_bytes());
        }
        let key = (self.trees.db.generate_id()? + self.audit_id_offset).to_be_bytes();
        self.trees.audit.insert(key, value)?;
        self.trees.db.flush()?;
        Ok(())
    }

    /// Adds to `counts` (by UTC day) the reports served to partners on `first_day` or later
    /// that the audit records after `after` name, reading from the newest record back; answers
    /// the newest record's key (where the next call starts). Records are written as pages are
    /// served, so they are in time order but for a clock set back: the walk ends after a run
    /// of records older than the first day.
    pub fn count_served(
        &self,
        after: Option<u64>,
        first_day: i64,
        counts: &mut std::collections::BTreeMap<i64, u64>,
    ) -> Result<Option<u64>, ReadError> {
        /// Records older than the window in a row after which the walk ends.
        const OLDER_IN_A_ROW: usize = 1000;
        let corrupt = || ReadError::Corrupt("audit record".into());
        let key_of = |k: &[u8]| k.try_into().map(u64::from_be_bytes).map_err(|_| corrupt());
        let newest = match self.trees.audit.last()? {
            Some((k, _)) => Some(key_of(&k)?),
            None => return Ok(after),
        };
        let range = match after {
            Some(a) => self.trees.audit.range(a.saturating_add(1).to_be_bytes()..),
            None => self.trees.audit.range::<[u8; 8], _>(..),
        };
        let mut older = 0;
        for item in range.rev() {
            let (_, v) = item?;
            if v.len() < AUDIT_HEADER || !(v.len() - AUDIT_HEADER).is_multiple_of(32) {
                return Err(corrupt());
            }
            let at_ms = v[64..72]
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| corrupt())?;
            let day = cairn_core::when::utc_day(at_ms);
            if day < first_day {
                older += 1;
                if older == OLDER_IN_A_ROW {
                    break;
                }
                continue;
            }
            older = 0;
            *counts.entry(day).or_default() += ((v.len() - AUDIT_HEADER) / 32) as u64;
        }
        Ok(newest)
    }

    /// Every delivery of a report, in the order they happened. Reads the whole audit trail:
    /// meant for operators' questions, not for a hot path.
    pub fn deliveries(&self, id: &ReportId) -> Result<Vec<Delivery>, ReadError> {
        let corrupt = || ReadError::Corrupt("audit record".into());
        let mut out = Vec::new();
        for item in self.trees.audit.iter() {
            let (_, v) = item?;
            if v.len() < AUDIT_HEADER || !(v.len() - AUDIT_HEADER).is_multiple_of(32) {
                return Err(corrupt());
            }
            if !v[AUDIT_HEADER..]
                .chunks_exact(32)
                .any(|chunk| chunk == id.as_bytes())
            {
                continue;
            }
            let org = OrgPublicKey::from_bytes(&v[..32]).map_err(|_| corrupt())?;
            let node = v[32..64].try_into().map_err(|_| corrupt())?;
            let at_ms = v[64..72]
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| corrupt())?;
            out.push(Delivery { org, node, at_ms });
        }
        Ok(out)
    }
}

/// An audit record: organisation key, node key, time, then the report ids.
const AUDIT_HEADER: usize = 72;
