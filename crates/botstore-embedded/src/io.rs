//! The one seam between the engine and its files: the journal's reads, writes and syncs
//! ([`DataFile`]) and redb's storage ([`FileLayer::open_database`]) both go through a
//! [`FileLayer`]. Production code uses [`FileLayer::Plain`]: the journal is a plain
//! [`File`] behind a two-arm `match`, and redb opens its file itself, exactly as without
//! the seam. With the `faults` feature, [`FileLayer::Faulty`] routes every operation of
//! both files through a [`crate::fault_injection::Faults`] plan that tests change while the store
//! runs (bit flips, torn and lost writes, ENOSPC, EIO).

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Which of the engine's files an operation touches (fault plans select by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `wal.log`.
    Journal,
    /// `store.redb`.
    Database,
}

/// How the engine opens its files.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum FileLayer {
    /// The plain files (production).
    #[default]
    Plain,
    /// Every operation goes through a shared fault plan (tests).
    #[cfg(feature = "faults")]
    Faulty(std::sync::Arc<crate::fault_injection::Faults>),
}

impl FileLayer {
    /// Open (or create) a read-write file that is never truncated on open.
    pub fn open_file(&self, path: &Path, kind: FileKind) -> io::Result<DataFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(match self {
            FileLayer::Plain => {
                let _ = kind;
                DataFile::Plain(file)
            }
            #[cfg(feature = "faults")]
            FileLayer::Faulty(f) => DataFile::Faulty(f.wrap(file, path, kind)),
        })
    }

    /// Open an existing redb database at `path` with `builder`'s settings.
    pub fn open_database(
        &self,
        builder: &redb::Builder,
        path: &Path,
    ) -> Result<redb::Database, redb::DatabaseError> {
        match self {
            FileLayer::Plain => builder.open(path),
            #[cfg(feature = "faults")]
            FileLayer::Faulty(f) => {
                let file = OpenOptions::new().read(true).write(true).open(path)?;
                builder.create_with_backend(crate::fault_injection::FaultyBackend(f.wrap(
                    file,
                    path,
                    FileKind::Database,
                )))
            }
        }
    }
}

/// A file of the engine, opened through a [`FileLayer`]. Positional reads and writes come
/// from [`FileExt`] (so `read_exact_at` and `write_all_at` work as on a [`File`]).
#[derive(Debug)]
pub enum DataFile {
    Plain(File),
    #[cfg(feature = "faults")]
    Faulty(crate::fault_injection::FaultyFile),
}

impl DataFile {
    /// Flush the file's data to the disk (`fdatasync`).
    pub fn sync_data(&self) -> io::Result<()> {
        match self {
            DataFile::Plain(f) => f.sync_data(),
            #[cfg(feature = "faults")]
            DataFile::Faulty(f) => f.sync_data(),
        }
    }

    /// Cut or extend the file to `len` bytes.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        match self {
            DataFile::Plain(f) => f.set_len(len),
            #[cfg(feature = "faults")]
            DataFile::Faulty(f) => f.set_len(len),
        }
    }

    /// The file's metadata (its length is the one thing the engine reads from it).
    pub fn metadata(&self) -> io::Result<Metadata> {
        match self {
            DataFile::Plain(f) => f.metadata(),
            #[cfg(feature = "faults")]
            DataFile::Faulty(f) => f.metadata(),
        }
    }
}

impl FileExt for DataFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            DataFile::Plain(f) => f.read_at(buf, offset),
            #[cfg(feature = "faults")]
            DataFile::Faulty(f) => f.read_at(buf, offset),
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match self {
            DataFile::Plain(f) => f.write_at(buf, offset),
            #[cfg(feature = "faults")]
            DataFile::Faulty(f) => f.write_at(buf, offset),
        }
    }
}

/// What the journal reader needs of a file: positional reads and its length. Implemented
/// by [`DataFile`] and by a plain [`File`] (tests read damaged copies directly).
pub trait JournalFile: FileExt {
    /// The file's metadata.
    fn metadata(&self) -> io::Result<Metadata>;
}

impl JournalFile for File {
    fn metadata(&self) -> io::Result<Metadata> {
        File::metadata(self)
    }
}

impl JournalFile for DataFile {
    fn metadata(&self) -> io::Result<Metadata> {
        DataFile::metadata(self)
    }
}
