-- Link tokens gain the account whose mailbox they open: the account that registered the hash.
-- A post by link is accepted only for that recipient, only it may drop the link, and the
-- number it may hold is capped. The relay still stores no pair: nothing here says who may
-- post under a token, only whose mailbox it opens.
--
-- Nothing was released with the ownerless table, so its rows (whose owners are unknown) are
-- dropped rather than guessed; clients register their tokens again.
DROP TABLE links;
CREATE TABLE links (
    owner_id   TEXT   NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    token_hash BLOB   NOT NULL CHECK (length(token_hash) = 32),
    created_at BIGINT NOT NULL,
    -- Owner first: serves both the check of a post (owner and hash) and the per-owner count.
    -- Two accounts may register the same hash (both sides of a link know both tokens): each
    -- opens only its own mailbox, and neither can tell that the other did.
    PRIMARY KEY (owner_id, token_hash)
);
