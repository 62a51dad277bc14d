"""The grading plugin as a user meets it: bad --impl, bad --grade-json folder, the JSON file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_missing_adapter_stops_the_run_with_one_message() -> None:
    result = _pytest("spec/test_m1_autograd.py", "--impl", "no_such_adapter.py")
    assert result.returncode == 4
    assert "cannot load the adapter 'no_such_adapter.py'" in result.stdout + result.stderr
    assert (result.stdout + result.stderr).count("cannot load the adapter") == 1


def test_grade_json_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = _pytest("spec/test_m1_autograd.py", "--grade-json", str(tmp_path / "nope" / "g.json"))
    assert result.returncode == 4
    assert "does not exist" in result.stderr


def test_grade_json_records_not_implemented(tmp_path: Path) -> None:
    out = tmp_path / "grade.json"
    result = _pytest("spec/test_m1_autograd.py", "-k", "deep_chain", "--impl", "spec/adapter_template.py",
                     "--grade-json", str(out))
    assert result.returncode == 0, result.stdout[-2000:]
    grade = json.loads(out.read_text())
    assert grade["summary"]["M1"]["not implemented"] >= 1 and grade["summary"]["M1"]["failed"] == 0
    assert all(t["outcome"] == "not implemented" and t["message"].startswith("not implemented:") for t in grade["tests"])
