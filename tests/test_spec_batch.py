"""python -m spec.batch grades a folder of submissions into a CSV and one JSON each; a broken
submission scores zero on what it broke and never stops the batch."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from spec import points

ROOT = Path(__file__).resolve().parents[1]
# These runs select spec files without hypothesis: leave out the plugins they do not need (faster).
LEAN = ["-p", "no:hypothesispytest", "-p", "no:benchmark"]
GOOD = "from spec.reference_adapter import *  # noqa: F401,F403\n"
BROKEN = GOOD + "import os\n\n\ndef relu(a):\n    os._exit(3)\n\n\ndef exp(a):\n    while True: pass  # noqa: E701\n"
NOT_A_MODULE = "this is not python(\n"
SELECTION = ["spec/test_m1_ops.py", "-k", "test_forward and (relu or exp or mul-self)", *LEAN]  # 3 tests


@pytest.mark.slow
def test_batch_grades_a_folder_with_broken_and_good_submissions(tmp_path: Path) -> None:
    subs, out = tmp_path / "submissions", tmp_path / "grades"
    subs.mkdir()
    (subs / "alice.py").write_text(GOOD)
    (subs / "bob").mkdir()
    (subs / "bob" / "adapter.py").write_text(GOOD)  # a folder submission
    (subs / "carol.py").write_text(BROKEN)
    (subs / "dave.py").write_text(NOT_A_MODULE)
    result = subprocess.run([sys.executable, "-m", "spec.batch", str(subs), str(out), "-j", "2", "--spec-timeout", "2",
                             "--", *SELECTION], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {row["submission"]: row for row in csv.DictReader(open(out / "grades.csv"))}
    assert list(rows) == ["alice", "bob", "carol", "dave"]
    m1 = points.load().milestones["M1"]
    for good in ("alice", "bob"):
        assert float(rows[good]["M1"]) == pytest.approx(m1) and rows[good]["passed"] == "3" and rows[good]["error"] == ""
    carol = rows["carol"]
    assert float(carol["M1"]) == pytest.approx(m1 / 3, abs=1e-3) and (carol["passed"], carol["failed"]) == ("1", "2")
    kinds = {t["name"].split("[")[1][:-1]: (t["kind"], t["message"]) for t in json.loads((out / "carol.json").read_text())["tests"]}
    assert kinds == {"relu": ("crash", "the test process crashed: exited with code 3"),
                     "exp": ("timeout", "timed out after 2 s in exp()"), "mul-self": (None, "")}
    dave = rows["dave"]
    assert float(dave["score"]) == 0 and "cannot load the adapter" in dave["error"] and "SyntaxError" in dave["error"]
    assert json.loads((out / "dave.json").read_text())["error"] == dave["error"]
