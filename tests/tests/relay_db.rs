//! The relay's metadata store: the same story on SQLite and on PostgreSQL.
//!
//! Each scenario below runs twice, as `sqlite::<name>` (a file in a temporary directory) and
//! `postgres::<name>` (a fresh database from `plog_tests::postgres`; skipped without
//! PostgreSQL, except under `CI=true`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use plog_relay::db::{
    AccountKind, Db, DbError, LinkAdded, NewAccount, NewGrant, NewInvite, Precondition,
    VolumeAccess, VolumeCommit,
};
use plog_tests::postgres::{TestDatabase, test_database_or_skip};
use tempfile::TempDir;
use uuid::Uuid;

/// A fixed clock: unix seconds.
const T0: i64 = 1_700_000_000;
/// A quota no scenario reaches unless it means to.
const BIG_QUOTA: u64 = 1 << 40;

/// A connected database of one engine, and what keeps it alive.
struct Engine {
    db: Db,
    url: String,
    _dir: Option<TempDir>,
    pg: Option<TestDatabase>,
}

impl Engine {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A directory that does not exist yet is not created; the file is.
        let url = format!("sqlite:{}", dir.path().join("relay.db").display());
        let db = Db::connect(&url).await.expect("open SQLite");
        assert_eq!(db.kind(), "sqlite");
        Self {
            db,
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    async fn postgres() -> Option<Self> {
        let pg = test_database_or_skip().await?;
        let url = pg.url().to_owned();
        let db = Db::connect(&url).await.expect("connect to PostgreSQL");
        assert_eq!(db.kind(), "postgres");
        Some(Self {
            db,
            url,
            _dir: None,
            pg: Some(pg),
        })
    }

    async fn finish(self) {
        self.db.close().await;
        if let Some(pg) = self.pg {
            pg.cleanup().await.expect("drop the test database");
        }
    }
}

/// Declares `sqlite::NAME` and `postgres::NAME` tests for each scenario `NAME(&Engine)`.
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let engine = super::Engine::sqlite().await;
                    super::$name(&engine).await;
                    engine.finish().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(engine) = super::Engine::postgres().await else {
                        return;
                    };
                    super::$name(&engine).await;
                    engine.finish().await;
                }
            )+
        }
    };
}

on_both_engines!(
    accounts_register_activate_and_look_up,
    handles_are_unique_and_pending_until_activation,
    session_epochs_and_relay_secret,
    commits_move_revisions_by_compare_and_swap,
    quota_and_storage_accounting_are_exact,
    grants_and_listings,
    purge_queue_and_referenced_objects,
    delete_account_leaves_nothing_behind,
    delete_account_racing_commits_loses_no_object,
    delete_unactivated_accounts,
    concurrent_commits_have_one_winner,
    concurrent_creates_and_quota_have_one_outcome,
    relay_secret_race_has_one_value,
    invites,
    links_open_only_their_owners_mailbox,
    concurrent_link_registrations_respect_the_limit,
    migrations_are_idempotent,
    grants_put_tags_on_the_current_revision,
    concurrent_grants_keep_every_tag,
    invites_are_withdrawn_by_id_and_uses_given_back,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn new_account(kind: AccountKind, key_byte: u8, handle: Option<&str>) -> NewAccount {
    NewAccount {
        user_id: Uuid::new_v4(),
        kind,
        public_key: [key_byte; 32],
        handle: handle.map(str::to_owned),
        now: T0,
    }
}

/// Registers and activates an account.
async fn active(db: &Db, kind: AccountKind, key_byte: u8) -> Uuid {
    let account = db
        .create_account(&new_account(kind, key_byte, None))
        .await
        .expect("register");
    db.activate(account.user_id, T0).await.expect("activate");
    account.user_id
}

fn commit(volume_id: Uuid, owner_id: Uuid, expected: Precondition, size: u64) -> VolumeCommit {
    let new_revision = expected.new_revision().expect("revision in range");
    VolumeCommit {
        volume_id,
        owner_id,
        vtype: "journal".to_owned(),
        new_revision,
        expected,
        key_epoch: 0,
        size,
        object_key: format!("{volume_id}/{new_revision}/{}", Uuid::new_v4().simple()),
        digest: [new_revision as u8; 32],
        owner_tag: vec![1; 32],
        owner_key: vec![2; 72],
        grantee_tags: BTreeMap::new(),
        quota_bytes: BIG_QUOTA,
        now: T0 + new_revision as i64,
    }
}

fn replace(revision: u64) -> Precondition {
    Precondition::Replace { revision }
}

async fn storage(db: &Db, user_id: Uuid) -> u64 {
    db.account(user_id)
        .await
        .expect("read account")
        .expect("account exists")
        .storage_bytes
}

async fn revision(db: &Db, volume_id: Uuid) -> Option<u64> {
    db.volume(volume_id)
        .await
        .expect("read volume")
        .map(|v| v.revision)
}

/// Number of rows of `table` whose text form mentions `needle` in any column listed.
async fn rows_mentioning(db: &Db, table: &str, columns: &[&str], needle: &str) -> i64 {
    let condition = columns
        .iter()
        .map(|column| format!("{column} LIKE $1"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table} WHERE {condition}"));
    let pattern = format!("%{needle}%");
    match db {
        Db::Sqlite(sqlite) => sqlx::query_scalar::<_, i64>(sql)
            .bind(pattern)
            .fetch_one(sqlite.pool())
            .await
            .expect("count rows"),
        Db::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql)
            .bind(pattern)
            .fetch_one(pool)
            .await
            .expect("count rows"),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn accounts_register_activate_and_look_up(engine: &Engine) {
    let db = &engine.db;
    db.ping().await.expect("ping");
    let new = new_account(AccountKind::System, 1, None);
    let created = db.create_account(&new).await.expect("register");
    assert!(!created.activated);
    assert_eq!(created.storage_bytes, 0);
    assert_eq!(
        db.account(new.user_id).await.expect("read"),
        Some(created.clone())
    );
    assert_eq!(
        db.account_by_public_key(&[1; 32]).await.expect("read"),
        Some(created.clone())
    );
    assert_eq!(
        db.account_by_public_key(&[9; 32]).await.expect("read"),
        None
    );
    assert_eq!(db.account(Uuid::new_v4()).await.expect("read"), None);

    // One account per key, and per id.
    let same_key = new_account(AccountKind::Friend, 1, None);
    assert!(matches!(
        db.create_account(&same_key).await,
        Err(DbError::AccountExists)
    ));
    let same_id = NewAccount {
        public_key: [2; 32],
        ..new.clone()
    };
    assert!(matches!(
        db.create_account(&same_id).await,
        Err(DbError::AccountExists)
    ));

    let activated = db.activate(new.user_id, T0 + 5).await.expect("activate");
    assert!(activated.activated);
    assert_eq!(activated.kind, AccountKind::System);
    assert_eq!(activated.last_seen_at, Some(T0 + 5));
    // Again: nothing changes.
    assert_eq!(
        db.activate(new.user_id, T0 + 9)
            .await
            .expect("activate again"),
        activated
    );
    assert!(matches!(
        db.activate(Uuid::new_v4(), T0).await,
        Err(DbError::NotFound)
    ));

    db.touch(new.user_id, T0 + 60).await.expect("touch");
    let touched = db
        .account(new.user_id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(touched.last_seen_at, Some(T0 + 60));
    assert!(matches!(
        db.touch(Uuid::new_v4(), T0).await,
        Err(DbError::NotFound)
    ));

    let friend = db
        .create_account(&new_account(AccountKind::Friend, 3, None))
        .await
        .expect("register a friend");
    assert_eq!(friend.kind, AccountKind::Friend);
}

async fn handles_are_unique_and_pending_until_activation(engine: &Engine) {
    let db = &engine.db;
    let alice = db
        .create_account(&new_account(AccountKind::System, 1, Some("Alice")))
        .await
        .expect("register");
    assert_eq!(alice.handle, None);
    assert_eq!(alice.pending_handle.as_deref(), Some("alice"));
    // A pending handle is invisible.
    assert_eq!(db.account_by_handle("alice").await.expect("look up"), None);

    // Another unactivated account may ask for the same handle; the first to activate wins.
    let rival = db
        .create_account(&new_account(AccountKind::Friend, 2, Some("ALICE")))
        .await
        .expect("register a rival");

    let alice = db.activate(alice.user_id, T0).await.expect("activate");
    assert_eq!(alice.handle.as_deref(), Some("alice"));
    assert_eq!(alice.pending_handle, None);
    for spelling in ["alice", "Alice", "ALICE"] {
        let found = db.account_by_handle(spelling).await.expect("look up");
        assert_eq!(found.map(|a| a.user_id), Some(alice.user_id), "{spelling}");
    }

    // Taken now: registration refuses it, and the rival activates without it.
    assert!(matches!(
        db.create_account(&new_account(AccountKind::Friend, 3, Some("aLiCe")))
            .await,
        Err(DbError::HandleTaken)
    ));
    let rival = db
        .activate(rival.user_id, T0)
        .await
        .expect("activate rival");
    assert!(rival.activated);
    assert_eq!(rival.handle, None);
    assert_eq!(rival.pending_handle, None);

    // Setting handles.
    assert!(matches!(
        db.set_handle(rival.user_id, Some("ALICE")).await,
        Err(DbError::HandleTaken)
    ));
    db.set_handle(rival.user_id, Some("Carol"))
        .await
        .expect("set a free handle");
    let carol = db.account_by_handle("carol").await.expect("look up");
    assert_eq!(carol.map(|a| a.user_id), Some(rival.user_id));
    // Setting one's own handle again is fine.
    db.set_handle(rival.user_id, Some("carol"))
        .await
        .expect("same handle again");
    db.set_handle(rival.user_id, None)
        .await
        .expect("remove handle");
    assert_eq!(db.account_by_handle("carol").await.expect("look up"), None);
    // Released handles can be taken.
    db.set_handle(alice.user_id, Some("carol"))
        .await
        .expect("take a released handle");

    // Unactivated or unknown accounts have no handle to set.
    let pending = db
        .create_account(&new_account(AccountKind::Friend, 4, None))
        .await
        .expect("register");
    assert!(matches!(
        db.set_handle(pending.user_id, Some("dave")).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.set_handle(Uuid::new_v4(), Some("erin")).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.set_handle(alice.user_id, Some("")).await,
        Err(DbError::InvalidInput(_))
    ));
}

async fn session_epochs_and_relay_secret(engine: &Engine) {
    let db = &engine.db;
    let user = active(db, AccountKind::System, 1).await;
    assert_eq!(
        db.account(user)
            .await
            .expect("read")
            .expect("exists")
            .session_epoch,
        0
    );
    assert_eq!(db.bump_user_session_epoch(user).await.expect("bump"), 1);
    assert_eq!(db.bump_user_session_epoch(user).await.expect("bump"), 2);
    assert_eq!(
        db.account(user)
            .await
            .expect("read")
            .expect("exists")
            .session_epoch,
        2
    );
    assert!(matches!(
        db.bump_user_session_epoch(Uuid::new_v4()).await,
        Err(DbError::NotFound)
    ));

    assert_eq!(db.relay_session_epoch().await.expect("read"), 0);
    assert_eq!(db.bump_relay_session_epoch().await.expect("bump"), 1);
    assert_eq!(db.bump_relay_session_epoch().await.expect("bump"), 2);
    assert_eq!(db.relay_session_epoch().await.expect("read"), 2);

    let secret = db.relay_secret_or_insert([7; 32]).await.expect("insert");
    assert_eq!(secret, [7; 32]);
    assert_eq!(
        db.relay_secret_or_insert([8; 32]).await.expect("read back"),
        [7; 32]
    );
    // The secret and the epoch live side by side.
    assert_eq!(db.relay_session_epoch().await.expect("read"), 2);
}

async fn commits_move_revisions_by_compare_and_swap(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let stranger = active(db, AccountKind::System, 2).await;
    let grantee = active(db, AccountKind::Friend, 3).await;
    let volume = Uuid::new_v4();

    // Create.
    let mut first = commit(volume, owner, Precondition::Create, 4096);
    first.grantee_tags.insert(grantee, vec![0xfb; 32]);
    let outcome = db.commit_volume(&first).await.expect("create");
    assert_eq!(outcome.replaced_object, None);
    let row = db.volume(volume).await.expect("read").expect("exists");
    assert_eq!(row.volume_id, volume);
    assert_eq!(row.owner_id, owner);
    assert_eq!(row.vtype, "journal");
    assert_eq!(row.revision, 1);
    assert_eq!(row.key_epoch, 0);
    assert_eq!(row.size, 4096);
    assert_eq!(row.object_key, first.object_key);
    assert_eq!(row.digest, first.digest);
    assert_eq!(row.owner_tag, first.owner_tag);
    assert_eq!(row.owner_key, first.owner_key);
    assert_eq!(row.grantee_tags, first.grantee_tags);
    assert_eq!(row.updated_at, first.now);

    // Create again: conflict; only the owner learns the revision.
    assert!(matches!(
        db.commit_volume(&commit(volume, owner, Precondition::Create, 10))
            .await,
        Err(DbError::RevisionConflict { current: Some(1) })
    ));
    assert!(matches!(
        db.commit_volume(&commit(volume, stranger, Precondition::Create, 10))
            .await,
        Err(DbError::RevisionConflict { current: None })
    ));

    // Replace 1 → 2.
    let second = commit(volume, owner, replace(1), 8192);
    let outcome = db.commit_volume(&second).await.expect("replace");
    assert_eq!(outcome.replaced_object, Some(first.object_key.clone()));
    assert_eq!(revision(db, volume).await, Some(2));
    let row = db.volume(volume).await.expect("read").expect("exists");
    assert_eq!(row.object_key, second.object_key);
    assert!(row.grantee_tags.is_empty());

    // A stale device.
    assert!(matches!(
        db.commit_volume(&commit(volume, owner, replace(1), 10))
            .await,
        Err(DbError::RevisionConflict { current: Some(2) })
    ));
    // Someone else's volume, or none at all: not found, never a hint.
    assert!(matches!(
        db.commit_volume(&commit(volume, stranger, replace(2), 10))
            .await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.commit_volume(&commit(volume, stranger, replace(1), 10))
            .await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.commit_volume(&commit(Uuid::new_v4(), owner, replace(1), 10))
            .await,
        Err(DbError::NotFound)
    ));
    // A volume's type never changes.
    let mut retyped = commit(volume, owner, replace(2), 10);
    retyped.vtype = "members".to_owned();
    assert!(matches!(
        db.commit_volume(&retyped).await,
        Err(DbError::TypeMismatch { stored }) if stored == "journal"
    ));
    // The new revision must follow the precondition.
    let mut skipping = commit(volume, owner, replace(2), 10);
    skipping.new_revision = 5;
    assert!(matches!(
        db.commit_volume(&skipping).await,
        Err(DbError::InvalidInput(_))
    ));
    // The object of the revision being replaced cannot be reused.
    let mut same_object = commit(volume, owner, replace(2), 10);
    same_object.object_key = second.object_key.clone();
    assert!(matches!(
        db.commit_volume(&same_object).await,
        Err(DbError::InvalidInput(_))
    ));
    // Nor another volume's object.
    let other = Uuid::new_v4();
    let mut stolen = commit(other, owner, Precondition::Create, 10);
    stolen.object_key = second.object_key.clone();
    assert!(matches!(
        db.commit_volume(&stolen).await,
        Err(DbError::InvalidInput(_))
    ));
    assert_eq!(revision(db, other).await, None);

    // Key epochs: a rotation to epoch 2, then a stale device under epoch 1 is fenced.
    let mut rotated = commit(volume, owner, replace(2), 8192);
    rotated.key_epoch = 2;
    db.commit_volume(&rotated).await.expect("rotate");
    let mut stale_epoch = commit(volume, owner, replace(3), 8192);
    stale_epoch.key_epoch = 1;
    assert!(matches!(
        db.commit_volume(&stale_epoch).await,
        Err(DbError::EpochFenced { current: 2 })
    ));
    let mut same_epoch = commit(volume, owner, replace(3), 8192);
    same_epoch.key_epoch = 2;
    db.commit_volume(&same_epoch).await.expect("same epoch");
    assert_eq!(revision(db, volume).await, Some(4));
    assert_eq!(
        db.volume(volume)
            .await
            .expect("read")
            .expect("exists")
            .key_epoch,
        2
    );

    // Every refusal left storage alone: only the live revision counts.
    assert_eq!(storage(db, owner).await, 8192);
    assert_eq!(storage(db, stranger).await, 0);

    // Deleting needs the owner, and the revision if one is given.
    assert!(matches!(
        db.delete_volume(volume, stranger, None, T0).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.delete_volume(volume, owner, Some(3), T0).await,
        Err(DbError::RevisionConflict { current: Some(4) })
    ));
    db.delete_volume(volume, owner, Some(4), T0)
        .await
        .expect("delete");
    assert_eq!(db.volume(volume).await.expect("read"), None);
    assert_eq!(storage(db, owner).await, 0);
    assert!(matches!(
        db.delete_volume(volume, owner, None, T0).await,
        Err(DbError::NotFound)
    ));
    // Created again after deletion, from revision 1.
    db.commit_volume(&commit(volume, owner, Precondition::Create, 100))
        .await
        .expect("create again");
    assert_eq!(revision(db, volume).await, Some(1));
    assert_eq!(storage(db, owner).await, 100);
}

async fn quota_and_storage_accounting_are_exact(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let quota = 10_000;
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();

    let mut create_a = commit(a, owner, Precondition::Create, 6_000);
    create_a.quota_bytes = quota;
    db.commit_volume(&create_a).await.expect("within quota");
    let mut create_b = commit(b, owner, Precondition::Create, 4_001);
    create_b.quota_bytes = quota;
    assert!(matches!(
        db.commit_volume(&create_b).await,
        Err(DbError::QuotaExceeded {
            used: 6_000,
            quota: 10_000
        })
    ));
    assert_eq!(revision(db, b).await, None);
    // Exactly at the quota is allowed.
    create_b.size = 4_000;
    db.commit_volume(&create_b)
        .await
        .expect("exactly the quota");
    assert_eq!(storage(db, owner).await, 10_000);

    // Growing a volume is charged by the difference.
    let mut grow = commit(a, owner, replace(1), 6_001);
    grow.quota_bytes = quota;
    assert!(matches!(
        db.commit_volume(&grow).await,
        Err(DbError::QuotaExceeded { used: 10_000, .. })
    ));
    let mut shrink = commit(a, owner, replace(1), 1_000);
    shrink.quota_bytes = quota;
    db.commit_volume(&shrink).await.expect("shrink");
    assert_eq!(storage(db, owner).await, 5_000);
    let mut regrow = commit(a, owner, replace(2), 6_000);
    regrow.quota_bytes = quota;
    db.commit_volume(&regrow).await.expect("grow back");
    assert_eq!(storage(db, owner).await, 10_000);

    // A lowered quota never blocks a commit that frees space.
    let mut over = commit(b, owner, replace(1), 3_000);
    over.quota_bytes = 100;
    db.commit_volume(&over)
        .await
        .expect("shrinking is always allowed");
    assert_eq!(storage(db, owner).await, 9_000);
    let mut same = commit(b, owner, replace(2), 3_000);
    same.quota_bytes = 100;
    db.commit_volume(&same).await.expect("same size is allowed");

    db.delete_volume(a, owner, None, T0)
        .await
        .expect("delete a");
    assert_eq!(storage(db, owner).await, 3_000);
    db.delete_volume(b, owner, None, T0)
        .await
        .expect("delete b");
    assert_eq!(storage(db, owner).await, 0);

    // Out-of-range values are refused, not wrapped.
    let mut huge = commit(Uuid::new_v4(), owner, Precondition::Create, u64::MAX);
    huge.quota_bytes = u64::MAX;
    assert!(matches!(
        db.commit_volume(&huge).await,
        Err(DbError::InvalidInput(_))
    ));
    // An owner that does not exist.
    assert!(matches!(
        db.commit_volume(&commit(
            Uuid::new_v4(),
            Uuid::new_v4(),
            Precondition::Create,
            1
        ))
        .await,
        Err(DbError::NotFound)
    ));
}

async fn grants_and_listings(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let friend = active(db, AccountKind::Friend, 2).await;
    let stranger = active(db, AccountKind::Friend, 3).await;
    let shared = Uuid::new_v4();
    let private = Uuid::new_v4();

    let mut create = commit(shared, owner, Precondition::Create, 100);
    create.key_epoch = 1;
    create.grantee_tags.insert(friend, vec![0xaa; 32]);
    db.commit_volume(&create).await.expect("create shared");
    db.commit_volume(&commit(private, owner, Precondition::Create, 100))
        .await
        .expect("create private");

    let grant = NewGrant {
        volume_id: shared,
        owner_id: owner,
        grantee_id: friend,
        key_block: vec![0x42; 120],
        key_epoch: 1,
        now: T0,
    };
    db.put_grant(&grant).await.expect("grant");
    // Not the owner, no such volume, no such grantee, oneself, an old epoch.
    assert!(matches!(
        db.put_grant(&NewGrant {
            owner_id: stranger,
            ..grant.clone()
        })
        .await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.put_grant(&NewGrant {
            volume_id: Uuid::new_v4(),
            ..grant.clone()
        })
        .await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.put_grant(&NewGrant {
            grantee_id: Uuid::new_v4(),
            ..grant.clone()
        })
        .await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.put_grant(&NewGrant {
            grantee_id: owner,
            ..grant.clone()
        })
        .await,
        Err(DbError::InvalidInput(_))
    ));
    assert!(matches!(
        db.put_grant(&NewGrant {
            key_epoch: 0,
            ..grant.clone()
        })
        .await,
        Err(DbError::EpochFenced { current: 1 })
    ));

    // Listings.
    let mine = db.volumes_for(owner).await.expect("list owner");
    let owned: BTreeSet<Uuid> = mine.iter().map(|(v, _)| v.volume_id).collect();
    assert_eq!(owned, BTreeSet::from([shared, private]));
    assert!(
        mine.iter()
            .all(|(_, access)| *access == VolumeAccess::Owner)
    );
    let theirs = db.volumes_for(friend).await.expect("list friend");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].0.volume_id, shared);
    assert_eq!(
        theirs[0].1,
        VolumeAccess::Grantee {
            key_block: vec![0x42; 120],
            key_epoch: 1,
            tag: Some(vec![0xaa; 32]),
        }
    );
    assert!(db.volumes_for(stranger).await.expect("list").is_empty());

    // Access to one volume.
    let (_, access) = db
        .volume_access(shared, owner)
        .await
        .expect("read")
        .expect("owner reads");
    assert_eq!(access, VolumeAccess::Owner);
    let (row, access) = db
        .volume_access(shared, friend)
        .await
        .expect("read")
        .expect("grantee reads");
    assert_eq!(row.revision, 1);
    assert!(matches!(access, VolumeAccess::Grantee { .. }));
    assert_eq!(
        db.volume_access(shared, stranger).await.expect("read"),
        None
    );
    assert_eq!(db.volume_access(private, friend).await.expect("read"), None);
    assert_eq!(
        db.volume_access(Uuid::new_v4(), owner).await.expect("read"),
        None
    );

    // The owner lists grants; nobody else learns the volume exists.
    let grants = db.grants(shared, owner).await.expect("grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].grantee_id, friend);
    assert_eq!(grants[0].key_block, vec![0x42; 120]);
    assert_eq!(grants[0].created_at, T0);
    assert!(matches!(
        db.grants(shared, friend).await,
        Err(DbError::NotFound)
    ));

    // A new key block for a new epoch replaces the old one, keeping the creation time.
    let mut rotated = commit(shared, owner, replace(1), 100);
    rotated.key_epoch = 2;
    db.commit_volume(&rotated).await.expect("rotate");
    db.put_grant(&NewGrant {
        key_block: vec![0x43; 120],
        key_epoch: 2,
        now: T0 + 100,
        ..grant.clone()
    })
    .await
    .expect("re-grant");
    let grants = db.grants(shared, owner).await.expect("grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].key_epoch, 2);
    assert_eq!(grants[0].key_block, vec![0x43; 120]);
    assert_eq!(grants[0].created_at, T0);
    // No tag for the friend on the new revision.
    let (_, access) = db
        .volume_access(shared, friend)
        .await
        .expect("read")
        .expect("grantee reads");
    assert_eq!(
        access,
        VolumeAccess::Grantee {
            key_block: vec![0x43; 120],
            key_epoch: 2,
            tag: None,
        }
    );

    // Revocation.
    assert!(matches!(
        db.delete_grant(shared, stranger, friend).await,
        Err(DbError::NotFound)
    ));
    db.delete_grant(shared, owner, friend)
        .await
        .expect("revoke");
    assert!(matches!(
        db.delete_grant(shared, owner, friend).await,
        Err(DbError::NotFound)
    ));
    assert_eq!(db.volume_access(shared, friend).await.expect("read"), None);
    assert!(db.volumes_for(friend).await.expect("list").is_empty());

    // Deleting a volume takes its grants along.
    db.put_grant(&NewGrant {
        key_block: vec![0x44; 120],
        key_epoch: 2,
        ..grant.clone()
    })
    .await
    .expect("grant again");
    db.delete_volume(shared, owner, None, T0)
        .await
        .expect("delete");
    assert!(db.volumes_for(friend).await.expect("list").is_empty());
    assert_eq!(
        rows_mentioning(db, "grants", &["volume_id"], &shared.to_string()).await,
        0
    );
}

async fn purge_queue_and_referenced_objects(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let volume = Uuid::new_v4();
    assert!(db.purge_batch(10).await.expect("batch").is_empty());

    let mut first = commit(volume, owner, Precondition::Create, 10);
    first.now = T0;
    db.commit_volume(&first).await.expect("create");
    let mut second = commit(volume, owner, replace(1), 10);
    second.now = T0 + 1;
    db.commit_volume(&second).await.expect("replace");
    let mut third = commit(volume, owner, replace(2), 10);
    third.now = T0 + 2;
    db.commit_volume(&third).await.expect("replace");

    // Replaced objects wait in the queue, oldest first; live ones never appear.
    assert_eq!(db.purge_pending().await.expect("count"), 2);
    assert_eq!(
        db.purge_batch(10).await.expect("batch"),
        vec![first.object_key.clone(), second.object_key.clone()]
    );
    assert_eq!(
        db.purge_batch(1).await.expect("batch"),
        vec![first.object_key.clone()]
    );
    assert_eq!(
        db.referenced_object_keys().await.expect("referenced"),
        HashSet::from([third.object_key.clone()])
    );

    // Done is idempotent.
    db.purge_done(std::slice::from_ref(&first.object_key))
        .await
        .expect("done");
    db.purge_done(std::slice::from_ref(&first.object_key))
        .await
        .expect("done again");
    assert_eq!(
        db.purge_batch(10).await.expect("batch"),
        vec![second.object_key.clone()]
    );

    // An orphan found by cleanup, or an upload whose commit failed.
    db.enqueue_purge("orphan/1", T0 + 10)
        .await
        .expect("enqueue");
    db.enqueue_purge("orphan/1", T0 + 11).await.expect("again");
    // A live object is never queued.
    db.enqueue_purge(&third.object_key, T0 + 12)
        .await
        .expect("enqueue live");
    assert_eq!(
        db.purge_batch(10).await.expect("batch"),
        vec![second.object_key.clone(), "orphan/1".to_owned()]
    );

    // Deleting the volume queues its object.
    db.delete_volume(volume, owner, None, T0 + 20)
        .await
        .expect("delete");
    assert_eq!(
        db.purge_batch(10).await.expect("batch"),
        vec![
            second.object_key.clone(),
            "orphan/1".to_owned(),
            third.object_key.clone()
        ]
    );
    assert!(
        db.referenced_object_keys()
            .await
            .expect("referenced")
            .is_empty()
    );

    // A queued key that becomes live again (committed anew) leaves the queue.
    let mut reborn = commit(Uuid::new_v4(), owner, Precondition::Create, 10);
    reborn.object_key = "orphan/1".to_owned();
    db.commit_volume(&reborn)
        .await
        .expect("commit onto a queued key");
    assert_eq!(
        db.purge_batch(10).await.expect("batch"),
        vec![second.object_key.clone(), third.object_key.clone()]
    );
    let batch = db.purge_batch(10).await.expect("batch");
    db.purge_done(&batch).await.expect("done");
    assert_eq!(db.purge_pending().await.expect("count"), 0);
}

async fn delete_account_leaves_nothing_behind(engine: &Engine) {
    let db = &engine.db;
    let doomed = db
        .create_account(&new_account(AccountKind::System, 1, Some("doomed")))
        .await
        .expect("register");
    let doomed = db
        .activate(doomed.user_id, T0)
        .await
        .expect("activate")
        .user_id;
    let friend = active(db, AccountKind::Friend, 2).await;
    let other = active(db, AccountKind::System, 3).await;

    // The doomed account owns two volumes, one shared with a friend...
    let shared = Uuid::new_v4();
    let mut create = commit(shared, doomed, Precondition::Create, 300);
    create.grantee_tags.insert(friend, vec![1; 32]);
    db.commit_volume(&create).await.expect("create");
    let mut replaced = commit(shared, doomed, replace(1), 300);
    replaced.grantee_tags.insert(friend, vec![1; 32]);
    db.commit_volume(&replaced).await.expect("replace");
    db.put_grant(&NewGrant {
        volume_id: shared,
        owner_id: doomed,
        grantee_id: friend,
        key_block: vec![5; 100],
        key_epoch: 0,
        now: T0,
    })
    .await
    .expect("grant");
    let solo = commit(Uuid::new_v4(), doomed, Precondition::Create, 200);
    db.commit_volume(&solo).await.expect("create");
    // ... holds a grant on another owner's volume, with its tag there ...
    let theirs = Uuid::new_v4();
    let mut foreign = commit(theirs, other, Precondition::Create, 50);
    foreign.grantee_tags.insert(doomed, vec![2; 32]);
    foreign.grantee_tags.insert(friend, vec![3; 32]);
    db.commit_volume(&foreign).await.expect("create");
    db.put_grant(&NewGrant {
        volume_id: theirs,
        owner_id: other,
        grantee_id: doomed,
        key_block: vec![6; 100],
        key_epoch: 0,
        now: T0,
    })
    .await
    .expect("grant");
    // ... and has an invite out and a link registered.
    assert_eq!(add_link(db, doomed, 9, 10).await, LinkAdded::Added);
    db.create_invite(&NewInvite {
        locator_hash: vec![9; 32],
        owner_id: doomed,
        expires_at: T0 + 3600,
        uses: 1,
        now: T0,
    })
    .await
    .expect("invite");
    // The object replaced earlier is already queued.
    let batch = db.purge_batch(100).await.expect("batch");
    db.purge_done(&batch).await.expect("done");

    db.delete_account(doomed, T0 + 500).await.expect("delete");

    assert_eq!(db.account(doomed).await.expect("read"), None);
    assert_eq!(db.tombstone(doomed).await.expect("read"), Some(T0 + 500));
    assert_eq!(db.tombstone(friend).await.expect("read"), None);
    assert_eq!(db.account_by_handle("doomed").await.expect("look up"), None);
    let id = doomed.to_string();
    for (table, columns) in [
        ("accounts", &["user_id"][..]),
        ("volumes", &["owner_id", "grantee_tags"][..]),
        ("grants", &["grantee_id"][..]),
        ("invites", &["owner_id"][..]),
        ("links", &["owner_id"][..]),
    ] {
        assert_eq!(rows_mentioning(db, table, columns, &id).await, 0, "{table}");
    }
    // Grants on its volumes went with them.
    assert_eq!(
        rows_mentioning(db, "grants", &["volume_id"], &shared.to_string()).await,
        0
    );
    assert!(db.volumes_for(friend).await.expect("list").is_empty());
    // Its objects are queued for purging.
    let queued: HashSet<String> = db
        .purge_batch(100)
        .await
        .expect("batch")
        .into_iter()
        .collect();
    assert_eq!(
        queued,
        HashSet::from([replaced.object_key.clone(), solo.object_key.clone()])
    );
    // Everyone else is untouched, except for losing the deleted account's tag.
    let row = db.volume(theirs).await.expect("read").expect("exists");
    assert_eq!(row.grantee_tags, BTreeMap::from([(friend, vec![3; 32])]));
    assert_eq!(row.revision, 1);
    assert_eq!(storage(db, other).await, 50);
    assert!(db.account(friend).await.expect("read").is_some());
    assert_eq!(
        db.referenced_object_keys().await.expect("referenced"),
        HashSet::from([foreign.object_key.clone()])
    );

    assert!(matches!(
        db.delete_account(doomed, T0).await,
        Err(DbError::NotFound)
    ));
    // The key may register again, as a new account.
    db.create_account(&new_account(AccountKind::System, 1, None))
        .await
        .expect("register again");
}

async fn delete_account_racing_commits_loses_no_object(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let volumes: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let mut committed = HashSet::new();
    for &volume in &volumes {
        let create = commit(volume, owner, Precondition::Create, 10);
        db.commit_volume(&create).await.expect("create");
        committed.insert(create.object_key);
    }
    // One writer per volume keeps replacing it while the account is deleted.
    let mut writers = Vec::new();
    for &volume in &volumes {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            let mut keys = Vec::new();
            for current in 1.. {
                let next = commit(volume, owner, replace(current), 10);
                match db.commit_volume(&next).await {
                    Ok(_) => keys.push(next.object_key),
                    Err(DbError::NotFound) => break,
                    Err(other) => panic!("unexpected error: {other:?}"),
                }
            }
            keys
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    db.delete_account(owner, T0).await.expect("delete");
    for writer in writers {
        committed.extend(writer.await.expect("writer"));
    }
    assert!(
        committed.len() > volumes.len(),
        "the writers got some commits in"
    );
    // Every object that was ever live is queued: replaced ones at commit, the last at deletion.
    let queued: HashSet<String> = db
        .purge_batch(u32::MAX)
        .await
        .expect("batch")
        .into_iter()
        .collect();
    assert_eq!(queued, committed);
    assert!(
        db.referenced_object_keys()
            .await
            .expect("referenced")
            .is_empty()
    );
    assert_eq!(db.account(owner).await.expect("read"), None);
}

async fn delete_unactivated_accounts(engine: &Engine) {
    let db = &engine.db;
    let mut old = new_account(AccountKind::System, 1, Some("old"));
    old.now = T0 - 1000;
    let old = db.create_account(&old).await.expect("register");
    let mut fresh = new_account(AccountKind::System, 2, None);
    fresh.now = T0;
    let fresh = db.create_account(&fresh).await.expect("register");
    let mut veteran = new_account(AccountKind::System, 3, None);
    veteran.now = T0 - 5000;
    let veteran = db.create_account(&veteran).await.expect("register");
    db.activate(veteran.user_id, T0).await.expect("activate");

    assert_eq!(
        db.delete_unactivated_before(T0 - 10)
            .await
            .expect("cleanup"),
        1
    );
    assert_eq!(db.account(old.user_id).await.expect("read"), None);
    assert!(db.account(fresh.user_id).await.expect("read").is_some());
    assert!(db.account(veteran.user_id).await.expect("read").is_some());
    assert_eq!(
        db.delete_unactivated_before(T0 - 10)
            .await
            .expect("cleanup"),
        0
    );
    // Its pending handle is free.
    let taker = active(db, AccountKind::Friend, 4).await;
    db.set_handle(taker, Some("old"))
        .await
        .expect("handle is free");
}

async fn concurrent_commits_have_one_winner(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let volume = Uuid::new_v4();
    db.commit_volume(&commit(volume, owner, Precondition::Create, 1000))
        .await
        .expect("create");
    let contenders = 4;
    for current in 1..=8 {
        let mut tasks = Vec::new();
        for i in 0..contenders {
            let db = db.clone();
            let attempt = commit(volume, owner, replace(current), 1000 + i);
            tasks.push(tokio::spawn(async move {
                let result = db.commit_volume(&attempt).await;
                (attempt, result)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (attempt, result) = task.await.expect("task");
            match result {
                Ok(_) => winners.push(attempt),
                Err(DbError::RevisionConflict { current: Some(now) }) => {
                    assert_eq!(now, current + 1);
                }
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {current}: exactly one winner");
        let row = db.volume(volume).await.expect("read").expect("exists");
        assert_eq!(row.revision, current + 1);
        assert_eq!(row.object_key, winners[0].object_key);
        assert_eq!(storage(db, owner).await, winners[0].size);
    }
}

async fn concurrent_creates_and_quota_have_one_outcome(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let rival = active(db, AccountKind::System, 2).await;

    // Two owners create the same volume id at once: one wins.
    let volume = Uuid::new_v4();
    let mut tasks = Vec::new();
    for who in [owner, rival, owner, rival] {
        let db = db.clone();
        let attempt = commit(volume, who, Precondition::Create, 10);
        tasks.push(tokio::spawn(async move {
            (who, db.commit_volume(&attempt).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (who, result) = task.await.expect("task");
        match result {
            Ok(_) => winners.push(who),
            Err(DbError::RevisionConflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let row = db.volume(volume).await.expect("read").expect("exists");
    assert_eq!(row.owner_id, winners[0]);
    assert_eq!(storage(db, owner).await + storage(db, rival).await, 10);

    // Many volumes of one owner at once against a tight quota: the quota holds exactly.
    let quota_owner = active(db, AccountKind::System, 3).await;
    let db = Arc::new(db.clone());
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let db = Arc::clone(&db);
        let mut attempt = commit(Uuid::new_v4(), quota_owner, Precondition::Create, 200);
        attempt.quota_bytes = 1000;
        tasks.push(tokio::spawn(
            async move { db.commit_volume(&attempt).await },
        ));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => accepted += 1,
            Err(DbError::QuotaExceeded { quota: 1000, .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(accepted, 5);
    assert_eq!(storage(&db, quota_owner).await, 1000);
}

async fn relay_secret_race_has_one_value(engine: &Engine) {
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let db = engine.db.clone();
        tasks.push(tokio::spawn(async move {
            db.relay_secret_or_insert([i; 32]).await
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        seen.insert(task.await.expect("task").expect("secret"));
    }
    assert_eq!(seen.len(), 1, "every instance sees the same secret");
    let secret = seen.into_iter().next().expect("one secret");
    assert!(secret.iter().all(|&b| b == secret[0]) && secret[0] < 8);
    assert_eq!(
        engine
            .db
            .relay_secret_or_insert([99; 32])
            .await
            .expect("again"),
        secret
    );
}

async fn invites(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let invite = NewInvite {
        locator_hash: vec![1; 32],
        owner_id: owner,
        expires_at: T0 + 100,
        uses: 2,
        now: T0,
    };
    db.create_invite(&invite).await.expect("invite");
    assert!(matches!(
        db.create_invite(&invite).await,
        Err(DbError::InviteExists)
    ));
    assert!(matches!(
        db.create_invite(&NewInvite {
            locator_hash: vec![2; 32],
            owner_id: Uuid::new_v4(),
            ..invite.clone()
        })
        .await,
        Err(DbError::NotFound)
    ));
    let found = db
        .invite(&[1; 32], T0)
        .await
        .expect("read")
        .expect("usable");
    assert_eq!(found.owner_id, owner);
    assert_eq!(found.uses_left, 2);
    assert_eq!(db.invite(&[1; 32], T0 + 100).await.expect("read"), None);

    assert_eq!(
        db.consume_invite(&[1; 32], T0)
            .await
            .expect("use")
            .uses_left,
        1
    );
    assert_eq!(
        db.consume_invite(&[1; 32], T0)
            .await
            .expect("use")
            .uses_left,
        0
    );
    assert!(matches!(
        db.consume_invite(&[1; 32], T0).await,
        Err(DbError::NotFound)
    ));
    assert_eq!(db.invite(&[1; 32], T0).await.expect("read"), None);

    db.create_invite(&NewInvite {
        locator_hash: vec![3; 32],
        ..invite.clone()
    })
    .await
    .expect("invite");
    assert!(matches!(
        db.consume_invite(&[3; 32], T0 + 100).await,
        Err(DbError::NotFound)
    ));
    assert_eq!(db.invites_of(owner).await.expect("list").len(), 2);
    assert!(matches!(
        db.delete_invite(&[3; 32], Uuid::new_v4()).await,
        Err(DbError::NotFound)
    ));
    db.create_invite(&NewInvite {
        locator_hash: vec![4; 32],
        expires_at: T0 + 10_000,
        ..invite.clone()
    })
    .await
    .expect("invite");
    // Used up (1) and expired (3) go; the live one (4) stays.
    assert_eq!(db.delete_spent_invites(T0 + 200).await.expect("cleanup"), 2);
    db.delete_invite(&[4; 32], owner).await.expect("delete");
    assert!(db.invites_of(owner).await.expect("list").is_empty());
}

/// Registers `hash` for `owner` under a limit of `max` links.
async fn add_link(db: &Db, owner: Uuid, hash: u8, max: u64) -> LinkAdded {
    db.add_link(owner, &[hash; 32], max, T0)
        .await
        .expect("register a link")
}

async fn opens(db: &Db, recipient: Uuid, hash: u8) -> bool {
    db.link_opens(recipient, &[hash; 32])
        .await
        .expect("check a link")
}

async fn drop_link(db: &Db, owner: Uuid, hash: u8) -> bool {
    db.delete_link(owner, &[hash; 32])
        .await
        .expect("drop a link")
}

async fn link_count(db: &Db) -> u64 {
    db.link_count().await.expect("count links")
}

async fn links_open_only_their_owners_mailbox(engine: &Engine) {
    let db = &engine.db;
    let alice = active(db, AccountKind::System, 1).await;
    let bob = active(db, AccountKind::Friend, 2).await;
    assert_eq!(link_count(db).await, 0);

    // Registering is idempotent; the hash opens the registering account's mailbox only.
    assert_eq!(add_link(db, alice, 7, 3).await, LinkAdded::Added);
    assert_eq!(add_link(db, alice, 7, 3).await, LinkAdded::Existing);
    assert!(opens(db, alice, 7).await);
    assert!(!opens(db, bob, 7).await, "not bob's mailbox");
    assert!(!opens(db, alice, 9).await, "an unknown hash");
    assert_eq!(link_count(db).await, 1);

    // Bob registering the same hash opens his own mailbox and touches nothing of alice's;
    // dropping it drops his registration only, and he cannot drop hers.
    assert_eq!(add_link(db, bob, 7, 3).await, LinkAdded::Added);
    assert!(opens(db, bob, 7).await);
    assert_eq!(link_count(db).await, 2);
    assert!(drop_link(db, bob, 7).await);
    assert!(
        !drop_link(db, bob, 7).await,
        "bob's is gone, alice's is not his"
    );
    assert!(opens(db, alice, 7).await);
    assert!(!opens(db, bob, 7).await);

    // At most three per account: the fourth is refused, one held already still answers
    // Existing, and another account has its own allowance.
    assert_eq!(add_link(db, alice, 8, 3).await, LinkAdded::Added);
    assert_eq!(add_link(db, alice, 9, 3).await, LinkAdded::Added);
    assert_eq!(add_link(db, alice, 10, 3).await, LinkAdded::LimitReached);
    assert!(!opens(db, alice, 10).await, "a refused link is not stored");
    assert_eq!(add_link(db, alice, 9, 3).await, LinkAdded::Existing);
    assert_eq!(add_link(db, bob, 10, 3).await, LinkAdded::Added);
    // Dropping one makes room again.
    assert!(drop_link(db, alice, 8).await);
    assert_eq!(add_link(db, alice, 10, 3).await, LinkAdded::Added);
    assert_eq!(link_count(db).await, 4);

    // No account, no link.
    assert!(matches!(
        db.add_link(Uuid::new_v4(), &[11; 32], 3, T0).await,
        Err(DbError::NotFound)
    ));

    // Deleting an account drops its links, and only its.
    db.delete_account(alice, T0 + 1).await.expect("delete");
    assert_eq!(link_count(db).await, 1);
    assert!(opens(db, bob, 10).await);
    assert_eq!(
        rows_mentioning(db, "links", &["owner_id"], &alice.to_string()).await,
        0
    );
}

async fn concurrent_link_registrations_respect_the_limit(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let limit = 3;
    let tasks: Vec<_> = (0..8u8)
        .map(|hash| {
            let db = db.clone();
            tokio::spawn(async move { add_link(&db, owner, hash, limit).await })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        match task.await.expect("task") {
            LinkAdded::Added => added += 1,
            LinkAdded::LimitReached => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, limit, "exactly the limit was stored");
    assert_eq!(link_count(db).await, limit);
}

async fn grants_put_tags_on_the_current_revision(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let friend = active(db, AccountKind::Friend, 2).await;
    let other = active(db, AccountKind::Friend, 3).await;
    let stranger = active(db, AccountKind::Friend, 4).await;
    let pending = db
        .create_account(&new_account(AccountKind::Friend, 5, None))
        .await
        .expect("register")
        .user_id;
    let shared = Uuid::new_v4();
    let mut create = commit(shared, owner, Precondition::Create, 100);
    create.key_epoch = 1;
    db.commit_volume(&create).await.expect("create");
    let manifest = Uuid::new_v4();
    let mut owner_only = commit(manifest, owner, Precondition::Create, 100);
    owner_only.vtype = "manifest".to_owned();
    db.commit_volume(&owner_only)
        .await
        .expect("create manifest");

    let grant = NewGrant {
        volume_id: shared,
        owner_id: owner,
        grantee_id: friend,
        key_block: vec![0x42; 81],
        key_epoch: 1,
        now: T0,
    };
    assert_eq!(
        db.put_grant_with_tag(&grant, 1, &[0xaa; 32])
            .await
            .expect("grant"),
        1,
        "the revision's key epoch"
    );
    let tags = |entries: &[(Uuid, u8)]| -> BTreeMap<Uuid, Vec<u8>> {
        entries.iter().map(|(id, b)| (*id, vec![*b; 32])).collect()
    };
    let row = db.volume(shared).await.expect("read").expect("volume");
    assert_eq!(row.grantee_tags, tags(&[(friend, 0xaa)]));
    assert_eq!(row.revision, 1, "a grant moves no revision");
    let (_, access) = db
        .volume_access(shared, friend)
        .await
        .expect("read")
        .expect("grantee reads");
    assert_eq!(
        access,
        VolumeAccess::Grantee {
            key_block: vec![0x42; 81],
            key_epoch: 1,
            tag: Some(vec![0xaa; 32]),
        }
    );

    // Granting again replaces key block and tag, keeping the creation time; another grantee's
    // tag joins the first.
    db.put_grant_with_tag(
        &NewGrant {
            key_block: vec![0x43; 81],
            now: T0 + 5,
            ..grant.clone()
        },
        1,
        &[0xab; 32],
    )
    .await
    .expect("grant again");
    db.put_grant_with_tag(
        &NewGrant {
            grantee_id: other,
            ..grant.clone()
        },
        1,
        &[0xbb; 32],
    )
    .await
    .expect("grant another");
    let row = db.volume(shared).await.expect("read").expect("volume");
    assert_eq!(row.grantee_tags, tags(&[(friend, 0xab), (other, 0xbb)]));
    let grants = db.grants(shared, owner).await.expect("grants");
    assert_eq!(grants.len(), 2);
    let first = grants
        .iter()
        .find(|g| g.grantee_id == friend)
        .expect("friend's grant");
    assert_eq!(
        (first.key_block.clone(), first.created_at),
        (vec![0x43; 81], T0)
    );

    // Refusals change nothing.
    let refused = [
        (
            db.put_grant_with_tag(&grant, 2, &[1; 32]).await,
            "a revision ahead",
        ),
        (
            db.put_grant_with_tag(&grant, 0, &[1; 32]).await,
            "revision 0",
        ),
    ];
    for (result, what) in refused {
        assert!(
            matches!(result, Err(DbError::RevisionConflict { current: Some(1) })),
            "{what}: {result:?}"
        );
    }
    assert!(matches!(
        db.put_grant_with_tag(
            &NewGrant {
                key_epoch: 0,
                ..grant.clone()
            },
            1,
            &[1; 32]
        )
        .await,
        Err(DbError::EpochFenced { current: 1 })
    ));
    for (candidate, what) in [
        (
            NewGrant {
                owner_id: stranger,
                ..grant.clone()
            },
            "not the owner",
        ),
        (
            NewGrant {
                volume_id: Uuid::new_v4(),
                ..grant.clone()
            },
            "no such volume",
        ),
        (
            NewGrant {
                grantee_id: Uuid::new_v4(),
                ..grant.clone()
            },
            "no such grantee",
        ),
        (
            NewGrant {
                grantee_id: pending,
                ..grant.clone()
            },
            "a grantee that never logged in",
        ),
    ] {
        let result = db.put_grant_with_tag(&candidate, 1, &[1; 32]).await;
        assert!(
            matches!(result, Err(DbError::NotFound)),
            "{what}: {result:?}"
        );
    }
    for (candidate, what) in [
        (
            NewGrant {
                grantee_id: owner,
                ..grant.clone()
            },
            "oneself",
        ),
        (
            NewGrant {
                volume_id: manifest,
                ..grant.clone()
            },
            "the manifest",
        ),
    ] {
        let result = db.put_grant_with_tag(&candidate, 1, &[1; 32]).await;
        assert!(
            matches!(result, Err(DbError::InvalidInput(_))),
            "{what}: {result:?}"
        );
    }
    let row = db.volume(shared).await.expect("read").expect("volume");
    assert_eq!(row.grantee_tags, tags(&[(friend, 0xab), (other, 0xbb)]));
    assert_eq!(db.grants(shared, owner).await.expect("grants").len(), 2);
    assert!(db.grants(manifest, owner).await.expect("grants").is_empty());

    // The next upload carries the tags its uploader wrote; a grant at its newer epoch adds one.
    let mut next = commit(shared, owner, replace(1), 100);
    next.key_epoch = 2;
    next.grantee_tags = tags(&[(other, 0xcc)]);
    db.commit_volume(&next).await.expect("revision 2");
    assert!(matches!(
        db.put_grant_with_tag(&grant, 2, &[1; 32]).await,
        Err(DbError::EpochFenced { current: 2 })
    ));
    assert_eq!(
        db.put_grant_with_tag(
            &NewGrant {
                key_epoch: 2,
                ..grant.clone()
            },
            2,
            &[0xdd; 32]
        )
        .await
        .expect("grant at the new epoch"),
        2
    );
    let row = db.volume(shared).await.expect("read").expect("volume");
    assert_eq!(row.grantee_tags, tags(&[(friend, 0xdd), (other, 0xcc)]));
    assert_eq!(
        db.grantee_ids(shared).await.expect("grantees"),
        BTreeSet::from([friend, other])
            .into_iter()
            .collect::<Vec<_>>()
    );

    // Revoking removes the grant and the grantee's tag, nothing else.
    assert!(matches!(
        db.delete_grant(shared, stranger, friend).await,
        Err(DbError::NotFound)
    ));
    db.delete_grant(shared, owner, friend)
        .await
        .expect("revoke");
    let row = db.volume(shared).await.expect("read").expect("volume");
    assert_eq!(row.grantee_tags, tags(&[(other, 0xcc)]));
    assert_eq!(row.revision, 2);
    assert_eq!(db.volume_access(shared, friend).await.expect("read"), None);
    assert!(matches!(
        db.delete_grant(shared, owner, friend).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.delete_grant(Uuid::new_v4(), owner, other).await,
        Err(DbError::NotFound)
    ));
    assert_eq!(db.grantee_ids(shared).await.expect("grantees"), vec![other]);
    assert!(
        db.grantee_ids(Uuid::new_v4())
            .await
            .expect("grantees")
            .is_empty()
    );
    // A grant whose tag the current revision no longer carries is revoked all the same.
    let mut untagged = commit(shared, owner, replace(2), 100);
    untagged.key_epoch = 2;
    db.commit_volume(&untagged).await.expect("revision 3");
    db.delete_grant(shared, owner, other)
        .await
        .expect("revoke without a tag");
    assert!(db.grantee_ids(shared).await.expect("grantees").is_empty());
}

async fn concurrent_grants_keep_every_tag(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let shared = Uuid::new_v4();
    db.commit_volume(&commit(shared, owner, Precondition::Create, 100))
        .await
        .expect("create");
    let mut grantees = Vec::new();
    for key_byte in 10..16 {
        grantees.push(active(db, AccountKind::Friend, key_byte).await);
    }
    let db = Arc::new(db.clone());
    let tasks: Vec<_> = grantees
        .iter()
        .enumerate()
        .map(|(i, grantee)| {
            let db = Arc::clone(&db);
            let grant = NewGrant {
                volume_id: shared,
                owner_id: owner,
                grantee_id: *grantee,
                key_block: vec![i as u8; 81],
                key_epoch: 0,
                now: T0,
            };
            tokio::spawn(async move { db.put_grant_with_tag(&grant, 1, &[i as u8; 32]).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("every grant is stored");
    }
    let row = db.volume(shared).await.expect("read").expect("volume");
    let expected: BTreeMap<Uuid, Vec<u8>> = grantees
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, vec![i as u8; 32]))
        .collect();
    assert_eq!(
        row.grantee_tags, expected,
        "no grant overwrote another's tag"
    );
    assert_eq!(db.grants(shared, owner).await.expect("grants").len(), 6);
}

async fn invites_are_withdrawn_by_id_and_uses_given_back(engine: &Engine) {
    let db = &engine.db;
    let owner = active(db, AccountKind::System, 1).await;
    let other = active(db, AccountKind::System, 2).await;
    let hash = |b: u8| -> Vec<u8> { (0..32).map(|i| b.wrapping_add(i)).collect() };
    let id_of = |hash: &[u8]| Uuid::from_slice(&hash[..16]).expect("16 bytes");
    let invite = NewInvite {
        locator_hash: hash(1),
        owner_id: owner,
        expires_at: T0 + 100,
        uses: 1,
        now: T0,
    };
    db.create_invite(&invite).await.expect("invite");
    db.create_invite(&NewInvite {
        locator_hash: hash(50),
        expires_at: T0 + 50,
        now: T0 + 1,
        ..invite.clone()
    })
    .await
    .expect("invite");
    db.create_invite(&NewInvite {
        locator_hash: hash(100),
        owner_id: other,
        ..invite.clone()
    })
    .await
    .expect("someone else's invite");

    let live = db.live_invites_of(owner, T0).await.expect("list");
    assert_eq!(
        live.iter()
            .map(|i| i.locator_hash.clone())
            .collect::<Vec<_>>(),
        vec![hash(1), hash(50)],
        "oldest first"
    );
    assert_eq!(
        db.live_invites_of(owner, T0 + 50)
            .await
            .expect("list")
            .len(),
        1,
        "the expired one is not listed"
    );

    // Only the owner, only a live invite, only by its id.
    assert!(matches!(
        db.delete_live_invite(id_of(&hash(1)), other, T0).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.delete_live_invite(id_of(&hash(2)), owner, T0).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.delete_live_invite(id_of(&hash(50)), owner, T0 + 50)
            .await,
        Err(DbError::NotFound)
    ));
    // A used-up invite is not live; a use given back makes it live again.
    db.consume_invite(&hash(1), T0).await.expect("use");
    assert_eq!(db.live_invites_of(owner, T0).await.expect("list").len(), 1);
    assert!(matches!(
        db.delete_live_invite(id_of(&hash(1)), owner, T0).await,
        Err(DbError::NotFound)
    ));
    db.restore_invite_use(&hash(1)).await.expect("give back");
    assert_eq!(
        db.invite(&hash(1), T0)
            .await
            .expect("read")
            .expect("usable again")
            .uses_left,
        1
    );
    db.delete_live_invite(id_of(&hash(1)), owner, T0)
        .await
        .expect("withdraw");
    assert_eq!(db.invite(&hash(1), T0).await.expect("read"), None);
    // Giving a use back to a withdrawn invite does not bring it back.
    db.restore_invite_use(&hash(1)).await.expect("no-op");
    assert_eq!(db.invite(&hash(1), T0).await.expect("read"), None);
    assert!(db.invite(&hash(100), T0).await.expect("read").is_some());
}

async fn migrations_are_idempotent(engine: &Engine) {
    let owner = active(&engine.db, AccountKind::System, 1).await;
    // Connecting again (two relay instances, or a restart) migrates nothing and loses nothing.
    let (again, third) = tokio::join!(Db::connect(&engine.url), Db::connect(&engine.url));
    let again = again.expect("connect again");
    let third = third.expect("connect a third time");
    assert_eq!(again.kind(), engine.db.kind());
    assert!(again.account(owner).await.expect("read").is_some());
    assert!(third.account(owner).await.expect("read").is_some());
    again.close().await;
    third.close().await;
}

// ---------------------------------------------------------------------------------------------
// Engine-independent checks

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_secrets() {
    for url in ["mysql://root:hunter2@localhost/db", "/var/lib/relay.db", ""] {
        match Db::connect(url).await {
            Err(error @ DbError::UnsupportedUrl { .. }) => {
                let message = error.to_string();
                assert!(!message.contains("hunter2"), "{message}");
                assert!(message.contains("sqlite:"), "{message}");
            }
            other => panic!("{url:?}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sqlite_in_memory_works_on_one_connection() {
    let db = Db::connect("sqlite::memory:").await.expect("open");
    let user = active(&db, AccountKind::System, 1).await;
    let volume = Uuid::new_v4();
    db.commit_volume(&commit(volume, user, Precondition::Create, 10))
        .await
        .expect("commit");
    assert_eq!(revision(&db, volume).await, Some(1));
}

#[tokio::test]
async fn sqlite_creates_the_file_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("relay.db");
    let db = Db::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    assert!(path.is_file());
    let Db::Sqlite(sqlite) = &db else {
        panic!("expected SQLite");
    };
    let pool = sqlite.pool();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!(foreign_keys, 1);
}
