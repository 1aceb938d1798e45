//! Process-level protections and identity: no core dumps, no ptrace attach, one instance per
//! user, and the uid callers are compared with.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::process::{DumpableBehavior, Resource, Rlimit};

/// The real uid of this process.
#[must_use]
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Keeps unlocked keys out of core dumps and away from debuggers of the same user: sets the
/// core-dump size limit to zero and clears the "dumpable" flag (`PR_SET_DUMPABLE 0`), which
/// also refuses `ptrace` attach by unprivileged processes.
///
/// # Errors
/// The system call that failed.
pub fn harden() -> io::Result<()> {
    rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Why another instance is assumed to run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// The lock is held by another process.
    #[error("another plogd is already running for this user (it holds {path})", path = path.display())]
    AlreadyRunning {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot take the single-instance lock {path}: {source}", path = path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

/// The single-instance lock: an exclusive `flock` on a file in the runtime directory, held
/// for the life of the process (the kernel drops it when the process dies).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the lock at `path`.
    ///
    /// # Errors
    /// [`InstanceError::AlreadyRunning`] if another process holds it.
    pub fn acquire(path: &Path) -> Result<Self, InstanceError> {
        let io = |source| InstanceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(InstanceError::AlreadyRunning {
                path: path.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plogd.lock");
        let first = InstanceLock::acquire(&path).expect("first");
        let err = InstanceLock::acquire(&path).expect_err("second");
        assert!(matches!(err, InstanceError::AlreadyRunning { .. }), "{err}");
        drop(first);
        InstanceLock::acquire(&path).expect("after the first ended");
    }

    #[test]
    fn hardening_disables_core_dumps_and_ptrace() {
        harden().expect("harden");
        assert_eq!(
            rustix::process::dumpable_behavior().expect("get dumpable"),
            DumpableBehavior::NotDumpable
        );
        let limit = rustix::process::getrlimit(Resource::Core);
        assert_eq!(limit.current, Some(0));
        assert_eq!(limit.maximum, Some(0));
    }
}
