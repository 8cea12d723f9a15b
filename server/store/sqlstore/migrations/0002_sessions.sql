-- Screen-share sessions and the viewers that joined them. agent_token_hash
-- is the SHA-256 of the per-session agent token; the token itself is never
-- stored. control_holder is a viewer id, '' for nobody.
CREATE TABLE screen_sessions (
	seq              {{serial_pk}},
	id               {{text}} NOT NULL UNIQUE,
	agent_id         {{text}} NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	technician_id    {{text}} NOT NULL,
	technician_name  {{text}} NOT NULL,
	attended         {{bool}} NOT NULL,
	accept_timeout_s {{bigint}} NOT NULL,
	mode             {{text}} NOT NULL,
	state            {{text}} NOT NULL,
	reason           {{text}} NOT NULL,
	agent_token_hash {{text}} NOT NULL UNIQUE,
	created          {{time}} NOT NULL,
	state_since      {{time}} NOT NULL,
	started          {{time}},
	ended            {{time}},
	control_holder   {{text}} NOT NULL
);
CREATE INDEX screen_sessions_state ON screen_sessions (state, created);
CREATE INDEX screen_sessions_technician ON screen_sessions (technician_id, created);
CREATE INDEX screen_sessions_agent ON screen_sessions (agent_id, created);

CREATE TABLE session_viewers (
	seq        {{serial_pk}},
	session_id {{text}} NOT NULL REFERENCES screen_sessions (id) ON DELETE CASCADE,
	viewer_id  {{text}} NOT NULL,
	user_id    {{text}} NOT NULL,
	user_name  {{text}} NOT NULL,
	joined     {{time}} NOT NULL,
	left_at    {{time}},
	UNIQUE (session_id, viewer_id)
);
