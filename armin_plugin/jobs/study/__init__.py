"""``armin-study``: a grid of variants x seeds, trained with fairseq-train at an equal update
budget, reported as the mean and spread over seeds (docs/study.md).

- :mod:`.grid`: the grid file (Python or YAML) and its checks
- :mod:`.runs`: each run's command, folder and finished marker
- :mod:`.summary`: each run's numbers and the table and curves over seeds
- :mod:`.command`: the command line (runs N at once through :mod:`armin_plugin.jobs.run_pool`)
"""
