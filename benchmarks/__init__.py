"""Speed benchmarks of the ARMIN layer and of armin_lm: ``python -m benchmarks.run``."""
