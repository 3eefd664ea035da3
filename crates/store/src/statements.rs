//! The organisations' key statements this node knows (its own organisation's and its
//! partners'), kept as received so that a revocation still holds after a restart. Keyed by
//! organisation id and statement digest: the same statement twice is kept once.

use cairn_core::keylog::{KeyStatement, OrgId};

use crate::{ReadError, Store};

/// Most statements kept per organisation: a partner cannot fill the disk with them.
pub const MAX_STATEMENTS_PER_ORG: usize = 4096;

/// Why statements were not kept. None of the batch is kept then.
#[derive(Debug, thiserror::Error)]
pub enum KeepStatementsError {
    /// The organisation already has the most statements a node keeps.
    #[error(
        "organisation {org} would have more than {MAX_STATEMENTS_PER_ORG} key statements: refused"
    )]
    TooMany {
        /// The organisation.
        org: OrgId,
    },
    /// sled failed to read or write.
    #[error("keeping key statements failed: {0}")]
    Storage(#[from] sled::Error),
}

fn key_of(statement: &KeyStatement) -> [u8; 64] {
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(statement.organisation().as_bytes());
    key[32..].copy_from_slice(&statement.digest());
    key
}

impl Store {
    /// Keeps statements (each about its own organisation) and returns those that were new, in
    /// the order given. Flushed before this returns.
    pub fn keep_statements(
        &self,
        statements: &[KeyStatement],
    ) -> Result<Vec<KeyStatement>, KeepStatementsError> {
        let tree = &self.trees.statements;
        let mut new = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut added: std::collections::BTreeMap<OrgId, usize> = Default::default();
        for statement in statements {
            let key = key_of(statement);
            if !seen.insert(key) || tree.contains_key(key)? {
                continue;
            }
            let org = statement.organisation();
            let count = match added.get(&org) {
                Some(count) => *count,
                None => tree.scan_prefix(org.as_bytes()).count(),
            };
            if count >= MAX_STATEMENTS_PER_ORG {
                return Err(KeepStatementsError::TooMany { org });
            }
            added.insert(org, count + 1);
            new.push(statement.clone());
        }
        if new.is_empty() {
            return Ok(new);
        }
        let mut batch = sled::Batch::default();
        for statement in &new {
            batch.insert(&key_of(statement)[..], statement.to_bytes());
        }
        tree.apply_batch(batch)?;
        self.trees.db.flush()?;
        Ok(new)
    }

    /// The statements kept about one organisation.
    pub fn statements_of(&self, org: &OrgId) -> Result<Vec<KeyStatement>, ReadError> {
        let mut out = Vec::new();
        for item in self.trees.statements.scan_prefix(org.as_bytes()) {
            let (_, value) = item?;
            out.push(
                KeyStatement::verify(&value)
                    .map_err(|e| ReadError::Corrupt(format!("key statement: {e}")))?,
            );
        }
        Ok(out)
    }

    /// Every statement kept, by organisation.
    pub fn all_statements(&self) -> Result<Vec<(OrgId, Vec<KeyStatement>)>, ReadError> {
        let mut out: Vec<(OrgId, Vec<KeyStatement>)> = Vec::new();
        for item in self.trees.statements.iter() {
            let (_, value) = item?;
            let statement = KeyStatement::verify(&value)
                .map_err(|e| ReadError::Corrupt(format!("key statement: {e}")))?;
            let org = statement.organisation();
            match out.last_mut() {
                Some((last, list)) if *last == org => list.push(statement),
                _ => out.push((org, vec![statement])),
            }
        }
        Ok(out)
    }
}
