------------------------------------------------------------------------------
-- Validation, used by the segments table itself
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.check_criteria(criteria jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_check_criteria'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segmentation.check_criteria(jsonb) IS
'True for valid criteria; otherwise an error (SQLSTATE 22023) naming the path of the problem.';
