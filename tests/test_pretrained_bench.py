"""``bench sample --shape gpt2`` at a tiny shape: it runs and prints the decode bound and prefill fields."""
import pytest

from numgpt.__main__ import main
from numgpt.sampling.bench import prefill_flops
from numgpt.transformer import GPTConfig

TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "16", "--block_size", "32", "--vocab_size", "50",
        "--prompt", "8", "--tokens", "4", "--repeats", "1", "--buffer-mib", "4", "--blas", "current", "--peak-size", "128"]


def test_bench_sample_gpt2_shape_prints_decode_bound_and_prefill(capsys):
    assert main(["bench", "sample", "--shape", "gpt2", *TINY]) == 0
    out = capsys.readouterr().out
    assert "'n_layer': 1" in out and "'vocab_size': 50" in out
    for field in ("memory bandwidth:", "ms/token (median); bound", "ratio", "prefill:", "GFLOP/s", "% of peak", "(128^3)"):
        assert field in out, field


def test_prompt_and_tokens_must_fit_the_block(capsys):
    assert main(["bench", "sample", "--shape", "gpt2", *TINY, "--prompt", "30"]) == 2  # one error line, exit 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "exceed block_size 32" in err, err


def test_prefill_flops_count_the_products_numgpt_runs():
    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=8, block_size=16, vocab_size=10)
    T = 4  # per layer: qkv 6TC^2, proj 2TC^2, mlp 16TC^2; attention 4T^2C; logits 2TCV
    assert prefill_flops(cfg, T) == 2 * (24 * T * 64 + 4 * T * T * 8) + 2 * T * 8 * 10
