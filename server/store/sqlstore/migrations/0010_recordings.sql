-- Session recordings. screen_sessions.record says the endpoint's policy
-- recorded sessions when the session was created; a recordings row is the
-- stored recording of one session: the facts of its video, which the
-- server keeps as a file (recordings/<session id>.webm), and its timeline
-- (protocol.RecordingTimeline as JSON). expires is when the retention
-- sweep deletes it.
ALTER TABLE screen_sessions ADD COLUMN record {{bool}} NOT NULL DEFAULT {{false}};

CREATE TABLE recordings (
	session_id  {{text}} PRIMARY KEY REFERENCES screen_sessions (id) ON DELETE CASCADE,
	agent_id    {{text}} NOT NULL,
	size        {{bigint}} NOT NULL,
	sha256      {{text}} NOT NULL,
	duration_ms {{bigint}} NOT NULL,
	width       {{bigint}} NOT NULL,
	height      {{bigint}} NOT NULL,
	timeline    {{text}} NOT NULL,
	created     {{time}} NOT NULL,
	expires     {{time}} NOT NULL
);
CREATE INDEX recordings_expires ON recordings (expires);
