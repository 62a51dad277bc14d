"""``python -m numgpt bench step|tokenizer|sample``: the three benchmarks, started the same way.

* ``step`` (the default, so plain ``bench --config ...`` still works): the training step,
  ``numgpt.training.bench``;
* ``tokenizer``: BPE training and encoding speed, ``numgpt.tokenizer.bench``;
* ``sample``: generation with and without the KV cache, ``numgpt.sampling.bench``.

``tokenizer`` and ``sample`` pass their options on to the module's own ``main`` (``bench sample
--help`` lists them); ``python -m numgpt.tokenizer.bench`` and ``python -m numgpt.sampling.bench``
run the same code.
"""
from __future__ import annotations

import argparse
import importlib
from typing import Any

# sub-command -> (module whose main(argv) it runs, help)
FORWARDED = {
    "tokenizer": ("numgpt.tokenizer.bench", "BPE training and encoding speed (options: bench tokenizer --help)"),
    "sample": ("numgpt.sampling.bench", "generation speed with and without the KV cache (options: bench sample --help)"),
}


def add_parser(subparsers: Any) -> None:
    from .training import bench as step_bench

    description = "Benchmarks: the training step (step, the default), the tokenizer, sampling."
    p = subparsers.add_parser("bench", help="benchmarks: bench step (default) | tokenizer | sample",
                              description=description)
    step_bench.add_arguments(p)  # `bench --config ...` = `bench step --config ...`
    p.set_defaults(func=step_bench.run)
    which = p.add_subparsers(dest="benchmark", metavar="{step,tokenizer,sample}")
    step = which.add_parser("step", help="time the training step: ms/iter, tokens/s, GFLOP/s, MFU",
                            description="Time the training step (train_step: forward, backward, clip, AdamW) of a "
                                        "config's model with random weights and data; compare with the matmul peak.")
    step_bench.add_arguments(step)
    step.set_defaults(func=step_bench.run)
    for name, (module, text) in FORWARDED.items():
        forwarded = which.add_parser(name, help=text, add_help=False)  # --help goes to the module's own parser
        forwarded.set_defaults(func=_forward, forward_to=module, forward_args=True)


def _forward(args: argparse.Namespace) -> int:
    result = importlib.import_module(args.forward_to).main(args.forwarded)
    return result if isinstance(result, int) else 0
