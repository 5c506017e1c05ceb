"""Analytics: glucose curves, CGM metrics, intake baselines, lactation curves — pure functions over numpy/pandas."""
