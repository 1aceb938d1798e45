-- SQLite only: storing a volume revision is one statement.
--
-- SQLite has one writer at a time, so the relay's commits of uploads queue one behind the
-- other. Each statement of a transaction is a round trip to the connection's thread, and the
-- queue waits for all of them. With these triggers the commit is a single INSERT or
-- compare-and-swap UPDATE of the volume row (quota checked in its WHERE clause), and the
-- storage accounting and the purge of the replaced object happen inside that statement,
-- atomically with it. PostgreSQL keeps the explicit transaction (its writers do not queue
-- this way), so it has no such triggers: never write these tables on SQLite expecting the
-- explicit accounting of the PostgreSQL path, or the size is counted twice.

CREATE TRIGGER volumes_created AFTER INSERT ON volumes
BEGIN
    UPDATE accounts SET storage_bytes = storage_bytes + NEW.padded_size
    WHERE user_id = NEW.owner_id;
END;

CREATE TRIGGER volumes_revision_moved AFTER UPDATE OF object_key ON volumes
WHEN OLD.object_key <> NEW.object_key
BEGIN
    UPDATE accounts SET storage_bytes = storage_bytes + NEW.padded_size - OLD.padded_size
    WHERE user_id = NEW.owner_id;
    INSERT INTO purge_queue (object_key, enqueued_at) VALUES (OLD.object_key, NEW.updated_at)
    ON CONFLICT (object_key) DO NOTHING;
END;
