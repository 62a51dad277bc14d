"""A submission cannot take the grader down: time limits, memory limits, process crashes.

* **Hangs.** Every spec test has a time limit (``--spec-timeout S``, default ``DEFAULT_TIMEOUT``;
  ``0`` turns it off; a test's own ``@pytest.mark.timeout`` wins). pytest-timeout applies it; this
  module supplies the timer: SIGALRM raising ``SpecTimeout``, a ``BaseException`` so that neither
  the spec nor hypothesis (which catches ``pytest.fail`` and would re-run the hanging example to
  shrink it) swallows it. The record says ``timed out after 30 s in relu()``, naming the adapter
  function the spec had called (spec/plugin.py finds it on the stack).
* **Memory.** ``--spec-memory MB`` caps each test process's address space (RLIMIT_AS) at what it
  holds when the tests start (Python, NumPy, the collected spec) plus MB; an allocation beyond
  fails with MemoryError and the test with "exceeded the memory limit of MB MB".
* **Crashes.** ``os._exit``, a segfault or an abort end the process that runs the test. With
  isolation on, tests run in pytest-xdist workers: the controller records the test that was
  running as failed, kind "crash", naming the exit code or signal, and xdist starts a new worker
  for the remaining tests. ``sys.exit()`` raises SystemExit, which fails the one test (kind
  "crash") in any mode.

Isolation (``--spec-isolation auto|on|off``): ``auto``, the default, is on when grading an adapter
other than the reference (``--impl``/``NUMGPT_IMPL``) and off for the reference, whose default
run stays in one process (as fast as before). On means ``-n auto`` (one worker per core) unless
``-n`` is given, unlimited worker restarts unless ``--max-worker-restart`` is given, and a check
in a subprocess, before any test, that the adapter can be imported at all.
"""
from __future__ import annotations

import gc
import importlib.util
import resource
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

DEFAULT_TIMEOUT = 30.0  # s per spec test: ~10x the slowest reference spec test (3.4 s at load 10 on 2 cores)
PREFLIGHT_TIMEOUT = 60.0  # s at least, for importing the adapter (and NumPy, and the submission's package)
UNLIMITED_RESTARTS = "1000000"
ROOT = Path(__file__).resolve().parents[1]


class SpecTimeout(BaseException):
    """A spec test ran past its time limit (a BaseException: no ``except Exception`` swallows it)."""

    def __init__(self, seconds: float):
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


def addoption(group: Any) -> None:
    group.addoption("--spec-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                    help=f"time limit per spec test in seconds (default {DEFAULT_TIMEOUT:g}; 0: none)")
    group.addoption("--spec-memory", type=float, default=None, metavar="MB",
                    help="memory a test process may allocate beyond its size at the start, in MB (default: no limit)")
    group.addoption("--spec-isolation", choices=("auto", "on", "off"), default="auto",
                    help="run tests in pytest-xdist workers so a crash fails one test (auto: on unless grading the reference)")


def describe_exit(code: int | None) -> str:
    """A process's exit status in words: "exited with code 3", "killed by signal 11 (SIGSEGV)"."""
    if code is None:
        return "ended (exit status unknown)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    return f"exited with code {code}"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _distributed(config: pytest.Config) -> bool:
    return getattr(config.option, "dist", "no") != "no" and bool(getattr(config.option, "tx", None))


def configure_workers(config: pytest.Config, grading_the_reference: bool) -> None:
    """Turn on pytest-xdist workers when isolation is on (called from pytest_cmdline_main)."""
    mode = config.getoption("--spec-isolation")
    if is_worker(config) or config.getoption("collectonly") or mode == "off" or (mode == "auto" and grading_the_reference):
        return
    if importlib.util.find_spec("xdist") is None or not config.pluginmanager.hasplugin("xdist"):
        if mode == "on":
            raise pytest.UsageError("--spec-isolation on needs pytest-xdist (pip install pytest-xdist)")
        return
    if config.getoption("usepdb", False):
        return
    if config.option.numprocesses is None:
        config.option.numprocesses = "auto"
    if config.option.maxworkerrestart is None:
        config.option.maxworkerrestart = UNLIMITED_RESTARTS
    config._numgpt_isolated = True


def memory_limit_mb(config: pytest.Config) -> float | None:
    return config.getoption("--spec-memory", None)


def add_time_limits(config: pytest.Config, spec_items: list[pytest.Item]) -> None:
    """Give every spec test without a timeout marker of its own the ``--spec-timeout`` limit."""
    seconds = config.getoption("--spec-timeout")
    if not seconds or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in spec_items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(seconds))


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def limit_memory(megabytes: float) -> None:
    """Cap this process's address space at its current size plus ``megabytes``."""
    limit = _address_space() + int(megabytes * 2**20)
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def release_memory(exc: BaseException) -> None:
    """Free what a MemoryError's frames still hold (their locals: the list that grew without bound)."""
    traceback.clear_frames(exc.__traceback__)
    gc.collect()


# A subprocess that imports the adapter, under the same limits, before any test runs.
_PREFLIGHT = """
import sys
sys.path.insert(0, sys.argv[1])
from spec.isolation import limit_memory
if sys.argv[3]:
    limit_memory(float(sys.argv[3]))
from spec.plugin import load_adapter
load_adapter(sys.argv[2])
"""


def preflight(spec: str, seconds: float, megabytes: float | None) -> str | None:
    """Import the adapter in a subprocess: None if it loads, else why it cannot be graded."""
    cmd = [sys.executable, "-c", _PREFLIGHT, str(ROOT), spec, "" if megabytes is None else str(megabytes)]
    seconds = max(seconds or 0, PREFLIGHT_TIMEOUT)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return f"cannot load the adapter {spec!r}: importing it did not finish within {seconds:g} s"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    if done.returncode > 0 and lines and not lines[-1].startswith(" "):
        return f"cannot load the adapter {spec!r}: {lines[-1].strip()}"
    return f"cannot load the adapter {spec!r}: the process importing it {describe_exit(done.returncode)}"


class Isolation:
    """The hooks: the timer for pytest-timeout, the memory limit, and (controller) crash records."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.exit_codes: dict[str, int | None] = {}
        self.collected: list[str] = []
        self.distributed = _distributed(config)

    # -- time limit
    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        if (item.get_closest_marker("milestone") is None or not hasattr(signal, "setitimer")
                or threading.current_thread() is not threading.main_thread()):
            return None  # pytest-timeout's own timer
        seconds = settings.timeout

        def handler(signum: int, frame: Any) -> None:
            raise SpecTimeout(seconds)

        previous = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, seconds)

        def cancel() -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

        item.cancel_timeout = cancel
        return True

    # -- memory limit, in the process that runs the tests
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        megabytes = memory_limit_mb(self.config)
        if megabytes and not self.distributed:
            limit_memory(megabytes)

    # -- crashes (controller, with xdist)
    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.collected:
            self.collected = list(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if not error:
            return
        popen = getattr(getattr(node.gateway, "_io", None), "popen", None)  # execnet's subprocess.Popen
        try:
            self.exit_codes[node.gateway.id] = popen.wait(timeout=10) if popen is not None else None
        except subprocess.TimeoutExpired:
            self.exit_codes[node.gateway.id] = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        worker = getattr(report, "node", None)
        code = self.exit_codes.get(worker.gateway.id) if worker is not None else None
        message = f"the test process crashed: {describe_exit(code)}"
        report.longrepr = f"{message} (while running {crashitem}; pytest-xdist started a new worker for the other tests)"
        report.numgpt_spec = {"milestone": None, "outcome": "failed", "kind": "crash", "where": None,
                              "message": message, "details": report.longrepr, "also": []}


def check_adapter(config: pytest.Config, spec: str) -> str | None:
    """With isolation on, import the adapter in a subprocess before any test: why it cannot be
    graded (an import error, a crash, a hang while importing), or None."""
    if not getattr(config, "_numgpt_isolated", False) or is_worker(config):
        return None
    return preflight(spec, config.getoption("--spec-timeout"), memory_limit_mb(config))


def register(config: pytest.Config) -> None:
    config._numgpt_isolation = Isolation(config)
    config.pluginmanager.register(config._numgpt_isolation, "numgpt-isolation")


def collected_ids(config: pytest.Config) -> list[str]:
    """The node ids the xdist workers collected (after -k / deselection), on the controller."""
    isolation = getattr(config, "_numgpt_isolation", None)
    return list(isolation.collected) if isolation is not None else []
