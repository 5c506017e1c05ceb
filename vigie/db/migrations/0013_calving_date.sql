-- A cow's last calving date (issue 6: the yield-drop rule's Wood forecast and the ketosis screen's DIM <= 60 need
-- days in milk; analytics' lactation report takes it as day 0). Set by the farmer or vet (API, `vigie animals add
-- --calving-date`), or by the simulators for their herd. NULL: unknown, and the rules fall back to the cow's 7-day
-- median and to screening at any DIM.
ALTER TABLE animals ADD COLUMN calving_date date;
ALTER TABLE animals ADD CONSTRAINT animals_calving_cow CHECK (calving_date IS NULL OR species = 'cow');
