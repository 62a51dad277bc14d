"""The spec has teeth: run it against deliberately broken adapters; each must be caught.

Every file ``tests/mutants/m*_*.py`` is an adapter that reuses the reference adapter and breaks
one thing. Its module docstring says what is broken, and it sets ``SPEC``: the spec files (and
optionally ``K``, a ``-k`` expression) that must FAIL against it. The reference must pass the
same selection. Each mutant runs in a fresh subprocess, so mutants cannot leak into each other;
the selected mutants are started together, two at a time (one per core), on first use.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = sorted((ROOT / "tests" / "mutants").glob("m[0-9]_*.py"))


def _settings(path: Path) -> tuple[list[str], str | None, str]:
    tree = ast.parse(path.read_text())
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("SPEC", "K"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    spec = values.get("SPEC")
    if not spec:
        raise AssertionError(f"{path.name} must set SPEC = [spec files that must fail]")
    spec = [spec] if isinstance(spec, str) else list(spec)
    doc = (ast.get_docstring(tree) or "").strip().splitlines()
    return spec, values.get("K"), (doc[0] if doc else path.stem)


def run_spec(impl: str, spec: list[str], k: str | None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "--no-header", "-p", "no:randomly", *spec, "--impl", impl]
    if k:
        cmd += ["-k", k]
    # Two mutants run at once, one per core: one BLAS thread each avoids oversubscribing the cores.
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("NUMGPT_IMPL", None)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def mutant_runs(request: pytest.FixtureRequest):
    """Start every selected mutant's spec run in the background; tests wait on their own."""
    selected = [
        item.callspec.params["mutant"]
        for item in request.session.items
        if item.originalname == "test_spec_catches_mutant" and hasattr(item, "callspec")
    ]
    pool = ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1)))
    futures: dict[Path, Future] = {}
    for mutant in selected:
        spec, k, _ = _settings(mutant)
        futures[mutant] = pool.submit(run_spec, str(mutant), spec, k)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.stem for m in MUTANTS])
def test_spec_catches_mutant(mutant: Path, mutant_runs: dict) -> None:
    spec, k, what = _settings(mutant)
    result = mutant_runs[mutant].result() if mutant in mutant_runs else run_spec(str(mutant), spec, k)
    assert result.returncode == 1, (
        f"the spec did not catch the mutant {mutant.name} ({what}): pytest exited {result.returncode}\n"
        + result.stdout[-3000:] + result.stderr[-2000:]
    )
    assert " failed" in result.stdout, result.stdout[-2000:]
