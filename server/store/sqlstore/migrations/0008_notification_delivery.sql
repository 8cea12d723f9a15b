-- Delivery of end-user notifications. An agent reports its time zone
-- (notifications may start at an endpoint-local time); each
-- notification_deliveries row is one endpoint's state for one
-- notification, folded from the events its agent reports (seq orders
-- them per agent, so a poll resent after a lost answer changes nothing).
-- settings holds installation-wide switches (the approval rule) and
-- per-group notification branding, as JSON values.
ALTER TABLE agents ADD COLUMN time_zone {{text}} NOT NULL DEFAULT '';

CREATE TABLE notification_deliveries (
	notification_id {{text}} NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
	agent_id        {{text}} NOT NULL,
	version         {{bigint}} NOT NULL,
	status          {{text}} NOT NULL,
	response        {{text}} NOT NULL,
	postpones       {{bigint}} NOT NULL,
	error           {{text}} NOT NULL,
	users           {{text}} NOT NULL,
	delivered_at    {{time}},
	shown_at        {{time}},
	answered_at     {{time}},
	updated         {{time}} NOT NULL,
	seq             {{bigint}} NOT NULL,
	PRIMARY KEY (notification_id, agent_id)
);
CREATE INDEX notification_deliveries_agent ON notification_deliveries (agent_id);

CREATE TABLE settings (
	name       {{text}} PRIMARY KEY,
	value      {{text}} NOT NULL,
	updated    {{time}} NOT NULL,
	updated_by {{text}} NOT NULL
);

-- When a notification's current version expires (NULL: not known), so
-- that the delivering set is read without the long over.
ALTER TABLE notifications ADD COLUMN expires {{time}};
CREATE INDEX notifications_expires ON notifications (approved_version, expires);
