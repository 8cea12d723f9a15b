-- A files session's right to change files (tools.files.write), as its
-- technician held it when it opened: held still, or the technician's
-- viewers of the session close when their roles change.
ALTER TABLE screen_sessions ADD COLUMN tool_write {{bool}} NOT NULL DEFAULT {{false}};
