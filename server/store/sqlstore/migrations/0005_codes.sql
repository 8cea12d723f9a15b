-- Connection codes of broker sessions. code_hash is an HMAC of the 9
-- digits under the server's secret key (a plain hash of 10^9 values would
-- fall to brute force); the digits are never stored. agent_id and
-- session_id are '' until the code is used.
CREATE TABLE connection_codes (
	id              {{text}} PRIMARY KEY,
	code_hash       {{text}} NOT NULL UNIQUE,
	technician_id   {{text}} NOT NULL,
	technician_name {{text}} NOT NULL,
	state           {{text}} NOT NULL,
	created         {{time}} NOT NULL,
	expires         {{time}} NOT NULL,
	agent_id        {{text}} NOT NULL,
	session_id      {{text}} NOT NULL,
	used            {{time}}
);
CREATE INDEX connection_codes_technician ON connection_codes (technician_id, created);
