//! The envelope file: every stored envelope written once, end to end, and read back by offset.
//!
//! sled keeps the small part of a record (arrival number, provenance, where the envelope is);
//! the envelope bytes live here. Scanning records then pages in small tree nodes rather than
//! whole envelopes, and reading an envelope goes through the operating system's file cache,
//! which the process does not hold as its own memory.
//!
//! Durability: ingest writes a batch's envelopes past the end, syncs the file, and only then
//! applies the sled batch naming them, which also records the new end (`ENVELOPE_END`). At
//! open, bytes past the recorded end belong to a batch that never landed and are cut off; a
//! file shorter than the recorded end is damaged. Each envelope's CRC-32 is kept in its record
//! and checked on every read.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The file's name in the store's folder.
pub(crate) const FILE_NAME: &str = "envelopes";

/// Where one envelope is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) crc32: u32,
}

/// Why the envelope file could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeFileError {
    #[error("cannot open {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} holds {found} bytes but the store's records name {expected}: envelopes are missing"
    )]
    Short {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
}

/// The open envelope file. Reads may run at any time from any thread; appends are made by
/// one writer at a time (the store's ingest lock).
#[derive(Debug)]
pub(crate) struct EnvelopeFile {
    file: File,
    /// Where the next envelope goes: past everything a committed record names.
    end: AtomicU64,
}

impl EnvelopeFile {
    /// Opens (or creates) the file in `folder`, cutting off anything past `committed_end`,
    /// the end recorded by the last sled batch that landed.
    pub(crate) fn open(folder: &Path, committed_end: u64) -> Result<Self, EnvelopeFileError> {
        let path = folder.join(FILE_NAME);
        let io = |source| EnvelopeFileError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let found = file.metadata().map_err(io)?.len();
        if found < committed_end {
            return Err(EnvelopeFileError::Short {
                path,
                found,
                expected: committed_end,
            });
        }
        if found > committed_end {
            tracing::info!(
                path = %path.display(),
                dropped = found - committed_end,
                "cutting off envelopes of an ingest that did not complete"
            );
            file.set_len(committed_end).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(EnvelopeFile {
            file,
            end: AtomicU64::new(committed_end),
        })
    }

    /// Where the next envelope will be written.
    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::SeqCst)
    }

    /// Starts a batch of envelopes to be written past the current end. The caller holds the
    /// store's ingest lock until the batch is committed or dropped.
    pub(crate) fn begin(&self) -> PendingEnvelopes {
        PendingEnvelopes {
            start: self.end(),
            buffer: Vec::new(),
        }
    }

    /// Writes a batch's envelopes and syncs them to disk. The end moves only once all are
    /// written: after a failure the next batch writes over the same bytes.
    pub(crate) fn commit(&self, pending: PendingEnvelopes) -> std::io::Result<()> {
        if pending.buffer.is_empty() {
            return Ok(());
        }
        if pending.start != self.end() {
            return Err(std::io::Error::other(
                "the envelope file moved while a batch was prepared",
            ));
        }
        self.file.write_all_at(&pending.buffer, pending.start)?;
        self.file.sync_data()?;
        self.end.store(pending.end(), Ordering::SeqCst);
        Ok(())
    }

    /// The envelope at `extent`, checked against its CRC-32.
    pub(crate) fn read(&self, extent: Extent) -> Result<Vec<u8>, EnvelopeReadError> {
        let committed = self.end();
        if extent.offset.saturating_add(u64::from(extent.len)) > committed {
            return Err(EnvelopeReadError::OutOfRange {
                offset: extent.offset,
                len: extent.len,
                end: committed,
            });
        }
        let mut bytes = vec![0; extent.len as usize];
        self.file
            .read_exact_at(&mut bytes, extent.offset)
            .map_err(EnvelopeReadError::Io)?;
        if crc32fast::hash(&bytes) != extent.crc32 {
            return Err(EnvelopeReadError::Checksum {
                offset: extent.offset,
            });
        }
        Ok(bytes)
    }

    /// Copies the committed part of the file to `to` (a new file), synced to disk.
    pub(crate) fn copy_to(&self, to: &Path) -> std::io::Result<()> {
        let target = OpenOptions::new().write(true).create_new(true).open(to)?;
        let end = self.end();
        let mut chunk = vec![0; 1 << 20];
        let mut at = 0;
        while at < end {
            let take = chunk.len().min((end - at) as usize);
            self.file.read_exact_at(&mut chunk[..take], at)?;
            target.write_all_at(&chunk[..take], at)?;
            at += take as u64;
        }
        target.sync_all()
    }
}

/// Envelopes of one ingest batch, laid out where they will be written.
#[derive(Debug)]
pub(crate) struct PendingEnvelopes {
    start: u64,
    buffer: Vec<u8>,
}

impl PendingEnvelopes {
    /// Lays out one more envelope and says where it will be.
    pub(crate) fn push(&mut self, envelope: &[u8]) -> std::io::Result<Extent> {
        let len = u32::try_from(envelope.len()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an envelope of 4 GiB or more cannot be stored",
            )
        })?;
        let extent = Extent {
            offset: self.end(),
            len,
            crc32: crc32fast::hash(envelope),
        };
        self.buffer.extend_from_slice(envelope);
        Ok(extent)
    }

    /// Where the file will end once the batch is committed.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.buffer.len() as u64
    }

    /// Whether no envelope was laid out.
    pub(crate) fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }
}

/// Why an envelope could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeReadError {
    /// The file could not be read.
    #[error("reading the envelope file failed: {0}")]
    Io(std::io::Error),
    /// A record names bytes past the end of the file.
    #[error("a record names envelope bytes {offset}+{len}, past the envelope file's end {end}")]
    OutOfRange {
        /// Where the envelope should start.
        offset: u64,
        /// Its length.
        len: u32,
        /// The committed end of the file.
        end: u64,
    },
    /// The bytes read are not those written.
    #[error("the envelope at offset {offset} does not match its checksum")]
    Checksum {
        /// Where the envelope starts.
        offset: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(file: &EnvelopeFile, envelopes: &[&[u8]]) -> Vec<Extent> {
        let mut pending = file.begin();
        let extents = envelopes.iter().map(|e| pending.push(e).unwrap()).collect();
        file.commit(pending).unwrap();
        extents
    }

    #[test]
    fn envelopes_read_back_and_an_uncommitted_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let file = EnvelopeFile::open(dir.path(), 0).unwrap();
        let extents = append(&file, &[b"first", b"", b"third one"]);
        assert_eq!(file.read(extents[0]).unwrap(), b"first");
        assert_eq!(file.read(extents[1]).unwrap(), b"");
        assert_eq!(file.read(extents[2]).unwrap(), b"third one");
        let committed = file.end();
        assert_eq!(committed, 14);
        let more = append(&file, &[b"never committed"]);
        drop(file);

        let file = EnvelopeFile::open(dir.path(), committed).unwrap();
        assert_eq!(file.end(), committed);
        assert!(matches!(
            file.read(more[0]),
            Err(EnvelopeReadError::OutOfRange { .. })
        ));
        assert_eq!(file.read(extents[2]).unwrap(), b"third one");
        // The next append goes where the cut-off bytes were.
        let again = append(&file, &[b"again"]);
        assert_eq!(again[0].offset, committed);
        assert_eq!(file.read(again[0]).unwrap(), b"again");
    }

    #[test]
    fn a_damaged_or_short_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = EnvelopeFile::open(dir.path(), 0).unwrap();
        let extents = append(&file, &[b"envelope"]);
        file.file.write_all_at(b"X", 2).unwrap();
        assert!(matches!(
            file.read(extents[0]),
            Err(EnvelopeReadError::Checksum { offset: 0 })
        ));
        drop(file);
        assert!(matches!(
            EnvelopeFile::open(dir.path(), 100),
            Err(EnvelopeFileError::Short {
                found: 8,
                expected: 100,
                ..
            })
        ));
    }

    #[test]
    fn a_copy_holds_the_committed_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = EnvelopeFile::open(dir.path(), 0).unwrap();
        let extents = append(&file, &[b"one", b"two"]);
        let target = dir.path().join("copy");
        std::fs::create_dir(&target).unwrap();
        file.copy_to(&target.join(FILE_NAME)).unwrap();
        let copy = EnvelopeFile::open(&target, file.end()).unwrap();
        assert_eq!(copy.read(extents[1]).unwrap(), b"two");
        assert!(file.copy_to(&target.join(FILE_NAME)).is_err());
    }
}
