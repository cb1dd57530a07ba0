-- Up Migration

-- A process that does not migrate (LEADLINE_ROLE=api) connects as the application and waits until the
-- database carries every migration its code ships; it reads which were applied here.
GRANT SELECT ON pgmigrations TO leadline_app;

-- Down Migration

REVOKE SELECT ON pgmigrations FROM leadline_app;
