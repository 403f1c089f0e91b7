-- The installed extension's objects as sorted text, one line each: every
-- member with its definition, settings, comments and privileges. Two
-- databases whose outputs are equal have the same extension, however it was
-- installed (a fresh install against an upgrade: src/sql/README.md,
-- "Releasing a version"; the split into parts was checked against the
-- single-file script that way).
--   psql -X -A -t -d DB -f test/sqlcheck/catalog_fingerprint.sql
WITH members AS (
    SELECT d.classid, d.objid
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_extension e ON d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                                   AND d.refobjid = e.oid
    WHERE e.extname = 'segmentation' AND d.deptype = 'e'
)
SELECT line FROM (
    SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, 0)
           || ' comment=' || coalesce(pg_catalog.obj_description(objid, (SELECT r.relname FROM pg_catalog.pg_class r WHERE r.oid = classid)), '-') AS line
    FROM members
    UNION ALL
    SELECT 'function ' || p.oid::pg_catalog.regprocedure::text || E'\n' || pg_catalog.pg_get_functiondef(p.oid)
           || ' acl=' || coalesce(p.proacl::text, '-')
    FROM pg_catalog.pg_proc p JOIN members m ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND m.objid = p.oid
    WHERE p.prokind <> 'a'
    UNION ALL
    SELECT 'relation ' || c.oid::pg_catalog.regclass::text || ' kind=' || c.relkind::text
           || ' options=' || coalesce(c.reloptions::text, '-') || ' acl=' || coalesce(c.relacl::text, '-')
    FROM pg_catalog.pg_class c JOIN members m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = c.oid
    UNION ALL
    SELECT 'column ' || a.attrelid::pg_catalog.regclass::text || '.' || a.attname || ' '
           || pg_catalog.format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || ' identity=' || a.attidentity::text || ' default=' || coalesce(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '-')
    FROM pg_catalog.pg_attribute a
    JOIN members m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = a.attrelid
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM pg_catalog.pg_index i JOIN members m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = i.indrelid
    UNION ALL
    SELECT 'constraint ' || co.conrelid::pg_catalog.regclass::text || ' ' || co.conname || ' '
           || pg_catalog.pg_get_constraintdef(co.oid)
    FROM pg_catalog.pg_constraint co JOIN members m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = co.conrelid
    UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM pg_catalog.pg_trigger t JOIN members m ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = t.tgrelid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'event trigger ' || et.evtname || ' on ' || et.evtevent || ' tags=' || coalesce(et.evttags::text, '-')
           || ' runs ' || et.evtfoid::pg_catalog.regprocedure::text || ' enabled=' || et.evtenabled::text
    FROM pg_catalog.pg_event_trigger et JOIN members m ON m.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND m.objid = et.oid
    UNION ALL
    SELECT 'schema ' || n.nspname || ' acl=' || coalesce(n.nspacl::text, '-')
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'segmentation'
    UNION ALL
    SELECT 'dumped ' || pg_catalog.array_to_string(ARRAY(SELECT c::pg_catalog.regclass::text FROM pg_catalog.unnest(e.extconfig) c), ', ')
           || ' conditions=' || coalesce(e.extcondition::text, '-') || ' version=' || e.extversion
    FROM pg_catalog.pg_extension e WHERE e.extname = 'segmentation'
    UNION ALL
    SELECT 'role ' || r.rolname || ' login=' || r.rolcanlogin || ' member of '
           || coalesce((SELECT pg_catalog.string_agg(g.rolname, ', ' ORDER BY g.rolname)
                        FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
                        WHERE am.member = r.oid), '-')
    FROM pg_catalog.pg_roles r WHERE r.rolname IN ('segmentation_viewer', 'segmentation_editor')
) lines
ORDER BY line COLLATE "C";
