"""Run the ARMIN speed benchmarks, print Markdown tables and write JSON.

    python -m benchmarks.run                 # full run: all layer shapes and the models
    python -m benchmarks.run --quick         # a few shapes, fewer repetitions
    python -m benchmarks.run --threads 2     # one thread count (default: 1 and 2)
    python -m benchmarks.run --shapes 256x128x16x150x32,512x128x64x150x128 --no-models

Shapes are d_h x d_r x N x T x B; every layer reads d_x = 128 inputs. All ratios are taken
between rows of the same run, whose timings are medians of rounds that run every candidate
once in turn. On CUDA (when present) everything is measured on the GPU as well.
"""
import argparse
import json
import math
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List

import torch

from armin_plugin.errors import ArminError
from armin_plugin.modules.backend import choose_backend
from benchmarks.layer_speed import NAIVE, OURS, LayerRow, Shape, measure_group
from benchmarks.model_speed import ModelPreset, ModelRow, measure_models
from benchmarks.translation_speed import TranslationRow, measure_translation
from benchmarks.translation_speed import table as translation_table

FULL_SHAPES = [
    Shape(hidden, 128, slots, 150, batch)
    for hidden in (256, 512) for batch in (32, 128) for slots in (16, 64, 256)
] + [Shape(256, 128, slots, 150, 64) for slots in (16, 256)]
QUICK_SHAPES = [Shape(256, 128, 16, 150, 32), Shape(256, 128, 256, 150, 32),
                Shape(256, 128, 16, 150, 64)]
MODEL_PRESET = ModelPreset(embed=128, hidden=256, slot=128, slots=16)


def parse_shape(text: str) -> Shape:
    try:
        hidden, slot, slots, steps, batch = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {text!r} is not d_hxd_rxNxTxB, e.g. 256x128x16x150x32")
    return Shape(hidden, slot, slots, steps, batch)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few shapes, 3 repetitions")
    parser.add_argument("--shapes", type=lambda s: [parse_shape(p) for p in s.split(",")],
                        help="comma-separated d_hxd_rxNxTxB layer shapes (default: full set)")
    parser.add_argument("--reps", type=int, help="timed repetitions (median); default 5, quick 3")
    parser.add_argument("--threads", type=lambda s: [int(p) for p in s.split(",")], default=[1, 2],
                        help="comma-separated torch CPU thread counts; every CPU table is measured "
                             "at each (default 1,2)")
    parser.add_argument("--naive-limit-mb", type=float, default=4000,
                        help="skip the naive reference where its memory would pass this")
    parser.add_argument("--no-models", action="store_true", help="only the layer benchmarks")
    parser.add_argument("--data", type=Path, default=Path("data-bin/ptb_char"),
                        help="fairseq data-bin of character-level PTB for the models")
    parser.add_argument("--translation-data", type=Path, default=Path("data-bin/libreoffice_de_en"),
                        help="data-bin of the translation recipe for the translation models "
                             "(skipped when missing: bash recipes/libreoffice_de_en.sh builds it)")
    parser.add_argument("--json", type=Path, default=Path("runs/benchmark.json"))
    args = parser.parse_args(argv)
    args.shapes = args.shapes or (QUICK_SHAPES if args.quick else FULL_SHAPES)
    args.reps = args.reps or (3 if args.quick else 5)
    return args


def by_shape(rows: List[LayerRow]) -> Dict[Shape, Dict[str, LayerRow]]:
    table: Dict[Shape, Dict[str, LayerRow]] = {}
    for row in rows:
        table.setdefault(row.shape, {})[row.model] = row
    return table


def equal_params_row(rows: Dict[str, LayerRow]) -> LayerRow:
    return next(row for name, row in rows.items() if "equal params" in name)


def layer_table(rows: List[LayerRow]) -> str:
    """One row per layer; ARMIN's row has the Python loop's speed in its own column and,
    in the ratio column, ours (the active backend) / the Python loop."""
    lines = ["| shape | layer | params | train tokens/s | Python loop tokens/s | peak MB "
             "| ours / this (speed) |", "|---|---|---:|---:|---:|---:|---:|"]
    for shape, models in by_shape(rows).items():
        ours = models[OURS].tokens_per_s
        for name, row in models.items():
            speed = "n/a (skipped)" if math.isnan(row.tokens_per_s) else f"{row.tokens_per_s:,.0f}"
            python = "" if math.isnan(row.python_tokens_per_s) else f"{row.python_tokens_per_s:,.0f}"
            if name == OURS:
                ratio = "" if not python else f"{ours / row.python_tokens_per_s:.2f}x (vs Python loop)"
            else:
                ratio = "" if math.isnan(row.tokens_per_s) else f"{ours / row.tokens_per_s:.2f}x"
            memory = "n/a" if math.isnan(row.peak_mb) else f"{row.peak_mb:,.1f}"
            lines.append(f"| {shape.name} | {name} | {row.params:,} | {speed} | {python} | {memory} | {ratio} |")
    return "\n".join(lines)


def model_table(rows: List[ModelRow]) -> str:
    lines = ["| model | params | train step tokens/s | decode ms/step (beam 5 x batch 32) |",
             "|---|---:|---:|---:|"]
    for row in rows:
        decode = "n/a" if math.isnan(row.decode_ms_per_step) else f"{row.decode_ms_per_step:.2f}"
        lines.append(f"| {row.model} | {row.params:,} | {row.train_tokens_per_s:,.0f} | {decode} |")
    return "\n".join(lines)


def targets(layer_rows: List[LayerRow], model_rows: List[ModelRow],
            translation_rows: List[TranslationRow] = ()) -> List[dict]:
    """The speed targets (docs/speed.md, "Targets"), each with the measured ratios (worst case decides) and a verdict."""
    table = by_shape(layer_rows)
    found = []

    def add(name, goal, values, met):
        if values:
            found.append(dict(target=name, goal=goal, measured=values, met=met(values.values())))

    add("layer training speed vs nn.LSTM at equal params", ">= 1.0x",
        {s.name: m[OURS].tokens_per_s / equal_params_row(m).tokens_per_s for s, m in table.items()},
        lambda v: min(v) >= 1.0)
    add("layer training speed vs the Python loop", ">= 1.5x",
        {s.name: m[OURS].tokens_per_s / m[OURS].python_tokens_per_s for s, m in table.items()
         if not math.isnan(m[OURS].python_tokens_per_s)},
        lambda v: min(v) >= 1.5)
    add("layer training speed vs naive reference", ">= 3x",
        {s.name: m[OURS].tokens_per_s / m[NAIVE].tokens_per_s for s, m in table.items()
         if not math.isnan(m[NAIVE].tokens_per_s)},
        lambda v: min(v) >= 3.0)
    for what, key, invert in [("time", "tokens_per_s", True), ("memory", "peak_mb", False)]:
        values = {}
        for shape, models in table.items():
            big = Shape(shape.hidden, shape.slot, 256, shape.steps, shape.batch)
            if shape.slots == 16 and big in table:
                small_value, big_value = getattr(models[OURS], key), getattr(table[big][OURS], key)
                values[shape.name + " -> N 256"] = (small_value / big_value if invert
                                                    else big_value / small_value)
        limit = 1.2 if what == "time" else 1.3
        add(f"N 16 -> 256: training {what}", f"<= {limit}x", values, lambda v, limit=limit: max(v) <= limit)
    add("peak training memory vs nn.LSTM at equal params (T 150, B 64)", "<= 1.5x",
        {s.name: m[OURS].peak_mb / equal_params_row(m).peak_mb for s, m in table.items()
         if s.steps == 150 and s.batch == 64},
        lambda v: max(v) <= 1.5)
    if model_rows:
        armin, lstm, lstm_stream = model_rows
        add("armin_lm training step vs lstm_lm at equal params", ">= 1.0x",
            {armin.preset.name: armin.train_tokens_per_s / lstm.train_tokens_per_s},
            lambda v: min(v) >= 1.0)
        add("armin_lm training step vs lstm_stream_lm (nn.LSTM) at equal params", ">= 1.0x",
            {armin.preset.name: armin.train_tokens_per_s / lstm_stream.train_tokens_per_s},
            lambda v: min(v) >= 1.0)
        add("armin_lm decode step time vs lstm_lm", "<= 0.8x",
            {armin.preset.name: armin.decode_ms_per_step / lstm.decode_ms_per_step},
            lambda v: max(v) <= 0.8)
    if translation_rows:
        armin, lstm = translation_rows
        add("armin_iwslt_de_en training step vs lstm_wiseman_iwslt_de_en", ">= 1.0x",
            {armin.model: armin.train_tokens_per_s / lstm.train_tokens_per_s}, lambda v: min(v) >= 1.0)
        add("armin_iwslt_de_en beam-5 generation time vs lstm_wiseman_iwslt_de_en", "< 1.0x",
            {armin.model: armin.generate_ms_per_sentence / lstm.generate_ms_per_sentence},
            lambda v: max(v) < 1.0)
    return found


def targets_table(found: List[dict]) -> str:
    lines = ["| target | goal | measured (worst .. best) | met |", "|---|---|---|---|"]
    for item in found:
        met = "yes" if item["met"] else "no"
        lines.append(f"| {item['target']} | {item['goal']} | {span(item['measured'].values())} | {met} |")
    return "\n".join(lines)


def span(values) -> str:
    values = sorted(values)
    return f"{values[0]:.2f}x" if len(values) == 1 else f"{values[0]:.2f}x .. {values[-1]:.2f}x"


def threads_table(results: List[dict]) -> str:
    """Every target's ratios (worst .. best) side by side, one column per CPU thread count."""
    cpu = [r for r in results if r["device"] == "cpu"]
    names = list(dict.fromkeys(t["target"] for r in cpu for t in r["targets"]))
    lines = ["| target | goal | " + " | ".join(f"{r['threads']} thread(s)" for r in cpu) + " |",
             "|---|---|" + "---|" * len(cpu)]
    for name in names:
        found = [next((t for t in r["targets"] if t["target"] == name), None) for r in cpu]
        goal = next(t["goal"] for t in found if t)
        cells = [span(t["measured"].values()) + (" (met)" if t["met"] else "") if t else "" for t in found]
        lines.append(f"| {name} | {goal} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_on(device: torch.device, args) -> dict:
    layer_rows: List[LayerRow] = []
    groups: Dict[tuple, List[Shape]] = {}
    for shape in args.shapes:  # shapes that differ only in N are measured together
        groups.setdefault((shape.hidden, shape.slot, shape.steps, shape.batch), []).append(shape)
    for shapes in groups.values():
        rows = measure_group(shapes, args.reps, device, args.naive_limit_mb)
        layer_rows += rows
        print("\n".join(layer_table(rows).splitlines()[2:]), flush=True)
    model_rows: List[ModelRow] = []
    translation_rows: List[TranslationRow] = []
    if not args.no_models:
        model_rows = measure_models(MODEL_PRESET, args.data, 150, 32, 5, 20, args.reps, device)
        if args.translation_data.is_dir():
            translation_rows = measure_translation(args.translation_data, args.reps, device)
        else:
            print(f"translation models skipped: no {args.translation_data} "
                  "(bash recipes/libreoffice_de_en.sh builds it)", flush=True)
    found = targets(layer_rows, model_rows, translation_rows)
    threads = torch.get_num_threads()
    text = [f"## {device.type.upper()}, {threads} thread(s): {environment(device)}", "", layer_table(layer_rows)]
    if model_rows:
        text += ["", model_table(model_rows)]
    if translation_rows:
        text += ["", translation_table(translation_rows)]
    text += ["", targets_table(found)]
    return dict(device=device.type, threads=threads, environment=environment(device), markdown="\n".join(text),
                layers=[dict(asdict(r), shape=asdict(r.shape)) for r in layer_rows],
                models=[dict(asdict(r), preset=asdict(r.preset)) for r in model_rows],
                translation=[asdict(r) for r in translation_rows],
                targets=found)


def environment(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    probe = torch.zeros(1)
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
            f"ARMIN recurrence backend: {choose_backend([probe])}")


def main(argv=None):
    args = parse_args(argv)
    if not args.no_models and not (args.data / "dict.txt").is_file():  # before minutes of layer timings
        raise ArminError(f"no character-level PTB data-bin at {args.data} for the model benchmarks: "
                         "bash recipes/prepare_ptb.sh --level char builds it (or --no-models, or --data DIR)")
    runs = [(torch.device("cpu"), threads) for threads in args.threads]
    runs += [(torch.device("cuda"), max(args.threads))] if torch.cuda.is_available() else []
    results = []
    for device, threads in runs:
        torch.set_num_threads(threads)
        result = run_on(device, args)
        print("\n" + result["markdown"] + "\n", flush=True)
        results.append(result)
    print("## Ratios by thread count\n\n" + threads_table(results) + "\n", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m benchmarks.run"] + list(sys.argv[1:] if argv is None else argv))
    args.json.write_text(json.dumps(dict(command=command, results=results), indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
