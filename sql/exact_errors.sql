-- Error messages of criteria quote at most 100 bytes of a key (then "..."),
-- whatever its size, and a document nested too deeply is refused with the
-- path to where it nests, also for arrays that are not criteria.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- The SQLSTATE, the message's length and its start.
CREATE FUNCTION pg_temp.refusal(criteria text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM segmentation.check_criteria(criteria::jsonb);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' (' || length(SQLERRM) || ' characters): ' || left(SQLERRM, 200);
END
$$;

-- A 1 MB unknown key, as an identifier and as a key that needs quoting.
SELECT pg_temp.refusal('{"' || repeat('k', 1048576) || '": 1}') AS megabyte_key;
SELECT pg_temp.refusal('{"a b' || repeat('x', 1048576) || '": 1}') AS megabyte_quoted_key;
-- Cut at a character boundary: 99 bytes of "x" then two-byte characters.
SELECT pg_temp.refusal('{"' || repeat('x', 99) || repeat('é', 1000) || '": 1}') AS cut_before_a_character;
-- Deeper in the document: the key is cut, the path before it kept.
SELECT pg_temp.refusal('{"all": [{"' || repeat('d', 1048576) || '": 1}]}') AS nested_megabyte_key;

-- Loyalty levels nested 300 arrays deep (past the JSON reader's 256 levels):
-- the message names the path, cut after 100 bytes.
SELECT pg_temp.refusal('{"minOrders": 1, "loyaltyLevels": ' || repeat('[', 300) || '"gold"' || repeat(']', 300) || '}')
       AS deep_loyalty_levels;
SELECT pg_temp.refusal('{"all": [{"minOrders": 1}, {"x": ' || repeat('[', 300) || '1' || repeat(']', 300) || '}]}')
       AS deep_unknown_member;

SELECT count(*) AS drift FROM segmentation.verify('2030-01-01');
