-- End-user notifications. notifications holds each one's current version:
-- its content is doc, a JSON document the service layer owns (title,
-- message, buttons, deferral, schedule, targets, audience); status,
-- version and the approval of a version are columns the store checks.
-- notification_versions keeps every version with the decision taken on
-- it (approval is per version), and notification_groups the target
-- groups, for reads scoped to groups.
CREATE TABLE notifications (
	id               {{text}} PRIMARY KEY,
	status           {{text}} NOT NULL,
	version          {{bigint}} NOT NULL,
	doc              {{text}} NOT NULL,
	author_id        {{text}} NOT NULL,
	created_by       {{text}} NOT NULL,
	created          {{time}} NOT NULL,
	updated          {{time}} NOT NULL,
	approved_version {{bigint}} NOT NULL,
	approved_by      {{text}} NOT NULL,
	approved_at      {{time}},
	reason           {{text}} NOT NULL
);
CREATE INDEX notifications_status ON notifications (status, updated);

CREATE TABLE notification_groups (
	notification_id {{text}} NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
	group_id        {{text}} NOT NULL,
	PRIMARY KEY (notification_id, group_id)
);
CREATE INDEX notification_groups_group ON notification_groups (group_id);

CREATE TABLE notification_versions (
	notification_id {{text}} NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
	version         {{bigint}} NOT NULL,
	doc             {{text}} NOT NULL,
	author_id       {{text}} NOT NULL,
	created         {{time}} NOT NULL,
	decision        {{text}} NOT NULL,
	decided_by      {{text}} NOT NULL,
	decided_at      {{time}},
	reason          {{text}} NOT NULL,
	PRIMARY KEY (notification_id, version)
);
