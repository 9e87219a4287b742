"""ARMIN as shipped (16 slots, 586k parameters) and the LSTM of its parameter count (587k) at an
equal wall-clock budget of 15 minutes each on PTB-char streams (fairseq's --stop-time-hours
0.25), one thread, both at once on the 2 cores, seeds 1 and 2; lr 8e-3, the best constant
rate of both (docs/studies/ptb-char-variants.md); valid BPC on the whole valid split every 250 updates and when
the time runs out.

    armin-study wallclock_15min --variants armin16,lstm --jobs 2                 # constant rate
    armin-study wallclock_15min --variants armin16-cosine,lstm-cosine --jobs 2   # cosine over the time

armin16 and lstm are the 15-minute pairs at a constant rate of
docs/studies/wall-clock.md. The -cosine variants decay both rates along half a cosine from 8e-3 to 0 over the
15 minutes (the plugin's --lr-scheduler cosine_over_time, which reads the same clock that
stops the run): at 2,000 updates the same decay per update put ARMIN 0.04 BPC ahead
(docs/studies/ptb-char-variants.md).
"""
ARMIN16 = ["--arch", "armin_lm", "--decoder-embed-dim", 64, "--armin-hidden-size", 256,
           "--armin-slot-size", 64, "--armin-slots", 16, "--dropout", 0.1]
LSTM = ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 64, "--decoder-hidden-size", 344, "--dropout", 0.1]
COSINE = ["--lr-scheduler", "cosine_over_time"]

GRID = dict(
    title="ARMIN (16 slots) and the equal-parameter LSTM for 15 minutes each, PTB-char streams, quick sizes, lr 8e-3.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--lr", 0.008,
           "--clip-norm", 1.0, "--stop-time-hours", 0.25],
    variants={"armin16": ARMIN16, "lstm": LSTM,
              "armin16-cosine": [*ARMIN16, *COSINE], "lstm-cosine": [*LSTM, *COSINE]},
    seeds=[1, 2],
    max_update=100000,
    report_at=[250, 500, 750, 1000, 1250, 1500],
)
