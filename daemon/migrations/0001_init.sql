-- The local store of plogd: ciphertext references and wrapped keys only, never plaintext or
-- unwrapped keys. Times are unix seconds; revisions, epochs and sizes are non-negative.

-- Relays the identity uses. `origin` is the current origin (the `relay` argument of the D-Bus
-- methods); `identity_origin` and `generation` select the derived identity key and never change
-- when the relay moves.
CREATE TABLE relays (
    origin          TEXT PRIMARY KEY NOT NULL,
    identity_origin TEXT NOT NULL,
    generation      INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    pin             TEXT NOT NULL,
    next_pin        TEXT,
    name            TEXT,
    account_user_id TEXT,
    account_kind    TEXT CHECK (account_kind IN ('system', 'friend')),
    account_handle  TEXT,
    added_at        INTEGER NOT NULL
);

-- One volume per type. The ciphertext of the current revision is the file `file_name` in the
-- volumes directory, exactly `sealed_len` bytes whose BLAKE2b-256 is `digest`. `owner_key` is
-- the owner-wrapped volume key of `key_epoch`; `owner_tag` the owner tag over header and
-- digest. `deleted` marks a tombstone: removed here, to be deleted at the relays.
CREATE TABLE volumes (
    id             TEXT PRIMARY KEY NOT NULL,
    vtype          TEXT NOT NULL UNIQUE,
    revision       INTEGER NOT NULL CHECK (revision >= 1),
    key_epoch      INTEGER NOT NULL CHECK (key_epoch >= 0),
    plaintext_size INTEGER NOT NULL CHECK (plaintext_size >= 0),
    sealed_len     INTEGER NOT NULL CHECK (sealed_len > 0),
    digest         BLOB NOT NULL CHECK (length(digest) = 32),
    owner_key      BLOB NOT NULL,
    owner_tag      BLOB NOT NULL CHECK (length(owner_tag) = 32),
    file_name      TEXT NOT NULL UNIQUE,
    updated_at     INTEGER NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
);

-- Sync bookkeeping per (volume, relay). `remote_revision` is the last revision known to be at
-- that relay (the base for `If-Match`; NULL: not there yet). `state` is `synced` when the relay
-- has the local revision, `pending` when it must be pushed (or the tombstone applied) and
-- `conflict` when both sides changed.
CREATE TABLE volume_sync (
    volume_id       TEXT NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,
    relay           TEXT NOT NULL REFERENCES relays (origin) ON DELETE CASCADE ON UPDATE CASCADE,
    remote_revision INTEGER CHECK (remote_revision >= 1),
    state           TEXT NOT NULL CHECK (state IN ('synced', 'pending', 'conflict')),
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (volume_id, relay)
);

CREATE INDEX volume_sync_relay ON volume_sync (relay);
