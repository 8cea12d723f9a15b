-- enroll_key lets an agent whose enrollment answer was lost retry with the
-- same token and nonce and get its own identity back (with a new secret)
-- instead of a second endpoint. '' for agents enrolled without a nonce.
ALTER TABLE agents ADD COLUMN enroll_key {{text}} NOT NULL DEFAULT '';
CREATE INDEX agents_enroll_key ON agents (enroll_key);
