"""A submission cannot take the grader down: adapters that hang, exit, segfault, abort or allocate
without bound each end as failed tests with the reason, the run goes on, the table and JSON are complete.

Each test checks one graded run (RUNS); the selected runs start together, in the background, on
first use (like the mutation harness), so their waiting overlaps."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
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


INTERRUPTING = ("import os, signal\nfrom spec.reference_adapter import *  # noqa: F401,F403\n\n\n"
                "def relu(a):\n    os.killpg(os.getpgid(0), signal.SIGINT)\n    while True: pass  # noqa: E701\n")
# test name -> (adapter source, pytest arguments) of the run it checks
RUNS = {
    "test_crashes_in_worker_processes_fail_one_test_each": (BROKEN, [*SELECTION, "-n", "1"]),
    "test_hangs_memory_and_sys_exit_in_one_process": (BROKEN, [
        "spec/test_m1_ops.py", "-k", "test_forward and (relu or div or sub or mul-self or mul-python)",
        "--spec-isolation", "off"]),
    "test_an_adapter_that_crashes_on_import_scores_nothing_with_a_reason": (
        "import os\nos._exit(7)\n", ["spec/test_m1_ops.py", "-k", "relu"]),
    "test_an_interrupted_run_records_what_it_did_not_finish": (INTERRUPTING, [
        "spec/test_m1_ops.py", "-k", "test_forward and (mul-self or relu or exp)", "-n", "1"]),
}


def _grade(folder: Path, source: str, args: list[str]) -> tuple[subprocess.CompletedProcess, dict, Path]:
    adapter, out = folder / "broken_adapter.py", folder / "grade.json"
    adapter.write_text(source)
    result = subprocess.run(  # a session of its own: a Ctrl-C to the run's process group stays there
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *LEAN, *args, "--impl", str(adapter),
         "--spec-timeout", "2", "--spec-memory", "300", "--grade-json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads(out.read_text()), adapter.resolve()


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start the selected tests' runs in the background; each test waits on its own."""
    selected = [item.originalname for item in request.session.items if item.originalname in RUNS]
    pool = ThreadPoolExecutor(max_workers=max(1, len(selected)))
    futures: dict[str, Future] = {name: pool.submit(_grade, tmp_path_factory.mktemp(name[5:30]), *RUNS[name])
                                  for name in selected}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def _run(runs: dict, request: pytest.FixtureRequest) -> tuple[subprocess.CompletedProcess, dict, Path]:
    return runs[request.node.originalname].result()


def _op(name: str) -> str:
    return name.split("[")[1].split("-")[0].rstrip("]")


def _check_records(grade: dict, broken: set[str]) -> None:
    for record in grade["tests"]:
        op = _op(record["name"])
        if op in broken:
            kind, message = EXPECTED[op]
            assert (record["outcome"], record["kind"], record["message"]) == ("failed", kind, message), record
        else:
            assert record["outcome"] == "passed", record


@pytest.mark.slow
def test_crashes_in_worker_processes_fail_one_test_each(runs: dict, request: pytest.FixtureRequest) -> None:
    """With isolation on (a foreign adapter), each crash fails its test and the run goes on."""
    result, grade, _ = _run(runs, request)
    names = {_op(t["name"]) for t in grade["tests"]}
    assert names == set(EXPECTED) | {"mul"}, names
    assert len(grade["tests"]) == 12  # every selected test has a record: 2 mul, 3 div, 3 sub, 1 each of the others
    _check_records(grade, set(EXPECTED))
    assert grade["failure_kinds"] == {"assertion": 0, "error": 0, "timeout": 1, "crash": 6, "memory": 3}
    assert grade["summary"]["M1"] == {"passed": 2, "failed": 10, "not implemented": 0, "skipped": 0}
    assert "10 failed, 2 passed" in result.stdout and "M1 Tensor + autograd" in result.stdout


def test_hangs_memory_and_sys_exit_in_one_process(runs: dict, request: pytest.FixtureRequest) -> None:
    """Without worker processes (--spec-isolation off) a hang, an unbounded allocation and sys.exit
    still fail only their own tests."""
    result, grade, adapter = _run(runs, request)
    assert len(grade["tests"]) == 9, result.stdout[-5000:]
    _check_records(grade, {"relu", "div", "sub"})
    where = {_op(t["name"]): t["where"] for t in grade["tests"]}
    lines = BROKEN.splitlines()
    for op, line in (("relu", "    while True: pass"), ("div", "        hoard.append(bytearray(2**24))")):
        number = next(i for i, text in enumerate(lines, 1) if text.startswith(line))
        assert where[op] == f"{adapter}:{number}", where


def test_an_adapter_that_crashes_on_import_scores_nothing_with_a_reason(runs: dict, request: pytest.FixtureRequest) -> None:
    result, grade, adapter = _run(runs, request)
    assert result.returncode == 4
    assert grade["tests"] == [] and grade["error"] == (
        f"cannot load the adapter {str(adapter)!r}: the process importing it exited with code 7")
    assert grade["error"] in result.stderr


def test_an_interrupted_run_records_what_it_did_not_finish(runs: dict, request: pytest.FixtureRequest) -> None:
    """The batch grader interrupts a submission that runs out of time (Ctrl-C to its process group):
    the test that was running and those not started are failed, the others keep their result."""
    result, grade, _ = _run(runs, request)
    assert result.returncode == 2, result.stdout[-2000:]
    outcomes = {_op(t["name"]): (t["outcome"], t["kind"], t["message"]) for t in grade["tests"]}
    interrupted = ("failed", "timeout", "not finished: the run was interrupted (Ctrl-C, or the batch grader's --submission-timeout)")
    assert outcomes == {"mul": ("passed", None, ""), "relu": interrupted, "exp": interrupted}, outcomes
