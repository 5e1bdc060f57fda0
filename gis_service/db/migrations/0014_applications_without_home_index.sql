-- No query searches applications by where the child lives: homes are read with their
-- application (by round, by id) and only ever compared with a unit's polygon from the unit's
-- side (admin_units has its own spatial index). The GiST index on applications.home was kept
-- up on every insert all the same: 1.5 to 2 s of a 125,000-row import (measured on the 2018
-- Ho Chi Minh City round), for nothing.
DROP INDEX IF EXISTS applications_home_idx;
