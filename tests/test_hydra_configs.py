"""The fairseq-hydra-train configs of recipes/configs/: they hold the recipes' settings, and
one trains through the real ``fairseq-hydra-train`` on a slice of real character-level PTB."""
import pytest
import torch
from helpers import PLUGIN, REPO, fairseq
from omegaconf import OmegaConf

from armin_plugin.jobs.compare_lm import PRESETS as LM_PRESETS
from armin_plugin.jobs.compare_lm import armin_lm_params
from armin_plugin.jobs.compare_translation import PRESETS as TRANSLATION_PRESETS
from armin_plugin.jobs.compare_translation import RUNS as TRANSLATION_RUNS
from armin_plugin.modules.sizing import lstm_hidden_for

CONFIGS = REPO / "recipes" / "configs"
PTB_CHAR_VOCAB = 4 + 49  # fairseq's 4 special symbols and the 49 characters of char-level PTB


def config(name):
    return OmegaConf.load(CONFIGS / f"{name}.yaml")


@pytest.mark.parametrize("name, task", [("ptb_char_quick_armin", "language_modeling"),
                                        ("ptb_char_stream_armin", "armin_tbptt_lm")])
def test_armin_lm_configs_hold_the_quick_preset(name, task):
    cfg, preset = config(name), LM_PRESETS["quick"]
    assert cfg.lr_scheduler == "fixed"  # the jobs' default --lr-schedule constant
    assert cfg.task._name == task and cfg.task.tokens_per_sample == preset["tokens_per_sample"]
    assert (cfg.model._name, cfg.model.decoder_embed_dim, cfg.model.armin_hidden_size, cfg.model.armin_slot_size,
            cfg.model.armin_slots, cfg.model.dropout) == ("armin_lm", *(preset[key] for key in (
                "embed", "hidden", "slot", "slots", "dropout")))
    assert (cfg.dataset.batch_size, cfg.optimization.lr, cfg.optimization.max_epoch) == (
        preset["batch_size"], [preset["armin_lr"]], preset["max_epoch"])


def test_lstm_config_is_sized_like_the_main_jobs_lstm():
    cfg, preset = config("ptb_char_quick_lstm"), LM_PRESETS["quick"]
    assert cfg.lr_scheduler == "fixed"
    params = armin_lm_params(PTB_CHAR_VOCAB, preset["embed"], preset["hidden"], preset["slot"], preset["slots"])
    embedding = PTB_CHAR_VOCAB * preset["embed"]  # does not grow with the hidden size
    hidden = lstm_hidden_for(params - embedding, preset["embed"], PTB_CHAR_VOCAB)
    assert (cfg.model._name, cfg.model.decoder_hidden_size, cfg.model.decoder_out_embed_dim) == ("lstm_lm", hidden, hidden)
    assert cfg.optimization.lr == [preset["lstm_lr"]]


def test_translation_config_holds_the_quick_preset():
    cfg, preset = config("libreoffice_quick_armin"), TRANSLATION_PRESETS["quick"]
    assert (cfg.model._name, cfg.task.source_lang, cfg.task.target_lang) == (TRANSLATION_RUNS["ARMIN"], "de", "en")
    assert (cfg.dataset.max_tokens, cfg.optimization.lr, cfg.optimization.max_epoch) == (
        preset["max_tokens"], [preset["armin_lr"]], preset["max_epoch"])


@pytest.mark.slow
def test_fairseq_hydra_train_trains_the_main_armin_config(ptb_char_slice, tmp_path):
    result = fairseq(
        "hydra-train", "--config-dir", CONFIGS, "--config-name", "ptb_char_quick_armin",
        f"task.data={ptb_char_slice}", f"common.user_dir={PLUGIN}", "common.tensorboard_logdir=null",
        f"checkpoint.save_dir={tmp_path / 'ck'}", "optimization.max_update=2", "task.tokens_per_sample=40",
        "dataset.batch_size=4", "model.decoder_embed_dim=16", "model.armin_hidden_size=24",
        "model.armin_slot_size=12", "model.armin_slots=4", cwd=tmp_path,  # where hydra writes its log
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    state = torch.load(tmp_path / "ck" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 2
    model = state["cfg"]["model"]
    assert (model["_name"], model["armin_hidden_size"], model["armin_slots"]) == ("armin_lm", 24, 4)
    assert state["cfg"]["task"]["_name"] == "language_modeling"
    assert state["model"]["decoder.armin.layers.0.address.weight"].shape[0] == 4
