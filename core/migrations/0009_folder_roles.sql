-- 0009: folder roles the app chose (issue 14). `role` keeps its meaning: the folder's role as
-- every query reads it (the effective role). It is now derived from two columns:
-- `listed_role`, what the sync found (SPECIAL-USE, else a well-known name), and
-- `role_override`, what the app set with `Engine::set_folder_role`: 'auto' (none set: the
-- listed role), 'none' (no role), or a role. A role the app gave one folder is taken from
-- every other folder's listed role, so that each role has one folder. A sync only ever
-- writes `listed_role`; the override survives every sync and goes with its folder.

ALTER TABLE folders
    ADD COLUMN listed_role TEXT CHECK (listed_role IN ('inbox', 'sent', 'drafts', 'trash',
                                                       'junk', 'archive', 'all', 'flagged'));

ALTER TABLE folders
    ADD COLUMN role_override TEXT NOT NULL DEFAULT 'auto'
        CHECK (role_override IN ('auto', 'none', 'sent', 'drafts', 'trash', 'junk',
                                 'archive', 'all', 'flagged'));

UPDATE folders SET listed_role = role;
