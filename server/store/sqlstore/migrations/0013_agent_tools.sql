-- The support tools an agent says it opens (protocol.Inventory.Tools):
-- a tool's session goes only to an agent that names it. An agent from
-- before the tools names none, and would take a tool's session for a
-- screen share.
ALTER TABLE agents ADD COLUMN tools {{text}} NOT NULL DEFAULT '';
