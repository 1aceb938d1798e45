use super::*;
use std::os::unix::fs::PermissionsExt;

const KDF: KdfParams = KdfParams::INSECURE_FOR_TESTS;

fn pass(text: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(text.as_bytes().to_vec())
}

fn custody(dir: &tempfile::TempDir) -> Custody {
    Custody::new(dir.path().join("identity.key"))
}

#[tokio::test]
async fn init_writes_a_private_key_file_and_unlocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    let mut events = custody.subscribe();
    assert!(matches!(custody.keys(), Err(CustodyError::NotInitialized)));

    let phrase = custody
        .init(pass("correct horse"), KDF)
        .await
        .expect("init");
    assert_eq!(phrase.split(' ').count(), 24);
    assert!(custody.is_initialized() && !custody.is_locked());
    assert_eq!(events.try_recv().expect("event"), LockEvent::Unlocked);
    let mode = std::fs::metadata(custody.key_file())
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let restored = MasterSecret::from_recovery_phrase(&phrase).expect("phrase");
    assert!(custody.unlocked_master_is(&restored));
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("identity.key")]);

    let err = custody
        .init(pass("again"), KDF)
        .await
        .expect_err("second init");
    assert!(
        matches!(err, CustodyError::AlreadyInitialized { .. }),
        "{err}"
    );
    assert!(
        custody.unlocked_master_is(&restored),
        "the first identity stays"
    );
}

#[tokio::test]
async fn lock_then_unlock_with_wrong_and_right_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    custody.init(pass("pw one"), KDF).await.expect("init");
    let mut events = custody.subscribe();

    assert!(custody.lock(LockReason::Requested));
    assert!(!custody.lock(LockReason::Requested), "already locked");
    assert_eq!(
        events.try_recv().expect("event"),
        LockEvent::Locked(LockReason::Requested)
    );
    assert!(events.try_recv().is_err(), "one event per transition");
    assert!(matches!(custody.keys(), Err(CustodyError::Locked)));

    let err = custody.unlock(pass("pw two")).await.expect_err("wrong");
    assert!(matches!(err, CustodyError::WrongPassphrase), "{err}");
    assert!(custody.is_locked());
    let err = custody.unlock(pass("")).await.expect_err("empty");
    assert!(matches!(err, CustodyError::EmptyPassphrase), "{err}");

    custody.unlock(pass("pw one")).await.expect("unlock");
    assert!(custody.keys().is_ok());
    assert_eq!(events.try_recv().expect("event"), LockEvent::Unlocked);
}

#[tokio::test]
async fn a_held_key_outlives_the_lock_but_the_slot_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    custody.init(pass("pw"), KDF).await.expect("init");
    let held = custody.keys().expect("keys");
    custody.lock(LockReason::Idle);
    assert_eq!(Arc::strong_count(&held), 1, "custody dropped its reference");
    assert!(custody.keys().is_err());
}

#[tokio::test]
async fn a_damaged_key_file_is_not_a_wrong_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    custody.init(pass("pw"), KDF).await.expect("init");
    custody.lock(LockReason::Requested);
    let mut bytes = std::fs::read(custody.key_file()).expect("read");
    let last = bytes.len() - 40;
    bytes[last] ^= 0x40;
    std::fs::write(custody.key_file(), &bytes).expect("write");

    let err = custody.unlock(pass("pw")).await.expect_err("corrupt");
    assert!(
        matches!(
            err,
            CustodyError::KeyFile {
                reason: KeyFileError::Corrupt,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");

    std::fs::write(custody.key_file(), b"not a key file at all").expect("write");
    let err = custody.unlock(pass("pw")).await.expect_err("foreign");
    assert!(
        err.to_string().contains("not a PluralLog key file"),
        "{err}"
    );
}

#[tokio::test]
async fn export_asks_for_the_passphrase_even_when_unlocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    custody.init(pass("pw"), KDF).await.expect("init");
    assert!(!custody.is_locked());
    let err = custody.export(pass("guess")).await.expect_err("wrong");
    assert!(matches!(err, CustodyError::WrongPassphrase), "{err}");
    let exported = custody.export(pass("pw")).await.expect("export");
    assert_eq!(
        exported,
        std::fs::read(custody.key_file()).expect("key file")
    );
}

#[tokio::test]
async fn import_installs_a_key_file_once() {
    let source_dir = tempfile::tempdir().expect("tempdir");
    let source = custody(&source_dir);
    let phrase = source.init(pass("pw"), KDF).await.expect("init");
    let file = source.export(pass("pw")).await.expect("export");

    let dir = tempfile::tempdir().expect("tempdir");
    let target = custody(&dir);
    let err = target
        .import(file.clone(), pass("nope"))
        .await
        .expect_err("wrong passphrase");
    assert!(matches!(err, CustodyError::WrongPassphrase), "{err}");
    assert!(!target.is_initialized(), "nothing written on failure");

    target
        .import(file.clone(), pass("pw"))
        .await
        .expect("import");
    let master = MasterSecret::from_recovery_phrase(&phrase).expect("phrase");
    assert!(target.unlocked_master_is(&master));
    let err = target.import(file, pass("pw")).await.expect_err("exists");
    assert!(
        matches!(err, CustodyError::AlreadyInitialized { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn restore_rebuilds_the_identity_and_can_change_the_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    let phrase = custody.init(pass("old"), KDF).await.expect("init");
    let master = || MasterSecret::from_recovery_phrase(&phrase).expect("phrase");

    let err = custody
        .restore(master(), pass("new"), KDF, Existing::Refuse)
        .await
        .expect_err("exists");
    assert!(
        matches!(err, CustodyError::AlreadyInitialized { .. }),
        "{err}"
    );

    custody.lock(LockReason::Requested);
    custody
        .restore(master(), pass("new"), KDF, Existing::Replace)
        .await
        .expect("restore");
    assert!(custody.unlocked_master_is(&master()));
    custody.lock(LockReason::Requested);
    let err = custody
        .unlock(pass("old"))
        .await
        .expect_err("old passphrase");
    assert!(matches!(err, CustodyError::WrongPassphrase), "{err}");
    custody.unlock(pass("new")).await.expect("new passphrase");
}

#[tokio::test]
async fn hostile_kdf_costs_are_refused_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let custody = custody(&dir);
    let err = custody
        .init(
            pass("pw"),
            KdfParams {
                time_cost: 99,
                ..KDF
            },
        )
        .await
        .expect_err("costs");
    assert!(matches!(err, CustodyError::Kdf(_)), "{err}");
    assert!(!custody.is_initialized() && custody.is_locked());
}
