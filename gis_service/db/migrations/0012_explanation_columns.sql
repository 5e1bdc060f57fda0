-- A run's explanations stored column by column: each school a child passed over is an element
-- of the assignment's arrays (its school, its cost, and its kind: why it was not given and the
-- cutoff that decided), instead of one JSON object per school. A city's run passes over some
-- 2,000,000 schools; as JSON they took longer to write than the allocation took to solve.
--
-- A kind is one of the run's allocation_runs.passed_kinds, by index ({"why": ..., "cutoff":
-- {...}}: a full school's last admitted child, the unit of a price), completed by the pair's
-- own numbers from passed_fields (a JSON object of arrays, null where a pair has none). How
-- many of the schools passed over lead the list because the family ranked them higher is the
-- child's `ranked_higher` in `explanation`. Runs stored before keep everything in
-- `explanation` and NULL arrays; gis_service/admissions/run_store.py reads both.

ALTER TABLE allocation_runs ADD COLUMN passed_kinds jsonb;

ALTER TABLE assignments
    ADD COLUMN passed_school integer[],
    ADD COLUMN passed_cost integer[],
    ADD COLUMN passed_kind integer[],
    ADD COLUMN passed_fields jsonb;
