-- Rate-limited events (wrong connection codes), counted for every server
-- node at once: one row per admitted attempt, pruned once out of every
-- window.
CREATE TABLE rate_events (
	id  {{serial_pk}},
	key {{text}} NOT NULL,
	at  {{time}} NOT NULL
);
CREATE INDEX rate_events_key_at ON rate_events (key, at);
CREATE INDEX rate_events_at ON rate_events (at);
