//! `org.plurallog.Daemon1.Identity`: init, unlock, lock, status, restore, export, import.

use std::sync::Arc;

use plog_crypto::master::MasterSecret;
use plog_crypto::volume::OwnerKeys;
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::dbus::identity::StatusReport;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedFd};

use super::{DaemonState, to_json};
use crate::custody::{CustodyError, Existing, LockReason};
use crate::fdio::{self, MAX_KEY_FILE, MAX_PASSPHRASE, MAX_PHRASE};

/// The Identity interface.
#[derive(Debug)]
pub struct IdentityInterface {
    state: Arc<DaemonState>,
}

impl IdentityInterface {
    /// The interface over the shared state.
    #[must_use]
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }

    fn kdf(&self) -> plog_crypto::keyfile::KdfParams {
        self.state.config.borrow().kdf.params()
    }
}

async fn read_passphrase(fd: OwnedFd) -> Result<zeroize::Zeroizing<Vec<u8>>, DaemonError> {
    let file = fdio::into_file(fd);
    let passphrase =
        fdio::blocking(move || fdio::read_secret(file, MAX_PASSPHRASE, "passphrase")).await?;
    if passphrase.is_empty() {
        return Err(CustodyError::EmptyPassphrase.into());
    }
    Ok(passphrase)
}

#[zbus::interface(name = "org.plurallog.Daemon1.Identity")]
impl IdentityInterface {
    async fn init(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        passphrase_fd: OwnedFd,
        phrase_out_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let custody = &self.state.custody;
        if custody.is_initialized() {
            return Err(CustodyError::AlreadyInitialized {
                path: custody.key_file().to_path_buf(),
            }
            .into());
        }
        let passphrase = read_passphrase(passphrase_fd).await?;
        let master = MasterSecret::generate()
            .map_err(|e| DaemonError::Failed(format!("cannot generate a master secret: {e}")))?;
        // The phrase goes out before the key file is written: an identity whose phrase the
        // person never received must not come into existence.
        let mut line = master.recovery_phrase();
        line.push('\n');
        let out = fdio::into_file(phrase_out_fd);
        fdio::blocking(move || fdio::write_and_close(out, line.as_bytes(), "recovery phrase"))
            .await?;
        custody
            .restore(master, passphrase, self.kdf(), Existing::Refuse)
            .await?;
        Ok(())
    }

    async fn unlock(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        passphrase_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        if !self.state.custody.is_initialized() {
            return Err(CustodyError::NotInitialized.into());
        }
        let passphrase = read_passphrase(passphrase_fd).await?;
        self.state.custody.unlock(passphrase).await?;
        Ok(())
    }

    async fn lock(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.custody.lock(LockReason::Requested);
        Ok(())
    }

    async fn status(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let relays = self.state.store.relays().await.map_err(DaemonError::from)?;
        let auto_lock_secs = self
            .state
            .config
            .borrow()
            .lock
            .idle_lock()
            .map(|d| d.as_secs());
        to_json(&StatusReport {
            version: crate::VERSION.to_owned(),
            initialized: self.state.custody.is_initialized(),
            locked: self.state.custody.is_locked(),
            auto_lock_secs,
            relays: u32::try_from(relays.len()).unwrap_or(u32::MAX),
            live_relays: self.state.social.live_relays(),
            syncing: self.state.sync.is_running(),
            last_sync_at: self.state.sync.last_finished_at(),
            last_sync_error: self.state.sync.last_error(),
        })
    }

    async fn restore(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        phrase_fd: OwnedFd,
        passphrase_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let phrase_file = fdio::into_file(phrase_fd);
        let phrase = fdio::blocking(move || {
            fdio::read_secret_text(phrase_file, MAX_PHRASE, "recovery phrase")
        })
        .await?;
        let master = MasterSecret::from_recovery_phrase(&phrase).map_err(CustodyError::from)?;
        let passphrase = read_passphrase(passphrase_fd).await?;
        let custody = &self.state.custody;
        let existing = if custody.is_initialized() {
            if self.is_same_identity(&master).await? {
                Existing::Replace
            } else {
                return Err(DaemonError::AlreadyInitialized(format!(
                    "another identity is set up here ({}); this recovery phrase belongs to a different one. Nothing was changed",
                    custody.key_file().display()
                )));
            }
        } else {
            Existing::Refuse
        };
        custody
            .restore(master, passphrase, self.kdf(), existing)
            .await?;
        Ok(())
    }

    async fn export(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        passphrase_fd: OwnedFd,
        key_file_out_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        if !self.state.custody.is_initialized() {
            return Err(CustodyError::NotInitialized.into());
        }
        let passphrase = read_passphrase(passphrase_fd).await?;
        let bytes = self.state.custody.export(passphrase).await?;
        let out = fdio::into_file(key_file_out_fd);
        fdio::blocking(move || fdio::write_and_close(out, &bytes, "key file")).await?;
        Ok(())
    }

    async fn import(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        key_file_fd: OwnedFd,
        passphrase_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        if self.state.custody.is_initialized() {
            return Err(CustodyError::AlreadyInitialized {
                path: self.state.custody.key_file().to_path_buf(),
            }
            .into());
        }
        let key_file = fdio::into_file(key_file_fd);
        let bytes =
            fdio::blocking(move || fdio::read_bounded(key_file, MAX_KEY_FILE, "key file")).await?;
        let passphrase = read_passphrase(passphrase_fd).await?;
        self.state
            .custody
            .import(bytes.to_vec(), passphrase)
            .await?;
        Ok(())
    }

    /// Emitted on every lock (`true`) and unlock (`false`).
    #[zbus(signal)]
    pub async fn lock_state_changed(emitter: &SignalEmitter<'_>, locked: bool) -> zbus::Result<()>;
}

impl IdentityInterface {
    /// Whether `master` is the identity already set up here: the unlocked one, or the owner
    /// of the stored volumes (their wrapped keys open under its owner key).
    async fn is_same_identity(&self, master: &MasterSecret) -> Result<bool, DaemonError> {
        if self.state.custody.unlocked_master_is(master) {
            return Ok(true);
        }
        let owner = OwnerKeys::derive(master)
            .map_err(|e| DaemonError::Failed(format!("cannot derive keys: {e}")))?;
        let volumes = self
            .state
            .store
            .volumes()
            .await
            .map_err(DaemonError::from)?;
        Ok(volumes.iter().any(|v| {
            owner
                .unwrap(v.id.as_bytes(), v.key_epoch, &v.owner_key)
                .is_ok()
        }))
    }
}
