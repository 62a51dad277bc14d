"""The bench command: its config lookup, the dispatch to the three benchmarks, and the step it times
(the full benchmark is not run here: its matmul peak alone takes seconds)."""
from pathlib import Path

from numgpt.__main__ import build_parser
from numgpt.training.config import resolve_config


def test_default_config_resolves_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the name must be found next to the package
    args = build_parser().parse_args(["bench"])
    path = Path(resolve_config(args.config))
    assert path.is_file() and path.name == "shakespeare_char_cpu.toml", path


def test_a_path_is_kept_as_given(tmp_path):
    assert resolve_config(str(tmp_path / "mine.toml")) == str(tmp_path / "mine.toml")


def test_bare_bias_flag_means_true_as_for_train():
    args = build_parser().parse_args(["bench", "--bias", "--n_layer=2"])
    assert (args.override_bias, args.override_n_layer) == ("true", "2")


def test_step_is_the_default_benchmark_and_the_others_get_their_own_options():
    parser = build_parser()
    legacy = parser.parse_args(["bench", "--iters", "3"])
    step = parser.parse_args(["bench", "step", "--iters", "3"])
    assert legacy.func is step.func and legacy.iters == step.iters == 3
    args, extra = parser.parse_known_args(["bench", "sample", "--tokens", "8", "--repeats", "1"])
    assert (args.forward_to, extra) == ("numgpt.sampling.bench", ["--tokens", "8", "--repeats", "1"])
    args, extra = parser.parse_known_args(["bench", "tokenizer", "--vocab-size", "300"])
    assert (args.forward_to, extra) == ("numgpt.tokenizer.bench", ["--vocab-size", "300"])


def test_bench_sample_and_tokenizer_call_their_modules_main_with_the_rest(monkeypatch):
    import numgpt.sampling.bench
    import numgpt.tokenizer.bench
    from numgpt.__main__ import main

    calls = []
    monkeypatch.setattr(numgpt.sampling.bench, "main", lambda argv: calls.append(("sample", argv)) or 0)
    monkeypatch.setattr(numgpt.tokenizer.bench, "main", lambda argv: calls.append(("tokenizer", argv)) or {})
    assert main(["bench", "sample", "--tokens", "66", "--repeats", "1"]) == 0
    assert main(["bench", "tokenizer", "--runs", "1"]) == 0  # its main returns its figures: exit status 0
    assert calls == [("sample", ["--tokens", "66", "--repeats", "1"]), ("tokenizer", ["--runs", "1"])]


def test_the_step_benchmark_times_train_step():
    import numpy as np

    from numgpt.training.bench import make_step
    from numgpt.training.config import load_config
    from numgpt.training.data import get_batch
    from numgpt.training.loop import build_model, make_optimizer

    cfg = load_config(None, dict(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=2, workers=1))
    model = build_model(cfg.model_args(11), 0)
    optimizer = make_optimizer(model, cfg)
    rng = np.random.default_rng(0)
    step = make_step(model, optimizer, cfg, lambda: get_batch(np.arange(100) % 11, 2, 8, rng))
    before = model.transformer.wte.weight.data.copy()
    phases = step()
    assert len(phases) == 4 and all(t >= 0 for t in phases) and phases[2] == 0.0  # no gathering in one process
    assert optimizer.t == 1 and not np.array_equal(model.transformer.wte.weight.data, before)
