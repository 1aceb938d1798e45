-- Whether strangers may post friend requests found by handle (`via: handle`) to the account.
-- On by default, as for a new account; existing accounts keep accepting them.
ALTER TABLE accounts ADD COLUMN handle_requests BOOLEAN NOT NULL DEFAULT TRUE;
