-- Initial schema. {{tokens}} are replaced per dialect (see dialect.types);
-- everything else is shared SQL. JSON values are stored as text, byte for
-- byte, because the audit chain hashes them.

CREATE TABLE users (
	id            {{text}} PRIMARY KEY,
	name          {{text}} NOT NULL UNIQUE,
	password_hash {{text}} NOT NULL,
	created       {{time}} NOT NULL,
	disabled      {{bool}} NOT NULL
);

-- permissions: JSON array of permission names.
CREATE TABLE roles (
	name        {{text}} PRIMARY KEY,
	permissions {{text}} NOT NULL
);

CREATE TABLE computer_groups (
	id   {{text}} PRIMARY KEY,
	name {{text}} NOT NULL UNIQUE
);

-- group_id '' means all groups, so it is not a foreign key.
CREATE TABLE role_assignments (
	user_id  {{text}} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role     {{text}} NOT NULL REFERENCES roles (name) ON UPDATE CASCADE,
	group_id {{text}} NOT NULL,
	PRIMARY KEY (user_id, role, group_id)
);

CREATE TABLE web_sessions (
	id         {{text}} PRIMARY KEY,
	user_id    {{text}} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf_token {{text}} NOT NULL,
	created    {{time}} NOT NULL,
	expires    {{time}} NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires);

CREATE TABLE api_tokens (
	id      {{text}} PRIMARY KEY,
	user_id {{text}} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name    {{text}} NOT NULL,
	hash    {{text}} NOT NULL UNIQUE,
	created {{time}} NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE enrollment_tokens (
	id         {{text}} PRIMARY KEY,
	hash       {{text}} NOT NULL UNIQUE,
	group_id   {{text}} NOT NULL REFERENCES computer_groups (id),
	created_by {{text}} NOT NULL,
	created    {{time}} NOT NULL,
	expires    {{time}},
	revoked    {{time}}
);

-- host_fold (lower-cased hostname) and ip_text (" 10.0.0.5 fe80::1 ") are
-- derived columns that SearchAgents matches with LIKE. last_seen is
-- rewritten for every agent every few seconds; on PostgreSQL free space in
-- each page (fillfactor) keeps those updates HOT, without index writes.
CREATE TABLE agents (
	id            {{text}} PRIMARY KEY,
	group_id      {{text}} NOT NULL REFERENCES computer_groups (id),
	secret_hash   {{text}} NOT NULL UNIQUE,
	hostname      {{text}} NOT NULL,
	host_fold     {{text}} NOT NULL,
	ips           {{text}} NOT NULL,
	ip_text       {{text}} NOT NULL,
	os            {{text}} NOT NULL,
	os_version    {{text}} NOT NULL,
	arch          {{text}} NOT NULL,
	agent_version {{text}} NOT NULL,
	users         {{text}} NOT NULL,
	enrolled      {{time}} NOT NULL,
	last_seen     {{time}} NOT NULL,
	revoked       {{time}}
){{agents_storage}};
CREATE INDEX agents_group ON agents (group_id);
CREATE INDEX agents_host ON agents (host_fold, hostname, id);

-- seq orders actions created in the same microsecond.
CREATE TABLE actions (
	seq        {{serial_pk}},
	id         {{text}} NOT NULL UNIQUE,
	agent_id   {{text}} NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	type       {{text}} NOT NULL,
	payload    {{text}},
	state      {{text}} NOT NULL,
	output     {{text}},
	error      {{text}} NOT NULL,
	created_by {{text}} NOT NULL,
	created    {{time}} NOT NULL,
	delivered  {{time}},
	completed  {{time}}
);
CREATE INDEX actions_agent_state ON actions (agent_id, state);

-- group_id '' is the global default policy.
CREATE TABLE policies (
	group_id {{text}} PRIMARY KEY,
	version  {{bigint}} NOT NULL,
	doc      {{text}} NOT NULL,
	updated  {{time}} NOT NULL
);

CREATE TABLE audit_log (
	seq         {{bigint}} PRIMARY KEY,
	time        {{time}} NOT NULL,
	actor       {{text}} NOT NULL,
	type        {{text}} NOT NULL,
	endpoint_id {{text}} NOT NULL,
	session_id  {{text}} NOT NULL,
	details     {{text}} NOT NULL,
	prev_hash   {{text}} NOT NULL,
	hash        {{text}} NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_type ON audit_log (type, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_endpoint ON audit_log (endpoint_id, seq);
