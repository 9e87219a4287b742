"""Whole models through fairseq: ``armin_lm`` against ``lstm_lm`` and ``lstm_stream_lm``
(nn.LSTM) at equal parameter count.

Training: one step (forward, cross-entropy criterion, backward, Adam update) on real
PTB-char batches of ``--tokens-per-sample`` tokens. Decoding: one incremental step of the
decoder at beam x batch rows, with the beam-search reordering of its cached state.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import torch
from fairseq import options, tasks

import armin_plugin.models.armin_lm  # noqa: F401 (registers armin_lm with fairseq)
import armin_plugin.models.lstm_stream_lm  # noqa: F401 (and lstm_stream_lm)
from armin_plugin.jobs.compare_lm import dictionary_size, plan_runs
from benchmarks.measure import interleaved_medians

PLUGIN = Path(__file__).resolve().parents[1] / "armin_plugin"


@dataclass(frozen=True)
class ModelPreset:
    embed: int
    hidden: int
    slot: int
    slots: int

    @property
    def name(self) -> str:
        return f"embed {self.embed} d_h {self.hidden} d_r {self.slot} N {self.slots}"


@dataclass
class ModelRow:
    preset: ModelPreset
    model: str
    params: int
    train_tokens_per_s: float
    decode_ms_per_step: float  # nan for a decoder without incremental decoding


def build(data: Path, flags: List, steps: int, batch: int, device: torch.device):
    """fairseq task, model and criterion from command-line flags, as fairseq-train would."""
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [str(part) for part in [
        data, "--user-dir", PLUGIN, "--task", "language_modeling", "--sample-break-mode", "none",
        "--tokens-per-sample", steps, "--batch-size", batch, "--optimizer", "adam", *flags,
    ]])
    task = tasks.setup_task(args)
    model = task.build_model(args).to(device)
    return task, model, task.build_criterion(args)


def training_batches(task, data_split: str, batch: int, count: int, device: torch.device):
    """The first ``count`` full batches of ``data_split``, on ``device``."""
    task.load_dataset(data_split)
    iterator = task.get_batch_iterator(
        task.dataset(data_split), max_sentences=batch, seed=1
    ).next_epoch_itr(shuffle=False)
    batches = []
    for sample in iterator:
        if sample["net_input"]["src_tokens"].size(0) == batch:
            batches.append(_to(sample, device))
        if len(batches) == count:
            return batches
    raise ValueError(f"{data_split} has fewer than {count} full batches of {batch}")


def _to(sample, device):
    if torch.is_tensor(sample):
        return sample.to(device)
    if isinstance(sample, dict):
        return {key: _to(value, device) for key, value in sample.items()}
    return sample


def train_step(model, criterion, optimizer, batches):
    """A callable that runs one training step on the next of ``batches`` each call."""
    position = [0]

    def run():
        sample = batches[position[0] % len(batches)]
        position[0] += 1
        loss, _, _ = criterion(model, sample)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


def decode_steps(model, vocab: int, rows: int, beam: int, steps: int, device: torch.device):
    """A callable that decodes ``steps`` tokens incrementally for ``rows`` hypotheses."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, vocab, (rows, steps), generator=generator).to(device)
    # beam search keeps, for each sentence, some of its own hypotheses
    orders = [
        (torch.randint(0, beam, (rows,), generator=generator)
         + torch.arange(rows) // beam * beam).to(device)
        for _ in range(steps)
    ]

    def run():
        state: Dict = {}
        with torch.no_grad():
            for t in range(steps):
                logits, extra = model.decoder(tokens[:, : t + 1], incremental_state=state)
                model.get_normalized_probs((logits, extra), log_probs=True)
                model.decoder.reorder_incremental_state_scripting(state, orders[t])

    return run


def measure_models(preset: ModelPreset, data: Path, steps: int, batch: int, beam: int,
                   decode_len: int, reps: int, device: torch.device) -> List[ModelRow]:
    """Rows for armin_lm, lstm_lm and lstm_stream_lm (hidden sizes solved for equal
    parameters); lstm_stream_lm, which has no incremental decoder, only trains."""
    vocab = dictionary_size(data)
    sizes = dict(vars(preset), dropout=0.1)
    # (name, arch, flags) of armin_lm and lstm_lm as the main job builds them, and the
    # stream recipe's nn.LSTM (its training step is the same on blocks)
    runs = plan_runs("main", sizes, vocab, 1) + plan_runs("streams", sizes, vocab, 1)
    flags = [(run.name, run.model[1], run.model) for run in runs if run.name in ("ARMIN", "LSTM", "LSTM-stream")]
    torch.manual_seed(0)
    built = {}
    for name, _, model_flag in flags:
        task, model, criterion = build(data, model_flag, steps, batch, device)
        built[name] = (task, model.train(), criterion)
    task = next(iter(built.values()))[0]
    batches = training_batches(task, "train", batch, 4, device)
    train = {
        name: train_step(model, criterion, torch.optim.Adam(model.parameters(), lr=1e-3), batches)
        for name, (_, model, criterion) in built.items()
    }
    train_s = interleaved_medians(train, reps, device)
    vocab_size = len(task.target_dictionary)
    decode = {}
    for name, (_, model, _) in built.items():
        if name == "LSTM-stream":
            continue
        model.eval()
        decode[name] = decode_steps(model, vocab_size, beam * batch, beam, decode_len, device)
    decode_s = interleaved_medians(decode, reps, device)
    return [
        ModelRow(preset, f"{arch} ({describe(model_flag)})",
                 sum(p.numel() for p in built[name][1].parameters()),
                 steps * batch / train_s[name], 1e3 * decode_s.get(name, float("nan")) / decode_len)
        for name, arch, model_flag in flags
    ]


def describe(flags: List) -> str:
    """'embed-dim 128, hidden-size 256, ...' from the size flags of a model."""
    pairs = zip(flags[::2], flags[1::2])
    return ", ".join(f"{flag[2:].replace('decoder-', '').replace('armin-', '')} {value}"
                     for flag, value in pairs if flag.endswith(("-dim", "-size", "-slots")))
