"""--gradescope writes Gradescope's autograder results format; points come from spec/points.toml."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spec import points

ROOT = Path(__file__).resolve().parents[1]
# These runs select spec files without hypothesis: leave out the plugins they do not need (faster).
LEAN = ["-p", "no:hypothesispytest", "-p", "no:benchmark"]

# Gradescope's documented results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/,
# "Output format"): every key is optional except a score, at the top level or on every test.
TOP_LEVEL = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
             "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
             "extra_data": dict, "tests": list, "leaderboard": list}
TEST = {"score": (int, float), "max_score": (int, float), "status": str, "name": str, "name_format": str,
        "number": str, "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
STATUS = {"passed", "failed"}


def check_gradescope_format(results: dict) -> None:
    for key, value in results.items():
        assert key in TOP_LEVEL, f"unknown top-level key {key!r}"
        assert isinstance(value, TOP_LEVEL[key]) and not isinstance(value, bool), (key, value)
    assert "score" in results or all("score" in t for t in results.get("tests", []))
    assert results.get("visibility", "visible") in VISIBILITY
    for test in results.get("tests", []):
        for key, value in test.items():
            assert key in TEST, f"unknown test key {key!r}"
            assert isinstance(value, TEST[key]) and not isinstance(value, bool), (key, value)
        assert test.get("status", "passed") in STATUS and test.get("visibility", "visible") in VISIBILITY
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert all(isinstance(tag, str) for tag in test.get("tags", []))


def _gradescope(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *LEAN, *args, "--gradescope", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.exists(), result.stdout[-3000:] + result.stderr[-2000:]
    return result, json.loads(out.read_text())


def test_gradescope_results_per_milestone(tmp_path: Path) -> None:
    _, results = _gradescope(tmp_path, "spec/test_m1_autograd.py", "--impl", "tests/mutants/m1_detach_noop.py",
                             "--spec-isolation", "off")
    check_gradescope_format(results)
    default = points.load()
    assert [t["name"] for t in results["tests"]] == [f"{m} {name}" for m, name in
                                                    zip(default.milestones, ("Tensor + autograd", "layers (nn)", "attention",
                                                        "transformer / GPT", "BPE tokenizer", "training", "sampling",
                                                         "modern blocks"))]
    m1 = results["tests"][0]
    n = m1["output"].split()[0]  # "80 passed, 1 failed"
    assert m1["status"] == "failed" and m1["max_score"] == default.milestones["M1"]
    assert m1["score"] == pytest.approx(default.milestones["M1"] * int(n) / (int(n) + 1), abs=1e-3)
    assert "test_detach_cuts_the_graph" in m1["output"] and "[assertion at spec/" in m1["output"]
    assert results["score"] == pytest.approx(m1["score"])


def test_gradescope_results_per_test_with_own_points(tmp_path: Path) -> None:
    toml = tmp_path / "points.toml"
    toml.write_text('[milestones]\nM1 = 10\n\n[tests]\n"*test_detach_cuts_the_graph" = 4\n\n'
                    '[gradescope]\nentries = "test"\nvisibility = "after_published"\n')
    _, results = _gradescope(tmp_path, "spec/test_m1_autograd.py", "-k", "detach or diamond", "--spec-points", str(toml),
                             "--impl", "tests/mutants/m1_detach_noop.py", "--spec-isolation", "off")
    check_gradescope_format(results)
    tests = {t["name"].split("::")[1]: t for t in results["tests"]}
    cut = tests.pop("test_detach_cuts_the_graph")
    assert (cut["score"], cut["max_score"], cut["status"], cut["visibility"]) == (0.0, 4.0, "failed", "after_published")
    assert cut["tags"] == ["M1", "assertion"] and cut["output"].startswith("[assertion at spec/")
    assert tests and all(t["status"] == "passed" for t in tests.values())
    assert sum(t["max_score"] for t in tests.values()) == pytest.approx(10)
    assert results["score"] == pytest.approx(10)


def test_a_submission_that_cannot_load_scores_zero_with_the_reason(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter.py"
    adapter.write_text("raise ImportError('no module named student_gpt')\n")
    result, results = _gradescope(tmp_path, "spec/test_m1_autograd.py", "--impl", str(adapter))
    assert result.returncode == 4
    check_gradescope_format(results)
    assert results["score"] == 0 and "no module named student_gpt" in results["output"]
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(sum(points.load().milestones.values()))


def test_points_file_errors_name_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "points.toml"
    bad.write_text("[milestones]\nM1 = -3\n")
    with pytest.raises(ValueError, match=r"\[milestones\] M1 = -3: points must be a number >= 0"):
        points.load(bad)
    bad.write_text('[gradescope]\nvisibility = "students"\n')
    with pytest.raises(ValueError, match="visibility = 'students'"):
        points.load(bad)
    assert points.load().milestones  # the shipped default loads
