-- schedule_refresh(): refresh_due() on a pg_cron schedule, and a clear error
-- when pg_cron is not installed. The test cluster preloads pg_cron with
-- cron.database_name = this database (scripts/test.sh).
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SELECT plan(9);

SELECT throws_ok(
    $$SELECT segmentation.schedule_refresh('*/10 * * * *')$$,
    '55000',
    'segmentation.schedule_refresh() needs the pg_cron extension, which is not installed in this database',
    'without pg_cron: 55000, naming the missing extension');
SELECT is(segmentation.unschedule_refresh(), false, 'without pg_cron there is nothing to unschedule');

CREATE EXTENSION pg_cron;
SELECT throws_ok($$SELECT segmentation.schedule_refresh(NULL)$$, '22004', 'schedule must not be NULL',
                 'a NULL schedule is refused');
SELECT segmentation.schedule_refresh('*/10 * * * *') AS job \gset
SELECT is(
    (SELECT concat_ws(' | ', jobname, schedule, command, database) FROM cron.job),
    concat_ws(' | ', 'segmentation.refresh_due', '*/10 * * * *', 'SELECT segmentation.refresh_due()', current_database()),
    'one pg_cron job runs refresh_due() in this database');
SELECT is(segmentation.schedule_refresh('0 * * * *'), :job::bigint, 'scheduling again updates the same job');
SELECT is((SELECT schedule FROM cron.job), '0 * * * *', 'with the new schedule');
SELECT throws_like($$SELECT segmentation.schedule_refresh('every tuesday')$$, '%invalid schedule%',
                   'pg_cron refuses a schedule it cannot read');
SELECT is(segmentation.unschedule_refresh(), true, 'unschedule_refresh() removes the job');
SELECT is((SELECT count(*) FROM cron.job)::int, 0, 'and no job is left');

SELECT * FROM finish();
ROLLBACK;
