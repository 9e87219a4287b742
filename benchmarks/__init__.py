"""Speed benchmarks of the ARMIN layer and of armin_lm (issue 6): ``python -m benchmarks.run``."""
