-- Administration: display names of users, membership rules of computer
-- groups, and endpoints that belong to more than their enrollment group.
--
-- computer_groups.rules is a JSON object {"match":"any"|"all","rules":[{"kind","value"}]}.
-- agents.rule_groups and agents.manual_groups are JSON arrays of group ids
-- (memberships by rule and by hand); group_text (" id1 id2 ") is their
-- union in searchable form, so a group filter is one LIKE per group and
-- reading an agent needs no second query. agents.group_id stays the group
-- of the enrollment token. enroll_token_id lets rules match on the token.
ALTER TABLE users ADD COLUMN display_name {{text}} NOT NULL DEFAULT '';
ALTER TABLE computer_groups ADD COLUMN rules {{text}} NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN enroll_token_id {{text}} NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN rule_groups {{text}} NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN manual_groups {{text}} NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN group_text {{text}} NOT NULL DEFAULT ' ';
