//! Volume ciphertext files: staged in a temporary file, fsynced, then published under their
//! final name before any row refers to them.
//!
//! Final names are `<volume id>-<revision>-<random>.vol`, so a new revision never overwrites the
//! file the current row points at; temporary files start with `.tmp-`. Anything in the
//! directory that no row names (a staged file or a published file whose transaction never
//! committed, an old revision whose deletion was interrupted) is an orphan and is swept when
//! the store opens.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use uuid::Uuid;

/// Prefix of staged (temporary) files.
const STAGING_PREFIX: &str = ".tmp-";

/// Fsyncs a directory, so a rename or unlink inside it is durable.
///
/// # Errors
/// The I/O error.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory of volume files.
#[derive(Debug, Clone)]
pub(crate) struct VolumeFiles {
    dir: PathBuf,
}

impl VolumeFiles {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a published file.
    pub(crate) fn path(&self, file_name: &str) -> PathBuf {
        self.dir.join(file_name)
    }

    /// A new staged file (mode 0600) in the directory.
    pub(crate) fn stage(&self) -> io::Result<StagedFile> {
        let temp = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempfile_in(&self.dir)?;
        Ok(StagedFile { temp, written: 0 })
    }

    /// Moves a complete staged file to a fresh final name for `id` and `revision` and makes the
    /// move durable. Returns the final name.
    pub(crate) fn publish(
        &self,
        staged: StagedFile,
        id: Uuid,
        revision: u64,
    ) -> io::Result<String> {
        staged.temp.as_file().sync_all()?;
        let random = Uuid::new_v4().simple().to_string();
        let name = format!("{id}-{revision}-{}.vol", &random[..12]);
        staged
            .temp
            .persist_noclobber(self.dir.join(&name))
            .map_err(|e| e.error)?;
        sync_dir(&self.dir)?;
        Ok(name)
    }

    /// Deletes a published file (missing is fine).
    pub(crate) fn remove(&self, file_name: &str) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(file_name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes every regular file whose name is not in `referenced`. Returns how many.
    pub(crate) fn sweep(&self, referenced: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name();
            let known = name.to_str().is_some_and(|name| referenced.contains(name));
            if !known {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}

/// A file being written; deleted on drop unless published.
#[derive(Debug)]
pub struct StagedFile {
    temp: NamedTempFile,
    written: u64,
}

impl StagedFile {
    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.written
    }

    /// Whether nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// The file, for reading back what was written.
    pub(crate) fn reopen(&self) -> io::Result<File> {
        self.temp.reopen()
    }

    /// A second handle on the same open file (shared offset), for async writers; report what
    /// they wrote with [`StagedFile::note_written`].
    pub(crate) fn shared_handle(&self) -> io::Result<File> {
        self.temp.as_file().try_clone()
    }

    /// Accounts for bytes written through a [`StagedFile::shared_handle`].
    pub(crate) fn note_written(&mut self, bytes: u64) {
        self.written += bytes;
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.temp.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}
