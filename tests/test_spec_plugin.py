"""The grading plugin as a user meets it: bad --impl, bad --grade-json folder, the JSON file."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str, lean: bool = True) -> subprocess.CompletedProcess:
    """pytest in a subprocess; ``lean``: without the plugins that spec/test_m1_{ops,autograd}.py do not need."""
    plugins = ["-p", "no:hypothesispytest", "-p", "no:benchmark"] if lean else []
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *plugins, *args],
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
                     "--grade-json", str(out), "--spec-isolation", "off")
    assert result.returncode == 0, result.stdout[-2000:]
    grade = json.loads(out.read_text())
    assert grade["summary"]["M1"]["not implemented"] >= 1 and grade["summary"]["M1"]["failed"] == 0
    assert all(t["outcome"] == "not implemented" and t["message"].startswith("not implemented:") for t in grade["tests"])


def _grade(tmp_path: Path, *args: str, lean: bool = True) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    out = tmp_path / "grade.json"
    result = _pytest(*args, "--grade-json", str(out), lean=lean)
    assert out.exists(), result.stdout[-3000:] + result.stderr[-2000:]
    return result, {t["name"]: t for t in json.loads(out.read_text())["tests"]}


def test_failure_records_say_where_they_arose(tmp_path: Path) -> None:
    """A spec check on a wrong value is an "assertion" at the spec's line; an AssertionError raised
    inside the implementation is an "error" at the implementation's line. One-line message, full details."""
    adapter = tmp_path / "adapter.py"
    adapter.write_text(
        "from spec.reference_adapter import *  # noqa: F401,F403\n"
        "from spec import reference_adapter as _ref\n\n\n"
        "def relu(a):\n"
        "    assert a is None, 'an invariant of the implementation\\nits second line'\n\n\n"
        "def detach(t):\n"
        "    return t\n")
    _, tests = _grade(tmp_path, "spec/test_m1_ops.py", "spec/test_m1_autograd.py", "-k", "relu and forward or detach_cuts",
                      "--impl", str(adapter), "--spec-isolation", "off", "--junitxml", str(tmp_path / "junit.xml"))
    inside = tests["spec/test_m1_ops.py::test_forward[relu]"]
    assert (inside["outcome"], inside["kind"], inside["where"]) == ("failed", "error", f"{adapter.resolve()}:6")
    assert inside["message"] == "AssertionError: an invariant of the implementation"
    assert inside["details"].splitlines()[-1] == "its second line"
    wrong = tests["spec/test_m1_autograd.py::test_detach_cuts_the_graph"]
    assert (wrong["outcome"], wrong["kind"]) == ("failed", "assertion")
    assert wrong["where"].startswith("spec/") and wrong["where"].split(":")[1].isdigit(), wrong["where"]
    assert "\n" not in wrong["message"] and wrong["message"] in wrong["details"]
    for record in tests.values():
        assert set(record) >= {"name", "milestone", "outcome", "kind", "where", "message", "details"}
    # --junitxml carries the same milestone / kind / where as <property> elements
    cases = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
             for c in ElementTree.parse(tmp_path / "junit.xml").iter("testcase")}
    assert cases["test_forward[relu]"] == {"milestone": "M1", "kind": "error", "where": inside["where"]}
    assert cases["test_detach_cuts_the_graph"] == {"milestone": "M1", "kind": "assertion", "where": wrong["where"]}


def test_hypothesis_partly_not_implemented_reports_the_real_failure(tmp_path: Path) -> None:
    """Hypothesis raises one ExceptionGroup for distinct failures: a NotImplementedError for some
    examples is "not implemented", the other failure is reported with its own message."""
    (tmp_path / "test_partly.py").write_text(
        "import pytest\n"
        "from hypothesis import given, settings, strategies as st\n\n"
        "pytestmark = pytest.mark.milestone('M1')\n"
        "SETTINGS = settings(max_examples=50, derandomize=True, database=None, deadline=None)\n\n\n"
        "@SETTINGS\n@given(st.integers(0, 10))\n"
        "def test_partly(n):\n"
        "    if n % 2:\n        raise NotImplementedError('odd n')\n"
        "    assert n < 0, 'even n is wrong'\n\n\n"
        "@SETTINGS\n@given(st.integers(0, 10))\n"
        "def test_only_not_implemented(n):\n"
        "    if n % 2:\n        raise NotImplementedError('odd n')\n"
        "    raise NotImplementedError('even n')\n")
    result, tests = _grade(tmp_path, "-p", "spec.plugin", "--rootdir", str(tmp_path), str(tmp_path / "test_partly.py"),
                           lean=False)
    partly = next(r for name, r in tests.items() if name.endswith("::test_partly"))
    assert (partly["outcome"], partly["message"]) == ("failed", "AssertionError: even n is wrong")
    assert partly["also"] == ["not implemented: odd n"] and "distinct failures" not in partly["message"]
    only = next(r for name, r in tests.items() if name.endswith("::test_only_not_implemented"))
    assert only["outcome"] == "not implemented" and only["message"] in ("not implemented: odd n", "not implemented: even n")
    assert "1 failed" in result.stdout and "1 not implemented" in result.stdout


def test_pytest_summary_counts_not_implemented_as_the_table_does() -> None:
    result = _pytest("spec/test_m1_autograd.py", "-k", "deep_chain or detach", "--impl", "spec/adapter_template.py",
                     "--spec-isolation", "off")
    summary = result.stdout.strip().splitlines()[-1]
    assert " not implemented" in summary and "skipped" not in summary, summary
    row = next(line for line in result.stdout.splitlines() if line.startswith("M1 "))
    assert row.split()[-2] == summary.split(" not implemented")[0].split()[-1], (row, summary)


def test_spec_file_names_declare_their_milestone() -> None:
    """A crashed test's milestone comes from its file name when the process died before reporting
    the marker (spec.plugin.milestone_of_file): every spec file's name must agree with its marker."""
    from spec.plugin import milestone_of_file

    for path in sorted((ROOT / "spec").glob("test_*.py")):
        marks = re.findall(r"""pytestmark\s*=.*milestone\(["'](M\d+)["']\)""", path.read_text())
        assert marks == [milestone_of_file(f"spec/{path.name}")], (path.name, marks)
