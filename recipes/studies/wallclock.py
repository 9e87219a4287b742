"""ARMIN as shipped (16 slots, 586k parameters) and the LSTM of its parameter count (587k) at an
equal wall-clock budget on PTB-char streams: each trains for two hours (fairseq's
--stop-time-hours, which counts training time across resumes), one thread, both at once on
the 2 cores; lr 8e-3, the best rate of both (docs/studies/ptb-char-variants.md); valid BPC on the whole valid
split every 500 updates and when the time runs out. The run with the lower BPC at the end
is ahead at equal time; the curves (curves.png, against training minutes as well as
updates in results.json) say whether ARMIN catches up or falls behind.

    bash recipes/study.sh wallclock                                   # the constant-rate pair
    armin-study wallclock --variants armin16-plateau,lstm-plateau     # both with the rate halved

At a constant 8e-3 ARMIN diverged after 81 minutes (docs/studies/wall-clock.md), and
halving each model's rate at its plateau took both well below their constant-rate best; the
-plateau variants give both models that schedule from the start: fairseq's reduce_lr_on_plateau, the rate halved after each epoch
(1,046 updates) whose valid loss is not a new best. The 15-minute pairs of docs/studies/wall-clock.md are
the same runs as armin16 and lstm with --stop-time-hours 0.25.
"""
ARMIN16 = ["--arch", "armin_lm", "--decoder-embed-dim", 64, "--armin-hidden-size", 256,
           "--armin-slot-size", 64, "--armin-slots", 16, "--dropout", 0.1]
LSTM = ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 64, "--decoder-hidden-size", 344, "--dropout", 0.1]
PLATEAU = ["--lr-scheduler", "reduce_lr_on_plateau", "--lr-shrink", 0.5, "--lr-patience", 0]

GRID = dict(
    title="ARMIN (16 slots) and the equal-parameter LSTM for two hours each, PTB-char streams, quick sizes, lr 8e-3.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--lr", 0.008,
           "--clip-norm", 1.0, "--stop-time-hours", 2],
    variants={"armin16": ARMIN16, "lstm": LSTM,
              "armin16-plateau": [*ARMIN16, *PLATEAU], "lstm-plateau": [*LSTM, *PLATEAU]},
    seeds=[1],
    max_update=100000,
    report_at=[500, 1000, 2000, 4000, 6000],
)
