use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use plog_crypto::master::MasterSecret;

use super::*;
use crate::paths::Paths;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    keys: Arc<UnlockedKeys>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths::under(dir.path());
    paths.create_dirs().expect("dirs");
    let store = Store::open(&paths.store_db(), &paths.volumes_dir())
        .await
        .expect("open");
    let keys = Arc::new(UnlockedKeys::new(MasterSecret::from_bytes([5; 32])).expect("keys"));
    Fixture {
        _dir: dir,
        store,
        keys,
    }
}

fn vtype(name: &str) -> VolumeType {
    VolumeType::parse(name).expect("vtype")
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

/// A pipe fed with `bytes` by a thread, as a caller would hand it over.
fn pipe_of(bytes: Vec<u8>) -> File {
    let (reader, writer) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || {
        let mut writer = File::from(OwnedFd::from(writer));
        // The reader may stop early on error; that is fine here.
        let _ = writer.write_all(&bytes);
    });
    File::from(OwnedFd::from(reader))
}

/// Gets volume `name` through a pipe and returns what came out.
async fn get_bytes(f: &Fixture, name: &str) -> Result<Vec<u8>, VolumeOpError> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        File::from(OwnedFd::from(reader))
            .read_to_end(&mut out)
            .expect("read");
        out
    });
    let outcome = get(
        &f.store,
        Arc::clone(&f.keys),
        &vtype(name),
        File::from(OwnedFd::from(writer)),
    )
    .await;
    let out = collector.join().expect("collector");
    outcome.map(|_| out)
}

#[tokio::test]
async fn put_and_get_are_byte_exact_for_files_and_pipes() {
    let f = fixture().await;
    for (name, len) in [("empty", 0), ("small", 1000), ("exact-chunk", 65_536 - 8)] {
        let bytes = data(len);
        put(
            &f.store,
            Arc::clone(&f.keys),
            &vtype(name),
            pipe_of(bytes.clone()),
        )
        .await
        .expect("put from pipe");
        assert_eq!(get_bytes(&f, name).await.expect("get"), bytes, "{name}");
    }
    // Larger than one spool segment through a pipe: the encrypted spool path.
    let big = data(spool::SEGMENT_LEN * 2 + 4321);
    let record = put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("journals"),
        pipe_of(big.clone()),
    )
    .await
    .expect("put big pipe");
    assert_eq!(record.plaintext_size, big.len() as u64);
    assert_eq!(get_bytes(&f, "journals").await.expect("get"), big);

    // A regular file, read from its current offset.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in");
    std::fs::write(&path, b"skip:payload").expect("write");
    let mut file = File::open(&path).expect("open");
    let mut skip = [0u8; 5];
    file.read_exact(&mut skip).expect("skip");
    let record = put(&f.store, Arc::clone(&f.keys), &vtype("front"), file)
        .await
        .expect("put file");
    assert_eq!(record.plaintext_size, 7);
    assert_eq!(get_bytes(&f, "front").await.expect("get"), b"payload");
}

#[tokio::test]
async fn nothing_in_the_store_is_plaintext() {
    let f = fixture().await;
    let marker = b"PLAINTEXT-MARKER-0123456789".repeat(100);
    put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("members"),
        pipe_of(marker.clone()),
    )
    .await
    .expect("put");
    for entry in std::fs::read_dir(f.store.volumes_dir()).expect("dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        assert!(!bytes.windows(16).any(|w| w == &marker[..16]));
    }
}

#[tokio::test]
async fn missing_and_tampered_volumes_are_errors() {
    let f = fixture().await;
    let err = get_bytes(&f, "front").await.expect_err("missing");
    assert!(matches!(err, VolumeOpError::NotFound(_)), "{err}");

    let record = put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("front"),
        pipe_of(data(5000)),
    )
    .await
    .expect("put");
    let path = f.store.volumes_dir().join(&record.file_name);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&path, &bytes).expect("write");
    let err = get_bytes(&f, "front").await.expect_err("tampered");
    assert!(
        matches!(err, VolumeOpError::Store(StoreError::Tampered { .. })),
        "{err}"
    );

    f.store.mark_deleted(&vtype("front")).await.expect("rm");
    let err = get_bytes(&f, "front").await.expect_err("removed");
    assert!(matches!(err, VolumeOpError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn a_revival_after_remove_continues_the_revisions() {
    let f = fixture().await;
    f.store
        .add_relay(crate::store::NewRelay {
            origin: "https://a.example".to_owned(),
            pin: plog_ipc_schema::CertPin::from_digest([1; 32]),
            name: None,
            account: None,
        })
        .await
        .expect("relay");
    let first = put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("polls"),
        pipe_of(b"one".to_vec()),
    )
    .await
    .expect("put");
    f.store.mark_deleted(&vtype("polls")).await.expect("rm");
    let again = put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("polls"),
        pipe_of(b"two".to_vec()),
    )
    .await
    .expect("put again");
    assert_eq!(
        (again.id, again.revision, again.deleted),
        (first.id, 2, false)
    );
    assert_eq!(get_bytes(&f, "polls").await.expect("get"), b"two");
}

#[tokio::test]
async fn a_file_of_many_chunks_round_trips_through_the_pipelined_sealer() {
    let f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in");
    // Many more chunks than the sealer queues between its threads, and a short last chunk.
    let bytes = data(3 * 1024 * 1024 + 1234);
    std::fs::write(&path, &bytes).expect("write");
    let record = put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("journals"),
        File::open(&path).expect("open"),
    )
    .await
    .expect("put");
    assert_eq!(record.plaintext_size, bytes.len() as u64);
    let stored = f.store.volumes_dir().join(&record.file_name);
    assert_eq!(
        std::fs::metadata(&stored).expect("stat").len(),
        record.sealed_len
    );
    assert_eq!(get_bytes(&f, "journals").await.expect("get"), bytes);
}

#[tokio::test]
async fn rotation_starts_a_new_epoch_with_a_new_key_and_the_same_content() {
    let f = fixture().await;
    for len in [3000, 3 * SEGMENT_LEN + 17] {
        let name = if len < SEGMENT_LEN {
            "members"
        } else {
            "journals"
        };
        let bytes = data(len);
        let before = put(
            &f.store,
            Arc::clone(&f.keys),
            &vtype(name),
            pipe_of(bytes.clone()),
        )
        .await
        .expect("put");
        let after = rotate(&f.store, Arc::clone(&f.keys), &vtype(name))
            .await
            .expect("rotate");
        assert_eq!(after.key_epoch, before.key_epoch + 1);
        assert_ne!(after.owner_key, before.owner_key);
        let old_key = f
            .keys
            .owner()
            .unwrap(before.id.as_bytes(), before.key_epoch, &before.owner_key)
            .expect("old key");
        let new_key = f
            .keys
            .owner()
            .unwrap(after.id.as_bytes(), after.key_epoch, &after.owner_key)
            .expect("new key");
        assert_ne!(old_key.expose(), new_key.expose(), "a fresh volume key");
        assert_eq!(get_bytes(&f, name).await.expect("get"), bytes);
    }
}

#[tokio::test]
async fn a_rotation_that_cannot_read_the_old_revision_writes_nothing() {
    let f = fixture().await;
    let record = put(
        &f.store,
        Arc::clone(&f.keys),
        &vtype("journals"),
        pipe_of(data(5000)),
    )
    .await
    .expect("put");
    let path = f.store.volumes_dir().join(&record.file_name);
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let err = rotate(&f.store, Arc::clone(&f.keys), &vtype("journals"))
        .await
        .expect_err("a damaged revision cannot be rotated");
    assert!(
        matches!(err, VolumeOpError::Store(StoreError::Tampered { .. })),
        "{err}"
    );
    let current = f
        .store
        .volume_by_type(&vtype("journals"))
        .await
        .expect("store")
        .expect("still there");
    assert_eq!(current, record, "no new revision was written");
}
