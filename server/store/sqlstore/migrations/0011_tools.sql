-- Support tools. screen_sessions.tool names the tool a session was opened
-- for (protocol.Tools), '' for a screen share. A terminal session's
-- transcript is kept in session_transcripts: data is the kept bytes as
-- base64 (the start and the end of a longer output, at most 1 MiB), total
-- how many the shell wrote in all.
ALTER TABLE screen_sessions ADD COLUMN tool {{text}} NOT NULL DEFAULT '';

CREATE TABLE session_transcripts (
	session_id {{text}} PRIMARY KEY REFERENCES screen_sessions (id) ON DELETE CASCADE,
	size       {{bigint}} NOT NULL,
	total      {{bigint}} NOT NULL,
	sha256     {{text}} NOT NULL,
	data       {{text}} NOT NULL,
	stored     {{time}} NOT NULL
);
