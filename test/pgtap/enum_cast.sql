-- A loyalty column of an enum type is read through the enum's output
-- function: a cast its owner defines is never what the extension runs, with
-- its rights, when it reads the column.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION segmentation;
SELECT plan(4);

CREATE TYPE public.tier AS ENUM ('BRONZE', 'GOLD');
CREATE TABLE public.cast_ran (who name, superuser boolean);
GRANT INSERT ON public.cast_ran TO PUBLIC;
CREATE FUNCTION public.tier_to_text(public.tier) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.cast_ran SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
    RETURN 'HIJACKED';
END $$;
CREATE CAST (public.tier AS text) WITH FUNCTION public.tier_to_text(public.tier);
SELECT is('GOLD'::public.tier::text, 'HIJACKED', 'the planted cast is what a plain ::text runs');
DELETE FROM public.cast_ran;

CREATE TABLE public.enum_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier public.tier);
INSERT INTO public.enum_customers VALUES (1, now(), 'GOLD'), (2, now(), 'BRONZE');
SELECT segmentation.track_customers('public.enum_customers', 'id', 'created_at', 'tier');
INSERT INTO public.enum_customers VALUES (3, now(), 'GOLD');
UPDATE public.enum_customers SET tier = 'BRONZE' WHERE id = 1;

SELECT results_eq($$SELECT customer_id, loyalty_level FROM segmentation.customer_metrics ORDER BY 1$$,
                  $$VALUES (1::bigint, 'BRONZE'::text), (2, 'BRONZE'), (3, 'GOLD')$$,
                  'back-fill and triggers read the enum by its label');
SELECT is((SELECT count(*) FROM segmentation.verify())::int, 0, 'verify() reads it the same way');
SELECT is((SELECT count(*) FROM public.cast_ran)::int, 0, 'the planted cast never ran');

SELECT * FROM finish();
ROLLBACK;
