"""Moved: the rollups are storage, kept by the ingest, and live in ``district.rollups``
(below both the ingest and the dashboard, so neither imports the other). These names stay
for callers not yet moved; patch or extend ``district.rollups`` itself."""

from district.rollups import (  # noqa: F401
    LOCAL_TZ,
    ROLLUP_TABLES,
    ROLLUPS,
    UTC_OFFSET_S,
    add_votes,
    ancestors_or_self,
    bucket_sql,
    day_date,
    differences,
    local_day,
    local_hour_of,
    month_index,
    month_start,
    rebuild,
)
