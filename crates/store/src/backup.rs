//! Consistent copies of a store that is in use: every tree copied into a new store, the reports
//! and the envelope file while no report is being written, so that a copy taken from a running node opens as the
//! store was at one moment (catch-up cursors never ahead of the reports they count).

use std::path::{Path, PathBuf};

use crate::store::Store;

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Reports copied.
    pub reports: u64,
    /// The last arrival number copied.
    pub last_seq: u64,
}

/// Why a backup was not made. What was written of it is left for the caller to remove.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target folder exists.
    #[error("{0} exists already: back up into a new folder")]
    Exists(PathBuf),
    /// Copying the envelope file failed.
    #[error("copying the envelope file to {path} failed: {source}")]
    Envelopes {
        /// The copy.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Reading the store or writing the copy failed.
    #[error("copying the store to {path} failed: {source}")]
    Storage {
        /// The copy.
        path: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
    /// The store holds a record it cannot read.
    #[error(transparent)]
    Read(#[from] crate::ReadError),
}

/// Trees copied before the reports are, in this order: the cursors first, so that none is
/// ahead of the reports copied after it (a cursor moves only once what it counts is stored).
const BEFORE_REPORTS: &[&[u8]] = &[b"cursors", b"statements", b"audit"];

/// The name sled gives the database's own tree (copied as the database itself).
const DEFAULT_TREE: &[u8] = b"__sled__default";

fn copy_tree(from: &sled::Tree, to: &sled::Tree) -> Result<(), sled::Error> {
    let mut batch = sled::Batch::default();
    let mut pending = 0usize;
    for entry in from.iter() {
        let (key, value) = entry?;
        pending += key.len() + value.len();
        batch.insert(key, value);
        if pending >= 8 << 20 {
            to.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    to.apply_batch(batch)
}

impl Store {
    /// Copies this store into a new store at `to` (a folder that must not exist), while it
    /// stays in use: reports are copied while none is being written (writers wait), the other
    /// trees just before. The query index is not copied: the copy builds it when first opened.
    /// The copy is flushed to disk before this returns.
    pub fn backup(&self, to: &Path) -> Result<BackupSummary, BackupError> {
        if to.exists() {
            return Err(BackupError::Exists(to.to_path_buf()));
        }
        let storage = |source| BackupError::Storage {
            path: to.to_path_buf(),
            source,
        };
        let copy = sled::Config::new()
            .path(to.join("reports"))
            .open()
            .map_err(storage)?;
        let db = &self.trees.db;
        for name in BEFORE_REPORTS {
            copy_tree(
                &db.open_tree(name).map_err(storage)?,
                &copy.open_tree(name).map_err(storage)?,
            )
            .map_err(storage)?;
        }
        // Every other tree (the reports, their versions and arrival numbers, the format
        // marker), with no writer at work.
        let summary = {
            let _writer = self.write_lock();
            copy_tree(db, &copy).map_err(storage)?;
            for name in db.tree_names() {
                if BEFORE_REPORTS.contains(&name.as_ref()) || name.as_ref() == DEFAULT_TREE {
                    continue;
                }
                copy_tree(
                    &db.open_tree(&name).map_err(storage)?,
                    &copy.open_tree(&name).map_err(storage)?,
                )
                .map_err(storage)?;
            }
            // The envelopes the copied records name: the committed part of the file, which
            // ends where the copied `ENVELOPE_END` says, since no writer is at work.
            let file = to.join(crate::envelopes::FILE_NAME);
            self.trees
                .envelopes
                .copy_to(&file)
                .map_err(|source| BackupError::Envelopes { path: file, source })?;
            BackupSummary {
                reports: self.len()?,
                last_seq: self.last_seq()?,
            }
        };
        copy.flush().map_err(storage)?;
        drop(copy);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Provenance, StoreConfig};
    use cairn_core::sample;
    use rand::SeedableRng;

    #[test]
    fn a_backup_opens_with_every_report_cursor_and_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), &StoreConfig::default()).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let org = cairn_core::OrgKey::generate(&mut rng);
        let reports: Vec<_> = (0..50)
            .map(|n| {
                sample::indicator_report(&mut rng, n)
                    .sign(&org, &mut rng)
                    .unwrap()
            })
            .collect();
        let ids: Vec<_> = reports.iter().map(|r| r.id()).collect();
        store.insert(reports, Provenance::Local).unwrap();
        let peer = [7u8; 32];
        store.save_cursor(&peer, 42).unwrap();
        store
            .record_deliveries(&org.public(), &[9u8; 32], &ids[..3], 1_000)
            .unwrap();

        let copy_path = dir.path().join("copy");
        let summary = store.backup(&copy_path).unwrap();
        assert_eq!(
            summary,
            BackupSummary {
                reports: 50,
                last_seq: 50
            }
        );
        assert!(matches!(
            store.backup(&copy_path),
            Err(BackupError::Exists(_))
        ));
        drop(store);

        let copy = Store::open(&copy_path, &StoreConfig::default()).unwrap();
        assert_eq!(copy.len().unwrap(), 50);
        assert_eq!(copy.cursor(&peer).unwrap(), 42);
        for id in &ids {
            assert!(copy.get(id).unwrap().is_some());
        }
        assert_eq!(copy.deliveries(&ids[0]).unwrap().len(), 1);
        // New deliveries in the copy do not overwrite those copied.
        copy.record_deliveries(&org.public(), &[9u8; 32], &ids[..1], 2_000)
            .unwrap();
        assert_eq!(copy.deliveries(&ids[0]).unwrap().len(), 2);
        assert_eq!(copy.deliveries(&ids[1]).unwrap().len(), 1);
        // Queries work: the index is rebuilt from the reports.
        copy.index_pending(usize::MAX).unwrap();
        assert_eq!(copy.indexed_up_to(), 50);
    }
}
