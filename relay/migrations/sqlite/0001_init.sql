-- PluralLog relay metadata, SQLite flavour. Kept in step with migrations/postgres/0001_init.sql.
-- Migrations are append-only: never edit one that has been released, add the next file.
--
-- Ids are hyphenated lowercase UUIDs stored as TEXT, times are unix seconds, sizes are bytes.

-- One account per public key. An unactivated account holds no handle: the handle it asked
-- for waits in pending_handle until the first successful challenge.
CREATE TABLE accounts (
    user_id        TEXT    NOT NULL PRIMARY KEY CHECK (length(user_id) = 36),
    kind           TEXT    NOT NULL CHECK (kind IN ('system', 'friend')),
    public_key     BLOB    NOT NULL UNIQUE CHECK (length(public_key) = 32),
    handle         TEXT    UNIQUE,
    pending_handle TEXT,
    activated      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    last_seen_at   BIGINT,
    storage_bytes  BIGINT  NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0),
    session_epoch  BIGINT  NOT NULL DEFAULT 0,
    CHECK (handle IS NULL OR activated)
);
CREATE INDEX accounts_unactivated ON accounts (created_at) WHERE NOT activated;

-- The current revision of each volume. A revision's object is immutable: any change to
-- object_key or padded_size moves the revision.
CREATE TABLE volumes (
    volume_id    TEXT   NOT NULL PRIMARY KEY CHECK (length(volume_id) = 36),
    owner_id     TEXT   NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    vtype        TEXT   NOT NULL,
    revision     BIGINT NOT NULL CHECK (revision >= 0),
    key_epoch    BIGINT NOT NULL CHECK (key_epoch >= 0),
    padded_size  BIGINT NOT NULL CHECK (padded_size >= 0),
    object_key   TEXT   NOT NULL UNIQUE,
    digest       BLOB   NOT NULL CHECK (length(digest) = 32),
    owner_tag    BLOB   NOT NULL,
    owner_key    BLOB   NOT NULL,
    grantee_tags TEXT   NOT NULL DEFAULT '{}',
    updated_at   BIGINT NOT NULL
);
CREATE INDEX volumes_owner ON volumes (owner_id);

-- Who may fetch which volume, with the grantee's key block for the epoch.
CREATE TABLE grants (
    volume_id  TEXT   NOT NULL REFERENCES volumes (volume_id) ON DELETE CASCADE,
    grantee_id TEXT   NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    key_block  BLOB   NOT NULL,
    key_epoch  BIGINT NOT NULL CHECK (key_epoch >= 0),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (volume_id, grantee_id)
);
CREATE INDEX grants_grantee ON grants (grantee_id);

-- Invites: the relay knows only the hash of the locator, never the secret.
CREATE TABLE invites (
    locator_hash BLOB   NOT NULL PRIMARY KEY,
    owner_id     TEXT   NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL,
    uses_left    BIGINT NOT NULL CHECK (uses_left >= 0),
    created_at   BIGINT NOT NULL
);
CREATE INDEX invites_owner ON invites (owner_id);
CREATE INDEX invites_expiry ON invites (expires_at);

-- Link tokens (hashes only); the relay stores no pair.
CREATE TABLE links (
    token_hash BLOB   NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Relay-wide values: session epoch (number), relay secret (value).
CREATE TABLE relay_state (
    key    TEXT   NOT NULL PRIMARY KEY,
    value  BLOB,
    number BIGINT NOT NULL DEFAULT 0
);

-- Deleted accounts.
CREATE TABLE tombstones (
    user_id    TEXT   NOT NULL PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);

-- Objects to delete from the object store; durable so a crash never loses one.
CREATE TABLE purge_queue (
    object_key  TEXT   NOT NULL PRIMARY KEY,
    enqueued_at BIGINT NOT NULL
);
CREATE INDEX purge_queue_order ON purge_queue (enqueued_at);
