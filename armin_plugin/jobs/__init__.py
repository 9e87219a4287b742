"""The comparison jobs (``python -m armin_plugin.jobs.<job>``): each trains ARMIN beside an
LSTM with fairseq-train, evaluates both with fairseq's own tools and writes one results file
that :mod:`.report` turns into the table, the plot and TensorBoard scalars.

- :mod:`.compare_lm`: language models (the main job, the PTB and enwik8 recipes)
- :mod:`.compare_translation`: German-English translation (LibreOffice, IWSLT'14)
- :mod:`.compare_algorithmic`: copy, repeat copy and associative recall
- :mod:`.study`: ``armin-study``, a grid of variants x seeds at an equal update budget

Shared by all of them, never importing a job: :mod:`.fairseq_runs` (building and running the
fairseq commands), :mod:`.tensorboard_logs` (reading fairseq's event files),
:mod:`.checkpoints`, :mod:`.results` and :mod:`.report`.
"""
