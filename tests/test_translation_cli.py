"""The ``armin`` translation model through fairseq's real CLIs on a slice of the real
LibreOffice help corpus: train both models, translate with beam search, score; translate
typed sentences (fairseq-interactive) and through the hub interface. The job, fairseq-interactive,
fairseq-train stopped by a signal and the data preparation's one-line error run as real
processes; the other runs call the same entry functions in this process."""
import re
import signal

import pytest
import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from helpers import (PLUGIN, assert_one_line_error, assert_same_run, fairseq, fairseq_in_process, module_in_process,
                     python_module, stop_with_signal, update_lines)

from armin_plugin.cli.threads import cpu_cores
from armin_plugin.data.parallel import SPM_MODEL
from armin_plugin.jobs import compare_translation

pytestmark = pytest.mark.slow  # every test here runs fairseq's CLIs

SENTENCE = "Wählen Sie Bearbeiten – Alles auswählen."
SEARCH = ["--beam", 5, "--max-len-a", 1.2, "--max-len-b", 10]


@pytest.fixture(scope="module")
def compared(libreoffice_slice, built_once):
    """The comparison job (tiny preset, 8 updates per model, the rate decayed along half a
    cosine over them, both models trained at once; a real process, run once per run): its
    output folder and stdout."""
    def build(folder):
        result = python_module(
            "armin_plugin.jobs.compare_translation", "--data", libreoffice_slice, "--out", folder / "runs",
            "--preset", "tiny", "--max-update", 8, "--lr-schedule", "cosine", "--side-by-side",
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        (folder / "stdout.txt").write_text(result.stdout)

    folder = built_once("compare_translation", build)
    return folder / "runs", (folder / "stdout.txt").read_text()


def table_rows(output):
    """{model: {column header: cell}} of the job's printed table."""
    lines = [[cell.strip() for cell in line.strip().strip("|").split("|")]
             for line in output.splitlines() if line.startswith("| ")]
    header = next(cells for cells in lines if cells[0] == "model")
    return {cells[0]: dict(zip(header, cells)) for cells in lines if cells[0] in ("ARMIN", "LSTM")}


def bleu_tokens(lines):
    """Tokens of ``lines`` as sacrebleu's BLEU counts them (its default 13a tokenizer)."""
    tokenize = Tokenizer13a()
    return sum(len(tokenize(line).split()) for line in lines)


def test_train_generate_score_both_models(compared, libreoffice_slice):
    out, output = compared
    rows = table_rows(output)
    assert set(rows) == {"ARMIN", "LSTM"}
    assert rows["ARMIN"]["arch"] == "armin_iwslt_de_en" and rows["LSTM"]["arch"] == "lstm_wiseman_iwslt_de_en"
    tiny = compare_translation.PRESETS["tiny"]
    assert (float(rows["ARMIN"]["Adam lr"]), float(rows["LSTM"]["Adam lr"])) == (tiny["armin_lr"], tiny["lstm_lr"])
    references = (libreoffice_slice / "reference" / "test.en").read_text(encoding="utf-8").splitlines()
    assert len(references) == 40
    for name, cells in rows.items():
        params, updates = int(cells["params"].replace(",", "")), int(cells["updates"])
        bleu, chrf = float(cells["BLEU"]), float(cells["chrF"])
        assert params > 10_000 and updates == 8
        hypotheses = (out / name.lower() / "test.hyp.en").read_text(encoding="utf-8").splitlines()
        assert len(hypotheses) == len(references)  # every test sentence translated, in order
        assert not any("▁" in hypothesis for hypothesis in hypotheses)  # sentencepiece removed
        assert bleu == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=0.006)
        assert chrf == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score, abs=0.006)
        assert 0 < chrf < 100
        assert float(cells["hyp/ref length"]) == pytest.approx(bleu_tokens(hypotheses) / bleu_tokens(references), abs=0.006)
        generate_log = (out / name.lower() / "generate_test.log").read_text()
        assert "--beam 5" in " ".join(generate_log.split()) or "'beam': 5" in generate_log
        assert "'lr_scheduler': {'_name': 'cosine'" in (out / name.lower() / "train.log").read_text()
    results = (out / "results.md").read_text()
    assert results.count("|\n") == 4 and "half a cosine over the budget (--lr-schedule cosine)" in results


def test_both_models_train_and_translate_without_fairseq_s_length_limit(compared):
    """The job gives the task 100,000 positions in training and translation, for both models
    (at fairseq's 1,024 a long paragraph stopped fairseq-generate after training)."""
    out, _ = compared
    for name in ("armin", "lstm"):
        for log in ("train.log", "generate_test.log"):
            text = (out / name / log).read_text()
            assert "'max_source_positions': 100000, 'max_target_positions': 100000" in text, (name, log)


def test_a_pair_longer_than_a_run_allows_stops_the_job_before_training(libreoffice_slice, tmp_path, monkeypatch):
    monkeypatch.setattr(compare_translation, "MAX_POSITIONS", 20)
    with pytest.raises(SystemExit) as stopped:
        compare_translation.main(["--data", str(libreoffice_slice), "--out", str(tmp_path / "runs"), "--preset", "tiny"])
    assert re.fullmatch(r"error: pair \d+ of valid in \S+ has \d+ source and \d+ target tokens, more than the 20 "
                        r"positions a run allows", str(stopped.value.code)), stopped.value.code
    assert not (tmp_path / "runs" / "armin").exists() and not (tmp_path / "runs" / "lstm").exists()


def training_span(log: str):
    """(start, end) time stamps of a fairseq-train log: its "training on" and "done training" lines."""
    def stamp(words):
        return re.search(rf"^(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) \| INFO \| fairseq_cli.train \| {words}",
                         log, re.MULTILINE).group(1)
    return stamp("training on"), stamp("done training")


def test_side_by_side_trains_both_models_at_once_each_on_its_share_of_the_cores(compared):
    out, output = compared
    if cpu_cores() <= 3:  # two runs on 2 or 3 cores: one thread each
        assert "1 thread(s) per process" in output
    (armin_first, armin_last), (lstm_first, lstm_last) = (
        training_span((out / name / "train.log").read_text()) for name in ("armin", "lstm"))
    assert armin_first <= lstm_last and lstm_first <= armin_last  # the two trainings overlap
    assert "trained side by side" in (out / "results.md").read_text()


def test_scores_reach_tensorboard(compared):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = compared
    for name in ("ARMIN", "LSTM"):
        events = EventAccumulator(str(out / "tensorboard" / name / "test"))
        events.Reload()
        assert {"bleu", "chrf", "length_ratio", "params"} <= set(events.Tags()["scalars"])
        assert (out / "tensorboard" / name / "train").is_dir() and (out / "tensorboard" / name / "valid").is_dir()


def interactive(data, checkpoint, typed):
    """fairseq-interactive reading the sentences of the file ``typed``."""
    return fairseq(
        "interactive", data, "--user-dir", PLUGIN, "--path", checkpoint,
        "--source-lang", "de", "--target-lang", "en", "--bpe", "sentencepiece",
        "--sentencepiece-model", data / SPM_MODEL, "--cpu", "--input", typed, *SEARCH,
    )


def test_interactive_and_hub_translate_the_same(compared, libreoffice_slice, tmp_path):
    import sentencepiece

    from armin_plugin.models.armin_translation import ARMINTranslationModel

    out, _ = compared
    checkpoint = out / "armin" / "checkpoints" / "checkpoint_best.pt"
    typed = tmp_path / "typed.de"
    typed.write_text(SENTENCE + "\n", encoding="utf-8")
    result = interactive(libreoffice_slice, checkpoint, typed)
    assert result.returncode == 0, result.stderr[-3000:]
    source = re.search(r"^S-0\t(.*)$", result.stdout, flags=re.M).group(1)
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(libreoffice_slice / SPM_MODEL))
    assert source == " ".join(pieces.encode(SENTENCE, out_type=str))  # BPE applied
    detokenized = re.search(r"^D-0\t\S+\t(.*)$", result.stdout, flags=re.M).group(1)
    assert detokenized and "▁" not in detokenized

    hub = ARMINTranslationModel.from_pretrained(
        str(checkpoint.parent), checkpoint.name, str(libreoffice_slice), user_dir=PLUGIN,
        bpe="sentencepiece", sentencepiece_model=str(libreoffice_slice / SPM_MODEL),
        source_lang="de", target_lang="en",
    ).eval()
    assert hub.translate(SENTENCE, beam=5, max_len_a=1.2, max_len_b=10) == detokenized


def test_unequal_sides_stop_before_anything_is_built(libreoffice_raw, libreoffice_slice, tmp_path):
    """Different line counts, an empty side, an empty line: one line naming the file; the
    data-bin that was there is left as it was."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in libreoffice_raw.iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
    dest = tmp_path / "data-bin"
    dest.mkdir()
    (dest / "dict.de.txt").write_text("kept\n")
    english = (raw / "train.en").read_text(encoding="utf-8").splitlines(keepends=True)
    cases = [
        ("train.en", "".join(english[:-1]), f"{raw / 'train'}.de has 300 lines but train.en has 299"),
        ("train.en", "", f"{raw / 'train.en'} is empty: both sides of a parallel corpus need text"),
        ("train.en", "".join(english[:9]) + "\n" + "".join(english[10:]),
         f"line 10 of {raw / 'train.en'} is empty: every pair needs text on both sides"),
    ]
    for (name, text, message), runner in zip(cases, (python_module, module_in_process, module_in_process)):
        (raw / name).write_text(text, encoding="utf-8")
        result = runner(
            "armin_plugin.data.parallel", "--raw", raw, "--dest", dest, "--vocab-size", 600
        )
        assert_one_line_error(result, message)
        assert [p.name for p in dest.iterdir()] == ["dict.de.txt"] and (dest / "dict.de.txt").read_text() == "kept\n"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    result = module_in_process("armin_plugin.jobs.compare_translation", "--data", raw, "--out", tmp_path / "runs")
    assert_one_line_error(result, f"data directory {raw} lacks dict.de.txt")
    assert not (tmp_path / "runs").exists()


def translation_train_args(data, save_dir, max_update, *extra):
    return [
        data, "--user-dir", PLUGIN, "--task", "translation", "--arch", "armin_tiny",
        "--optimizer", "adam", "--lr", 0.003, "--dropout", 0.2, "--max-tokens", 400,
        "--max-update", max_update, "--save-dir", save_dir, "--log-format", "simple",
        "--log-interval", 1, "--cpu", "--seed", 5, "--disable-validation", *extra,
    ]


def test_sigterm_saves_a_checkpoint_and_resume_is_exact(libreoffice_slice, tmp_path):
    """The clean stop and exact resume of ``armin_lm`` hold for ``armin`` under fairseq's
    translation task too (Gumbel noise, temperature, epoch position)."""
    stopped = stop_with_signal(translation_train_args(libreoffice_slice, tmp_path / "pieces", 10000),
                               signal.SIGTERM, after_update=2)
    assert stopped.returncode == 0, stopped.stdout[-3000:]
    stop = int(re.search(r"Stopping training due to num_updates: (\d+)", stopped.stdout).group(1))
    assert max(update_lines(stopped.stdout)) == stop
    resumed = fairseq_in_process("train", *translation_train_args(libreoffice_slice, tmp_path / "pieces", stop + 2))
    reference = fairseq_in_process("train", *translation_train_args(libreoffice_slice, tmp_path / "whole", stop + 2))
    assert resumed.returncode == 0 and reference.returncode == 0, resumed.stderr[-3000:]
    assert f"@ {stop} updates" in resumed.stdout
    assert_same_run(reference, [stopped, resumed], tmp_path / "whole", tmp_path / "pieces")


def test_missing_restore_file_is_refused(libreoffice_slice, tmp_path):
    result = fairseq_in_process("train", *translation_train_args(
        libreoffice_slice, tmp_path / "ck", 2, "--restore-file", tmp_path / "nope.pt"))
    assert_one_line_error(result, f"--restore-file {tmp_path / 'nope.pt'} does not exist", only_line=False)
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())


def test_compare_job_trains_on_two_processes(libreoffice_slice, tmp_path):
    """--nprocs 2 --runs ARMIN: the model trains through armin-launch on 2 CPU ranks, then is
    scored, and the LSTM is left out (the job in this process; its real process: :func:`compared`)."""
    out = tmp_path / "runs"
    result = module_in_process(
        "armin_plugin.jobs.compare_translation", "--data", libreoffice_slice, "--out", out,
        "--preset", "tiny", "--max-update", 3, "--nprocs", 2, "--runs", "ARMIN",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = table_rows(result.stdout)
    assert set(rows) == {"ARMIN"} and int(rows["ARMIN"]["updates"]) == 3 and float(rows["ARMIN"]["BLEU"]) >= 0
    log = (out / "armin" / "train.log").read_text()
    assert "2 CPU rank(s)" in log and "distributed init (rank 1)" in log
    assert not (out / "lstm").exists()
