"""Device simulators: CGM on dogs and cats, horse feeders, milking robots, with labelled anomalies."""
