-- Planted violations (the first statement is not the \echo guard).
-- scripts/check-sql.sh runs test/sqlcheck/check_sql.py on this file first: it
-- must report exactly the rules marked "expect" on the line where a statement
-- starts, and nothing else.

CREATE TABLE segments (id bigint);  -- expect: guard, qualified
CREATE TABLE IF NOT EXISTS segmentation.fine (id bigint);
CREATE TABLE "segmentation".fine_too (id bigint);
CREATE UNLOGGED TABLE scratch (id bigint);  -- expect: qualified
CREATE INDEX some_idx ON segments (id);  -- expect: qualified
CREATE INDEX fine_idx ON segmentation.fine (id);
CREATE SEQUENCE counter;  -- expect: qualified
CREATE OR REPLACE VIEW recent AS SELECT 1;  -- expect: qualified
CREATE TYPE mood AS ENUM ('ok');  -- expect: qualified
CREATE DOMAIN positive AS int;  -- expect: qualified

CREATE FUNCTION helper() RETURNS int  -- expect: qualified
LANGUAGE sql AS $$ SELECT 1 $$;

-- A SECURITY DEFINER function without a pinned search_path.
CREATE FUNCTION segmentation.unpinned() RETURNS void  -- expect: definer
AS 'MODULE_PATHNAME', 'x'
LANGUAGE C SECURITY DEFINER;

-- Pinned, but pg_temp not last: it is then searched first.
CREATE FUNCTION segmentation.temp_first() RETURNS void  -- expect: definer
AS 'MODULE_PATHNAME', 'x'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog;

-- Both at once: unqualified and unpinned (the body's SET does not count).
CREATE FUNCTION bad() RETURNS void  -- expect: qualified, definer
LANGUAGE plpgsql SECURITY DEFINER AS $body$
BEGIN
    SET search_path = pg_catalog, pg_temp;
END
$body$;

-- Clauses after the body count.
CREATE FUNCTION segmentation.pinned_after() RETURNS void
LANGUAGE plpgsql AS $$ BEGIN END $$ SECURITY DEFINER SET search_path TO pg_catalog, pg_temp;

-- Fine: text that only looks like a violation, in a string, a comment and a body.
COMMENT ON FUNCTION segmentation.pinned_after() IS 'CREATE TABLE unqualified (x int); SECURITY DEFINER';
/* CREATE TABLE unqualified (x int); */
CREATE FUNCTION segmentation.fine_body() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    CREATE TEMP TABLE unqualified (x int);
END
$$;

CREATE TRIGGER t AFTER INSERT ON segments  -- expect: qualified
    FOR EACH ROW EXECUTE FUNCTION segmentation.fine_body();
CREATE TRIGGER t AFTER INSERT ON segmentation.fine  -- expect: qualified
    FOR EACH ROW EXECUTE FUNCTION fine_body();
CREATE EVENT TRIGGER e ON ddl_command_end  -- expect: qualified
    EXECUTE FUNCTION guard();
