"""The results of language-model runs: one row per run (parameters, updates, minutes,
validation and test metric, tokens per second, peak memory) and their curves: training and
validation metric, and the memory diagnostics of the ARMIN runs."""
from typing import Dict, List, NamedTuple, Optional

from .results import Column, JobResults, Series
from .tensorboard_logs import RunLog

# fairseq's losses are base 2: bits per token, or 2^loss = perplexity
METRICS = {"bpc": ("BPC", lambda loss: loss), "ppl": ("perplexity", lambda loss: 2.0**loss)}
# armin_lm's training-log diagnostics (models/armin_lm_decoder.py), one panel each
MEMORY_PANELS = {
    "armin_read_age": "mean read age (steps since the slot read was written)",
    "armin_slots_read": "distinct slots read per row and batch",
    "armin_entropy": "address entropy (nats)",
    "armin_tau": "Gumbel-softmax temperature",
}


class SplitScore(NamedTuple):
    loss: float  # base 2, per token
    params: int


def lm_results(runs: List[RunLog], metric: str, tests: Optional[Dict[str, SplitScore]] = None,
               title: str = "fairseq-train runs (validation metric at the last validation)",
               rates: Optional[Dict[str, float]] = None) -> JobResults:
    """Rows and validation curves of ``runs`` in ``metric`` ("bpc" or "ppl"); ``tests``:
    the test score of each run by name, when the runs were evaluated; ``rates``: the
    learning rate of each run by name, when the caller chose them (a column of the table)."""
    name, convert = METRICS[metric]
    tests, rates = tests or {}, rates or {}
    results = JobResults(title, [
        Column("run", "run"), Column("params", "params", "{:,}"),
        *([Column("lr", "Adam lr", "{:g}")] if rates else []), Column("updates", "updates"),
        Column("minutes", "minutes", "{:.1f}"), Column("valid", f"valid {name}", "{:.3f}"),
        Column("test", f"test {name}", "{:.3f}"), Column("tokens_per_s", "train tokens/s", "{:,.0f}"),
        Column("peak_memory_gb", "peak memory (GB)", "{:.2f}"),
    ], panels={"training": f"training {name} (every logged interval)", "validation": f"validation {name}"})
    logged = [tag for tag in MEMORY_PANELS if any(run.memory.get(tag) for run in runs)]
    results.panels.update({tag: MEMORY_PANELS[tag] for tag in logged})
    for run in runs:
        valid = run.curve()
        test = tests.get(run.name)
        results.rows.append(dict(
            run=run.name, params=test.params if test else None, lr=rates.get(run.name),
            updates=valid[-1][0] if valid else None, minutes=run.minutes,
            valid=convert(valid[-1][2]) if valid else None, test=convert(test.loss) if test else None,
            tokens_per_s=run.words_per_second, peak_memory_gb=run.peak_memory_gb,
        ))
        results.series.append(Series("training", run.name, [(u, s, convert(v)) for u, s, v in run.train]))
        results.series.append(Series("validation", run.name, [(u, s, convert(v)) for u, s, v in valid]))
        results.series.extend(Series(tag, run.name, run.memory[tag]) for tag in logged if run.memory.get(tag))
    return results
