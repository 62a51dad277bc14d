"""The bench command's config lookup (the benchmark itself is not run here: it takes seconds)."""
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
    from numgpt.__main__ import main  # noqa: F401  (the parser below is the one main uses)

    parser = build_parser()
    legacy = parser.parse_args(["bench", "--iters", "3"])
    step = parser.parse_args(["bench", "step", "--iters", "3"])
    assert legacy.func is step.func and legacy.iters == step.iters == 3
    args, extra = parser.parse_known_args(["bench", "sample", "--tokens", "8", "--repeats", "1"])
    assert (args.forward_to, extra) == ("numgpt.sampling.bench", ["--tokens", "8", "--repeats", "1"])
    args, extra = parser.parse_known_args(["bench", "tokenizer", "--vocab-size", "300"])
    assert (args.forward_to, extra) == ("numgpt.tokenizer.bench", ["--vocab-size", "300"])


def test_bench_sample_runs_the_sampling_benchmark(capsys):
    from numgpt.__main__ import main

    assert main(["bench", "sample", "--tokens", "66", "--repeats", "1", "--blas", "current"]) == 0
    assert "tokens/s" in capsys.readouterr().out
