"""Plain helpers shared by the test files: running commands and fairseq's CLIs (as processes,
or in this process through fairseq's own entry functions), one-line error checks, the tiny
fairseq-train runs on the PTB slice, and small models built in process (the reference ARMIN
layer of docs/the-cell.md, armin_lm, the ``armin`` translation model)."""
import contextlib
import importlib
import io
import logging
import os
import re
import runpy
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import torch

from armin_plugin.cli.process import fairseq_command
from armin_plugin.modules import ARMIN
from armin_plugin.modules.step import armin_step

REPO = Path(__file__).resolve().parents[1]
PLUGIN = str(REPO / "armin_plugin")

# The two LibreOffice help packages, fetched once (apt-get download) and kept here between
# sessions (.gitignore ignores .cache/).
LIBREOFFICE_DEBS = REPO / ".cache" / "libreoffice-debs"


# --------------------------------------------------------------------------- processes


def run(command, cwd=REPO, timeout=600):
    """Run a command with one thread per process (2-core machines), capturing its output."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def fairseq(tool, *args, **kwargs):
    """Run ``fairseq-<tool> ARGS`` of this environment as a process."""
    return run(fairseq_command(tool) + list(args), **kwargs)


def python_module(module, *args, **kwargs):
    """Run ``python -m MODULE ARGS`` as a process."""
    return run([sys.executable, "-m", module, *args], **kwargs)


def assert_one_line_error(result, expected, only_line=True):
    """The process exited 1 and its stderr ends with one ``error: <...expected...>`` line,
    with no traceback; ``only_line``: nothing else on stderr (fairseq's CLIs print warnings
    there before)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), result.stderr[-3000:]
    assert expected in lines[-1], lines[-1]
    if only_line:
        assert len(lines) == 1, result.stderr


# --------------------------------------------------------------------------- in process

_LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


def in_process(argv, main):
    """``main()`` with ``sys.argv`` set to ``argv``, as a console script or ``python -m`` calls
    it, in this process. Returns a CompletedProcess: stdout holds what it prints and its log
    records (formatted as fairseq's CLIs format them), stderr what it prints there and what
    ``sys.excepthook`` (the plugin's one-line hook) makes of an uncaught exception,
    returncode 0, the SystemExit code, or 1 after an exception. It computes on one thread, as
    :func:`run` gives its processes; afterwards ``sys.argv``, the thread count, the signal
    handlers and the plugin's once-per-process stop handler are put back, and fairseq's
    TensorBoard writers closed (as at a process's exit), so every call starts as a fresh
    process would."""
    from armin_plugin.training import interrupt

    argv = [str(arg) for arg in argv]
    stdout, stderr = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(stdout)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    saved = (sys.argv, root.level, sys.unraisablehook, {sig: signal.getsignal(sig) for sig in interrupt.SIGNALS},
             torch.get_num_threads())
    torch.set_num_threads(1)  # as run() gives its processes (OMP_NUM_THREADS=1)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sys.argv = argv
    returncode = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exited:
                if isinstance(exited.code, int) or exited.code is None:
                    returncode = exited.code or 0
                else:  # sys.exit("message"): printed, status 1
                    print(exited.code, file=sys.stderr)
                    returncode = 1
            except Exception as exc:  # noqa: BLE001 (what the interpreter does with it)
                returncode = 1
                sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        root.removeHandler(handler)
        sys.argv, level, sys.unraisablehook, handlers, threads = saved
        root.setLevel(level)
        torch.set_num_threads(threads)
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
        interrupt._handler = None
        progress_bar = sys.modules.get("fairseq.logging.progress_bar")
        if progress_bar is not None:  # fairseq keeps one TensorBoard writer per split, closed at exit
            for writer in progress_bar._tensorboard_writers.values():
                writer.close()
            progress_bar._tensorboard_writers.clear()
    return subprocess.CompletedProcess(argv, returncode, stdout.getvalue(), stderr.getvalue())


def fairseq_in_process(tool, *args):
    """``fairseq-<tool> ARGS`` in this process, through fairseq's own entry function
    ``fairseq_cli.<tool>.cli_main`` (what the console script calls); see :func:`in_process`.
    It loads data in this process (``--num-workers 0`` unless ARGS say otherwise): a
    process's exit ends fairseq's data-loading workers, but here they would outlive the call,
    and each costs its 5 s shutdown timeout when the garbage collector finds it, in whatever
    test is running then."""
    from fairseq.models import import_models
    from fairseq.tasks import import_tasks

    # what --user-dir makes fairseq import in a fresh process; here armin_plugin is imported
    # already, so fairseq skips it (importing, and so registering, happens once)
    import_tasks(os.path.join(PLUGIN, "tasks"), "armin_plugin.tasks")
    import_models(os.path.join(PLUGIN, "models"), "armin_plugin.models")
    main = importlib.import_module(f"fairseq_cli.{tool.replace('-', '_')}").cli_main
    workers = [] if any(str(arg).startswith("--num-workers") for arg in args) else ["--num-workers", 0]
    return in_process([f"fairseq-{tool}", *args, *workers], main)


def module_in_process(module, *args):
    """``python -m MODULE ARGS`` in this process (the module run as ``__main__``); see
    :func:`in_process`."""
    def main():
        with warnings.catch_warnings():  # runpy's note that the module was imported before
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
            runpy.run_module(module, run_name="__main__", alter_sys=True)

    return in_process([module, *args], main)


# --------------------------------------------------------------------------- fairseq-train runs

TINY_ARMIN = ["--arch", "armin_lm_tiny"]
LM_SETUPS = {
    "language_modeling": ["--task", "language_modeling", *TINY_ARMIN],
    "armin_tbptt_lm": ["--task", "armin_tbptt_lm", *TINY_ARMIN],
    "lstm_stream_lm": ["--task", "armin_tbptt_lm", "--arch", "lstm_stream_lm",
                       "--decoder-hidden-size", 16],
}
# Wall-clock figures differ from run to run; everything else on a train_inner line must not.
TIMING = re.compile(r"(wps|ups|train_wall|wall)=[^,]*(, )?")


# One validation batch: fairseq validates before every checkpoint it saves, and the whole valid
# split of the PTB slice costs seconds each time; the tests that pass this check training,
# checkpoints and what is logged, not the loss over the whole valid split.
ONE_VALID_BATCH = ["--max-valid-steps", 1]


def train_args(data, save_dir, setup, max_update, *extra):
    """fairseq-train flags of a tiny seeded run of ``setup`` (a key of LM_SETUPS)."""
    return [
        data, "--user-dir", PLUGIN, *LM_SETUPS[setup], "--decoder-embed-dim", 16,
        "--tokens-per-sample", 40, "--batch-size", 4, "--optimizer", "adam", "--lr", 0.003,
        "--dropout", 0.2, "--max-update", max_update, "--save-dir", save_dir, "--log-format",
        "simple", "--log-interval", 1, "--cpu", "--seed", 3, *ONE_VALID_BATCH, *extra,
    ]


def train(data, save_dir, setup, max_update, *extra):
    """The run of :func:`train_args` as a fairseq-train process."""
    return fairseq("train", *train_args(data, save_dir, setup, max_update, *extra))


def train_in_process(data, save_dir, setup, max_update, *extra):
    """The run of :func:`train_args` through :func:`fairseq_in_process`."""
    return fairseq_in_process("train", *train_args(data, save_dir, setup, max_update, *extra))


def update_lines(output):
    """{update: the train_inner line without timings}."""
    lines = {}
    for line in output.splitlines():
        if "| train_inner |" in line:
            values = TIMING.sub("", line.split("| train_inner |")[1]).strip()
            lines[int(re.search(r"num_updates=(\d+)", values).group(1))] = values
    return lines


def parameters(checkpoint):
    """{name: tensor} of a checkpoint's model."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return {name: value for name, value in state["model"].items() if torch.is_tensor(value)}


def assert_same_run(reference, pieces, reference_dir, resumed_dir):
    """The logged updates of ``pieces`` together are those of ``reference``, and the final
    parameters are equal."""
    expected = update_lines(reference.stdout)
    got = {}
    for piece in pieces:
        got.update(update_lines(piece.stdout))
    assert got == expected
    assert "loss=" in expected[max(expected)]
    final, resumed = parameters(reference_dir / "checkpoint_last.pt"), parameters(resumed_dir / "checkpoint_last.pt")
    assert final.keys() == resumed.keys()
    for name in final:
        assert torch.equal(final[name], resumed[name]), name


def stop_with_signal(args, signum, after_update):
    """``fairseq-train ARGS`` until update ``after_update`` is logged, then ``signum``; the
    finished process."""
    command = fairseq_command("train") + [str(a) for a in args]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    output = []
    for line in process.stdout:
        output.append(line)
        if f"num_updates={after_update}," in line:
            process.send_signal(signum)
            break
    output.extend(process.stdout)
    process.wait(timeout=300)
    return subprocess.CompletedProcess(command, process.returncode, "".join(output), "")


def snapshot(directory):
    """{file name: bytes} of a directory."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


# --------------------------------------------------------------------------- the reference layer

DT = torch.float64


def reference_layer(cell, xs, hidden, memory, steps, tau=1.0, noise=None, real=None, read_age=None):
    """One ARMIN layer over xs (T, B, d_x): the spec's step (``armin_step``) run step by step.

    noise (T, B, N) or None (argmax); real (T, B) bool, True at real steps, or None;
    read_age (B, N) long: the read ages of a cell whose variant reads the history
    (docs/the-cell.md: --armin-no-reread), or None.
    Returns outputs (T, B, d_h + d_r), final (hidden, memory, steps[, read_age]), chosen
    slots (T, B).
    """
    state = (hidden, memory, steps) if read_age is None else (hidden, memory, steps, read_age)
    outputs, chosen = [], []
    for t in range(xs.size(0)):
        out, state, trace = armin_step(cell, xs[t], state, tau, None if noise is None else noise[t],
                                       None if real is None else real[t])
        outputs.append(out)
        chosen.append(trace.read)
    return torch.stack(outputs), state, torch.stack(chosen)


def fresh_state(cell, batch):
    """Spec step 9: h_0 = tanh(p_h), M_0 = p_M, n = 0."""
    hidden = torch.tanh(cell.initial_hidden).expand(batch, -1)
    memory = cell.initial_memory.expand(batch, -1, -1)
    return hidden, memory, torch.zeros(batch, dtype=torch.long)


def make_model(d_x=3, d_h=5, d_r=4, n_slots=3, layers=1, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = ARMIN(d_x, d_h, d_r, n_slots, num_layers=layers, **kwargs).to(DT)
    with torch.no_grad():  # p_M is 0 at init: give memory distinct contents to read
        for cell in model.layers:
            cell.initial_memory.normal_()
    return model


def grads_of_random_projection(model, x, outputs, state, seed=7):
    """Gradients of a random linear function of outputs and final state."""
    gen = torch.Generator().manual_seed(seed)
    loss = (outputs * torch.randn(outputs.shape, generator=gen, dtype=DT)).sum()
    loss = loss + (state.hidden * torch.randn(state.hidden.shape, generator=gen, dtype=DT)).sum()
    loss = loss + (state.memory * torch.randn(state.memory.shape, generator=gen, dtype=DT)).sum()
    params = [p for _, p in model.named_parameters()]
    return torch.autograd.grad(loss, params + [x], allow_unused=True)


# --------------------------------------------------------------------------- armin_lm in process


class LMTask:
    """The two dictionaries a fairseq model asks its task for."""

    def __init__(self, dictionary):
        self.source_dictionary = self.target_dictionary = dictionary


def lm_dictionary(symbols="abcdefghij_"):
    from fairseq.data import Dictionary

    dictionary = Dictionary()
    for symbol in symbols:
        dictionary.add_symbol(symbol)
    return dictionary


def build_lm(**overrides):
    """A small 2-layer armin_lm (eval mode) and its 15-symbol dictionary."""
    from armin_plugin.models.armin_lm import ARMINLanguageModel, ARMINLanguageModelConfig

    cfg = ARMINLanguageModelConfig(
        decoder_embed_dim=12, armin_hidden_size=16, armin_slot_size=20, armin_slots=4,
        armin_layers=2, max_target_positions=1000,
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    dictionary = lm_dictionary()
    torch.manual_seed(0)
    return ARMINLanguageModel.build_model(cfg, LMTask(dictionary)).eval(), dictionary


def random_tokens(dictionary, batch, length, seed=1):
    """(batch, length) random non-special symbols."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(dictionary.nspecial, len(dictionary), (batch, length), generator=generator)


def incremental_log_probs(model, tokens, incremental_state, start=0):
    steps = []
    for t in range(start, tokens.size(1)):
        logits, _ = model.decoder(tokens[:, : t + 1], incremental_state=incremental_state)
        steps.append(model.get_normalized_probs((logits, None), log_probs=True))
    return torch.cat(steps, dim=1)


def assert_reordered_decoding_equals_full_forward(model, dictionary, length, split):
    """Decode 4 rows one token at a time, keep rows [2, 0, 2] after ``split`` tokens (a row
    dropped, a row duplicated, as in beam search), decode on: full forwards of the kept rows."""
    tokens = random_tokens(dictionary, batch=4, length=length)
    new_order = torch.tensor([2, 0, 2])
    with torch.no_grad():
        expected = model.get_normalized_probs(model(tokens[new_order]), log_probs=True)
        state = {}
        before = incremental_log_probs(model, tokens[:, :split], state)
        model.decoder.reorder_incremental_state_scripting(state, new_order)
        after = incremental_log_probs(model, tokens[new_order], state, start=split)
    torch.testing.assert_close(before[new_order], expected[:, :split], rtol=0, atol=1e-5)
    torch.testing.assert_close(after, expected[:, split:], rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- armin translation in process

VOCAB = 40


def translation_dictionary(size):
    """A joined dictionary of ``size`` symbols (specials included)."""
    from fairseq.data import Dictionary

    vocabulary = Dictionary()
    for index in range(size - len(vocabulary)):
        vocabulary.add_symbol(f"w{index}")
    return vocabulary


def build_translation(arch, vocab=VOCAB, *flags):
    """A model of ``arch`` for a joined dictionary of ``vocab`` symbols, and that dictionary."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.tasks.translation import TranslationTask

    import armin_plugin.models.armin_translation  # noqa: F401  (registers the archs in process)

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser, ["/dev/null", "--task", "translation", "--source-lang", "de", "--target-lang", "en",
                 "--arch", arch, *[str(flag) for flag in flags]],
    )
    cfg = convert_namespace_to_omegaconf(args)
    vocabulary = translation_dictionary(vocab)
    task = TranslationTask(cfg.task, vocabulary, vocabulary)
    return task.build_model(cfg.model), vocabulary
