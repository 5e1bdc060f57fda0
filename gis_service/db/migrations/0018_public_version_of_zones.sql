-- Published school zones are public (/zones, the OGC API layers): the tables behind them move
-- the public data version too, so an answer kept by a worker is made again after any change to
-- them, as for schools, units and the forecast's figures (0007, 0011).

CREATE TRIGGER zone_runs_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON zone_runs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER school_zones_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON school_zones
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
