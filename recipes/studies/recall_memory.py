"""Associative recall, the algorithmic task that needs a memory (the goal: ARMIN
solves it, 90% of sequences right at the training lengths): the paper's cell as the recipe trains it
(d_h 64, d_r 32, 32 slots, Adam 1e-2, its best rate, docs/algorithmic.md) with the no-reread
mask, the ablations that say whether the memory is used, fewer slots
(8, 16: fewer than a sequence has steps, with and without the mask) and more (64, 128, each
beside the LSTM of its parameter count), the content address (with and without the mask, at
several rates and schedules), the temperature annealed over 10,000 updates instead of the
job's 2,000, and the LSTM at its own best rate (3e-3); exactly as
``compare_algorithmic`` trains them, 10,000 updates of 32 sequences (about 3 minutes each at
one thread), seeds 1 and 2.

    bash recipes/study.sh recall_memory --jobs 2    # 66 runs, about 125 minutes on 2 cores
"""
from armin_plugin.jobs import compare_algorithmic as job

TASK = "associative_recall"
RECIPE = job.parse_args(["--armin-paper-cell"])  # the recipe's defaults, the paper's cell
RATES = job.PAPER_CELL_PRESETS[TASK].rates
ARMIN = [*job.model_flags(RECIPE, TASK, "armin"), "--lr", RATES["armin_lr"]]
# ARMIN with the mask and the content address (the cell that ships for this task, at the
# paper's cell's rate unless a variant gives its own)
CONTENT = [*ARMIN, "--armin-no-reread", "--armin-content-address"]
# the rate along half a cosine from its peak at update 0 to 0 at update 10,000
COSINE = ["--lr-scheduler", "cosine", "--lr-period-updates", 10000]
# the Gumbel-softmax temperature from 1 to 0.1 over 10,000 updates, not the job's 2,000
SLOW_TAU = ["--armin-tau-updates", 10000]


def more_slots(slots: int):
    """ARMIN with ``slots`` slots and the LSTM of that model's parameter count."""
    sized = job.parse_args(["--armin-paper-cell", "--armin-slots", str(slots)])
    return {f"armin-slots{slots}": [*job.model_flags(sized, TASK, "armin"), "--lr", RATES["armin_lr"]],
            f"lstm-as-slots{slots}": [*job.model_flags(sized, TASK, "lstm"), "--lr", RATES["lstm_lr"]]}


GRID = dict(
    title="Associative recall: remedies and ablations of ARMIN's memory (bit errors per sequence, training lengths).",
    data=None,
    task=["--task", "armin_algorithmic", "--algorithm", TASK, "--criterion", "algorithmic_bits",
          "--train-size", RECIPE.train_size, "--valid-size", RECIPE.valid_size,
          "--valid-subset", ",".join(job.SUBSETS), "--best-checkpoint-metric", "bit_errors", "--num-workers", 0],
    flags=["--optimizer", "adam", "--clip-norm", RECIPE.clip_norm, "--batch-size", RECIPE.batch_size],
    variants={
        "armin": ARMIN,
        "armin-slots1": [*ARMIN, "--armin-slots", 1],
        "armin-no-read": [*ARMIN, "--armin-no-read"],
        "armin-no-reread": [*ARMIN, "--armin-no-reread"],
        "armin-lr3e-3": [*ARMIN, "--lr", 0.003],
        "armin-tau-end0.5": [*ARMIN, "--armin-tau-end", 0.5],
        "lstm": [*job.model_flags(RECIPE, TASK, "lstm"), "--lr", RATES["lstm_lr"]],
        **more_slots(64),
        **more_slots(128),
        # fewer slots than the longest sequence (32 steps): writes that follow the address
        # after the first N steps, which fill slots 0..N-1 in order (the spec's write rule)
        **{f"armin{cell}-slots{slots}": [*ARMIN, *flags, "--armin-slots", slots]
           for slots in (8, 16) for cell, flags in (("", []), ("-no-reread", ["--armin-no-reread"]))},
        # the parameters moved from the slots to the state (47,784, 0.7% more): the address
        # of a position comes from h, which has to carry where each item was
        "armin-no-reread-h76-r16": [*ARMIN, "--armin-no-reread", "--armin-hidden-size", 76, "--armin-slot-size", 16],
        # an address that can match the query against what the slots hold (not in the paper)
        "armin-content": [*ARMIN, "--armin-content-address"],
        "armin-no-reread-content": CONTENT,
        "armin-no-reread-content-lr5e-3": [*CONTENT, "--lr", 0.005],
        "armin-no-reread-content-lr3e-3": [*CONTENT, "--lr", 0.003],
        "armin-no-reread-content-cosine": [*CONTENT, *COSINE],
        "armin-no-reread-content-cosine-lr5e-3": [*CONTENT, *COSINE, "--lr", 0.005],
        # at 5e-3, a temperature floor of 0.5 (the straight-through gradient divides by it), or
        # the gradient norm clipped at 1 instead of 10
        "armin-no-reread-content-lr5e-3-tau-end0.5": [*CONTENT, "--lr", 0.005, "--armin-tau-end", 0.5],
        "armin-no-reread-content-lr5e-3-clip1": [*CONTENT, "--lr", 0.005, "--clip-norm", 1.0],
        "armin-no-reread-content-cosine-lr5e-3-clip1": [*CONTENT, *COSINE, "--lr", 0.005, "--clip-norm", 1.0],
        # the temperature annealed over 10,000 updates (the model's default) instead of the
        # job's 2,000: the paper's cell, the mask, and the mask with the content address
        "armin-tau10k": [*ARMIN, *SLOW_TAU],
        "armin-no-reread-tau10k": [*ARMIN, "--armin-no-reread", *SLOW_TAU],
        "armin-no-reread-content-lr5e-3-tau10k": [*CONTENT, "--lr", 0.005, *SLOW_TAU],
        "armin-no-reread-content-cosine-lr5e-3-tau10k": [*CONTENT, *COSINE, "--lr", 0.005, *SLOW_TAU],
        # the rate bracketed again for that temperature (a constant rate, as the job trains)
        "armin-no-reread-content-tau10k": [*CONTENT, *SLOW_TAU],
        "armin-no-reread-content-lr3e-3-tau10k": [*CONTENT, "--lr", 0.003, *SLOW_TAU],
        "armin-no-reread-content-lr2e-3-tau10k": [*CONTENT, "--lr", 0.002, *SLOW_TAU],
    },
    seeds=[1, 2],
    max_update=10000,
    report_at=[2500, 5000, 7500, 10000],
    metric="bit_errors",
    log_interval=100,
)
