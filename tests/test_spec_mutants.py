"""The spec has teeth: run it against deliberately broken adapters; each must be caught.

Every file ``tests/mutants/m*_*.py`` is an adapter that reuses the reference adapter and breaks
one thing. Its module docstring says what is broken, and it sets ``SPEC``: the spec files (and
optionally ``K``, a ``-k`` expression) that must FAIL against it. The reference must pass the
same selection. Each mutant runs in a fresh subprocess, so mutants cannot leak into each other;
the selected mutants are started together, two at a time (one per core), on first use.

A mutant is caught only by a spec ASSERTION on its wrong value: at least one failed record of the
run's grade JSON has kind "assertion" (an AssertionError raised by a check in spec/). A run that
fails only because the mutant raised (a TypeError, an AssertionError of its own) does not count.
The run stops at the first assertion failure (``--spec-stop-at-assertion``), in one process
(``--spec-isolation off``: xdist workers would cost more than the mutant's tests).
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass
class SpecRun:
    process: subprocess.CompletedProcess
    failures: list[dict]  # the grade JSON's failed records

    def caught(self) -> bool:
        return any(f["kind"] == "assertion" for f in self.failures)

    def verdict(self) -> str:
        """What the run saw, for a failure message: its failures' kinds, one example of each."""
        if not self.failures:
            return f"no test failed (pytest exited {self.process.returncode})"
        kinds = Counter(f["kind"] for f in self.failures)
        examples = {f["kind"]: f for f in reversed(self.failures)}
        return "failures seen: " + "; ".join(
            f"{n} {kind} (e.g. {examples[kind]['name']} at {examples[kind]['where']}: {examples[kind]['message'][:200]})"
            for kind, n in kinds.items())


def lean_plugins(spec: list[str]) -> list[str]:
    """Leave out the plugins a mutant's run does not need: pytest-benchmark, and hypothesis's
    plugin unless the selection uses hypothesis (the plugin imports all of hypothesis at the end
    of every run, ~0.5 s; most mutant runs take ~0.5 s without it)."""
    uses_hypothesis = any("hypothesis" in (ROOT / s.split("::")[0]).read_text() for s in spec)
    return ["-p", "no:benchmark"] + ([] if uses_hypothesis else ["-p", "no:hypothesispytest"])


def run_spec(impl: str, spec: list[str], k: str | None) -> SpecRun:
    with tempfile.TemporaryDirectory() as tmp:
        grade = Path(tmp) / "grade.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:randomly", *spec, "--impl", impl,
               "--spec-isolation", "off", "--spec-stop-at-assertion", "--grade-json", str(grade), *lean_plugins(spec)]
        if k:
            cmd += ["-k", k]
        # Two mutants run at once, one per core: one BLAS thread each avoids oversubscribing the cores.
        env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        env.pop("NUMGPT_IMPL", None)
        process = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
        tests = json.loads(grade.read_text())["tests"] if grade.exists() else []
    return SpecRun(process, [t for t in tests if t["outcome"] == "failed"])


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
    run = mutant_runs[mutant].result() if mutant in mutant_runs else run_spec(str(mutant), spec, k)
    assert run.caught(), (
        f"no spec assertion caught the mutant {mutant.name} ({what}); {run.verdict()}\n"
        + run.process.stdout[-3000:] + run.process.stderr[-2000:]
    )
