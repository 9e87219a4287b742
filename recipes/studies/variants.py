"""The variants of docs/the-cell.md ("Variants (flags)") against the baselines on PTB-char
streams, at the main job's quick sizes (ARMIN 586k parameters, the LSTM of ARMIN's parameter
count 587k) and at lr 8e-3, the best rate of both models (docs/studies/ptb-char-variants.md);
seeds 1 and 2; 2,000 updates of 32 x 150 characters.

    bash recipes/study.sh variants    # 40 runs, 10 to 45 minutes each when two run at once on
                                      # 2 cores (the 2,000-update runs of the study)

The authors' temperature counts an epoch as 1,046 updates: PTB-char's training text (about
5.0M characters) in batches of 32 x 150; 2,000 updates reach its second step (tau 1/2) only.
The -cosine variants decay the rate along half a cosine from 8e-3 at the start to 0 at update
2,000 (fairseq's cosine scheduler), the same schedule for both models; -lr16e-3 from a peak of
16e-3 instead (a variant's --lr follows the shared one, so it wins).
"""
ARMIN = ["--arch", "armin_lm", "--decoder-embed-dim", 64, "--armin-hidden-size", 256,
         "--armin-slot-size", 64, "--dropout", 0.1]
ARMIN16 = [*ARMIN, "--armin-slots", 16]
LSTM = ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 64, "--decoder-hidden-size", 344, "--dropout", 0.1]
# the cell that solved associative recall (docs/algorithmic.md): mask and content address
RECALL_CELL = [*ARMIN16, "--armin-no-reread", "--armin-content-address"]
# fairseq's cosine schedule over the 2,000 updates: from the peak of 8e-3 down to 0 at update 2,000
COSINE = ["--lr-scheduler", "cosine", "--lr-period-updates", 2000]

GRID = dict(
    title="Variants of the cell against the baselines, PTB-char streams, quick sizes, lr 8e-3.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--lr", 0.008,
           "--clip-norm", 1.0],
    variants={
        "armin16": ARMIN16,
        "armin1": [*ARMIN, "--armin-slots", 1],
        "armin16-no-read": [*ARMIN16, "--armin-no-read"],
        "armin16-authors-init": [*ARMIN16, "--armin-init", "authors"],
        "armin16-authors-tau": [*ARMIN16, "--armin-tau-schedule", "authors",
                                "--armin-tau-epoch-updates", 1046],
        "armin16-no-reread": [*ARMIN16, "--armin-no-reread"],
        "armin16-cosine": [*ARMIN16, *COSINE],
        "armin1-cosine": [*ARMIN, "--armin-slots", 1, *COSINE],
        "armin16-cosine-lr16e-3": [*ARMIN16, *COSINE, "--lr", 0.016],
        "armin16-no-read-cosine": [*ARMIN16, "--armin-no-read", *COSINE],
        "armin16-no-reread-cosine": [*ARMIN16, "--armin-no-reread", *COSINE],
        "armin16-content": [*ARMIN16, "--armin-content-address"],
        "armin16-content-cosine": [*ARMIN16, "--armin-content-address", *COSINE],
        "armin16-no-reread-content-cosine": [*RECALL_CELL, *COSINE],
        "armin16-no-reread-content-tau100k-cosine": [*RECALL_CELL, "--armin-tau-updates", 100000, *COSINE],
        "lstm": LSTM,
        "lstm-cosine": [*LSTM, *COSINE],
        "lstm-cosine-lr16e-3": [*LSTM, *COSINE, "--lr", 0.016],
        "lstm-forget1": [*LSTM, "--lstm-forget-bias", 1.0],
        "lstm-forget1-cosine": [*LSTM, "--lstm-forget-bias", 1.0, *COSINE],
    },
    seeds=[1, 2],
    max_update=2000,
    report_at=[250, 500, 1000, 2000],
)
