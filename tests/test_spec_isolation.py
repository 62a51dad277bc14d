"""A submission cannot take the grader down: adapters that hang, exit, segfault, abort or allocate
without bound each end as failed tests with the reason, the run goes on, the table and JSON are complete."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# These runs select spec files without hypothesis: leave out the plugins they do not need (faster).
LEAN = ["-p", "no:hypothesispytest", "-p", "no:benchmark"]

# One broken adapter function per way of breaking: each spec op test below calls exactly one of them.
BROKEN = '''
import os, signal, sys
from spec.reference_adapter import *  # noqa: F401,F403


def relu(a):
    while True: pass  # noqa: E701 - one line: the hang's "where" is this line


def exp(a):
    os._exit(3)


def tanh(a):
    os.kill(os.getpid(), signal.SIGSEGV)


def log(a):
    os.abort()


def div(a, b):
    hoard = []
    while True:
        hoard.append(bytearray(2**24))


def sub(a, b):
    sys.exit(5)
'''
# the tests of test_m1_ops.py that call them, and two of mul (which works)
SELECTION = ["spec/test_m1_ops.py", "-k", "test_forward and (relu or exp or tanh or log or div or sub or mul-self or mul-python)"]
EXPECTED = {
    "relu": ("timeout", "timed out after 2 s in relu()"),
    "exp": ("crash", "the test process crashed: exited with code 3"),
    "tanh": ("crash", "the test process crashed: killed by signal 11 (SIGSEGV)"),
    "log": ("crash", "the test process crashed: killed by signal 6 (SIGABRT)"),
    "div": ("memory", "exceeded the memory limit of 300 MB"),
    "sub": ("crash", "the process exit was requested with sys.exit(5) in sub()"),
}


def _grade(tmp_path: Path, source: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    adapter, out = tmp_path / "broken_adapter.py", tmp_path / "grade.json"
    adapter.write_text(source)
    result = subprocess.run(  # a session of its own: a Ctrl-C to the run's process group stays there
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *LEAN, *args, "--impl", str(adapter),
         "--spec-timeout", "2", "--spec-memory", "300", "--grade-json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads(out.read_text())


def _op(name: str) -> str:
    return name.split("[")[1].split("-")[0].rstrip("]")


def _check_records(grade: dict, broken: set[str]) -> None:
    tests = grade["tests"]
    for record in tests:
        op = _op(record["name"])
        if op in broken:
            kind, message = EXPECTED[op]
            assert (record["outcome"], record["kind"], record["message"]) == ("failed", kind, message), record
        else:
            assert record["outcome"] == "passed", record


@pytest.mark.slow
def test_crashes_in_worker_processes_fail_one_test_each(tmp_path: Path) -> None:
    """With isolation on (a foreign adapter), each crash fails its test and the run goes on."""
    result, grade = _grade(tmp_path, BROKEN, *SELECTION, "-n", "1")
    names = {_op(t["name"]) for t in grade["tests"]}
    assert names == set(EXPECTED) | {"mul"}, names
    assert len(grade["tests"]) == 12  # every selected test has a record: 2 mul, 3 div, 3 sub, 1 each of the others
    _check_records(grade, set(EXPECTED))
    assert grade["failure_kinds"] == {"assertion": 0, "error": 0, "timeout": 1, "crash": 6, "memory": 3}
    assert grade["summary"]["M1"] == {"passed": 2, "failed": 10, "not implemented": 0, "skipped": 0}
    assert "10 failed, 2 passed" in result.stdout and "M1 Tensor + autograd" in result.stdout


def test_hangs_memory_and_sys_exit_in_one_process(tmp_path: Path) -> None:
    """Without worker processes (--spec-isolation off) a hang, an unbounded allocation and sys.exit
    still fail only their own tests."""
    selection = ["spec/test_m1_ops.py", "-k", "test_forward and (relu or div or sub or mul-self or mul-python)"]
    _, grade = _grade(tmp_path, BROKEN, *selection, "--spec-isolation", "off")
    assert len(grade["tests"]) == 9, _.stdout[-5000:]
    _check_records(grade, {"relu", "div", "sub"})
    where = {_op(t["name"]): t["where"] for t in grade["tests"]}
    lines = BROKEN.splitlines()
    for op, line in (("relu", "    while True: pass"), ("div", "        hoard.append(bytearray(2**24))")):
        number = next(i for i, text in enumerate(lines, 1) if text.startswith(line))
        assert where[op] == f"{tmp_path.resolve() / 'broken_adapter.py'}:{number}", where


def test_an_adapter_that_crashes_on_import_scores_nothing_with_a_reason(tmp_path: Path) -> None:
    result, grade = _grade(tmp_path, "import os\nos._exit(7)\n", "spec/test_m1_ops.py", "-k", "relu")
    assert result.returncode == 4
    assert grade["tests"] == [] and grade["error"] == (
        f"cannot load the adapter {str(tmp_path / 'broken_adapter.py')!r}: the process importing it exited with code 7")
    assert grade["error"] in result.stderr


@pytest.mark.slow
def test_an_interrupted_run_records_what_it_did_not_finish(tmp_path: Path) -> None:
    """The batch grader interrupts a submission that runs out of time (Ctrl-C to its process group):
    the test that was running and those not started are failed, the others keep their result."""
    source = ("import os, signal\nfrom spec.reference_adapter import *  # noqa: F401,F403\n\n\n"
              "def relu(a):\n    os.killpg(os.getpgid(0), signal.SIGINT)\n    while True: pass  # noqa: E701\n")
    selection = ["spec/test_m1_ops.py", "-k", "test_forward and (mul-self or relu or exp)", "-p", "no:randomly"]
    result, grade = _grade(tmp_path, source, *selection, "-n", "1")
    assert result.returncode == 2, result.stdout[-2000:]
    outcomes = {_op(t["name"]): (t["outcome"], t["kind"], t["message"]) for t in grade["tests"]}
    interrupted = ("failed", "timeout", "not finished: the run was interrupted (Ctrl-C, or the batch grader's --submission-timeout)")
    assert outcomes == {"mul": ("passed", None, ""), "relu": interrupted, "exp": interrupted}, outcomes
