"""A tiny grid for the tests and a first look (seconds per run): a 4-slot armin_lm and an
lstm_stream_lm of 8 units, two seeds, 4 updates on PTB-char streams."""
GRID = dict(
    title="Tiny models, a few updates: a check that the tool runs, not a result.",
    flags=["--tokens-per-sample", 16, "--batch-size", 4, "--optimizer", "adam", "--lr", 0.01,
           "--clip-norm", 1.0, "--num-workers", 0],
    variants={
        "armin": ["--arch", "armin_lm", "--decoder-embed-dim", 8, "--armin-hidden-size", 8,
                  "--armin-slot-size", 4, "--armin-slots", 4],
        "lstm": ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 8, "--decoder-hidden-size", 8],
    },
    seeds=[1, 2],
    max_update=4,
    report_at=[2, 4],
    log_interval=1,
)
