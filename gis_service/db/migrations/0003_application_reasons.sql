-- Rejected applications keep every failed rule (code and sentences in Vietnamese and English),
-- and a round records its admission year for the age rules.

ALTER TABLE applications DROP COLUMN rejection_reason;
ALTER TABLE applications ADD COLUMN rejection_reasons jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE applications ADD COLUMN source_line integer;
ALTER TABLE rounds ADD COLUMN admission_year smallint
    CHECK (admission_year IS NULL OR admission_year BETWEEN 2000 AND 2200);
