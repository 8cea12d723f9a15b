-- The audit chain's tail anchor: one row (id 1) naming the newest record,
-- last_seq and last_hash, with mac, an HMAC over both under a key derived
-- from the server's audit key (kept outside the database). AppendAudit
-- rewrites it in the transaction that appends a record, so deleting the
-- newest records leaves the anchor pointing past the end of the log.
-- The row appears with the first keyed append; a log with records but no
-- anchor is either from before this migration (re-keyed once on open) or
-- has lost its anchor.
CREATE TABLE audit_anchor (
	id        {{bigint}} PRIMARY KEY CHECK (id = 1),
	last_seq  {{bigint}} NOT NULL,
	last_hash {{text}} NOT NULL,
	mac       {{text}} NOT NULL
);
