"""The spec's pytest plugin: choose the implementation, report "not implemented", grade.

* ``--impl PATH_OR_MODULE`` (or the env var ``NUMGPT_IMPL``) selects the adapter module; the
  default is ``spec/reference_adapter.py`` (numgpt, the reference implementation).
* Spec tests get the adapter through the ``impl`` fixture. Calling an adapter function that is
  missing, or that raises ``NotImplementedError`` (as every function of
  ``spec/adapter_template.py`` does), ends the test as *not implemented* with a one-line reason,
  instead of a failure with a traceback (pytest's summary line counts them as "not implemented").
* Every spec test carries a milestone (``pytestmark = pytest.mark.milestone("M1")``). At the end of
  a run the plugin prints passed / failed / not implemented per milestone, and
  ``--grade-json FILE`` writes the same, plus one record per test (see ``describe_failure`` for
  the failure fields: kind, where, message, details), ``--gradescope FILE`` Gradescope's format.
* A submission cannot take the grader down (spec/isolation.py): per-test time limit
  (``--spec-timeout``), memory limit (``--spec-memory``), and, when grading a foreign adapter,
  pytest-xdist worker processes, so a crash of the process fails one test and the run goes on.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import re
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

import pytest

from spec import isolation

SPEC_DIR = Path(__file__).resolve().parent
ROOT = SPEC_DIR.parent
DEFAULT_IMPL = str(SPEC_DIR / "reference_adapter.py")
MILESTONES = {
    "M1": "Tensor + autograd",
    "M2": "layers (nn)",
    "M3": "attention",
    "M4": "transformer / GPT",
    "M5": "BPE tokenizer",
    "M6": "training",
    "M7": "sampling",
    "M8": "modern blocks",
}
NOT_IMPLEMENTED = "not implemented"
OUTCOMES = ("passed", "failed", NOT_IMPLEMENTED, "skipped")
# A failure's kind (the record's "kind"): which part of the run it arose in.
KINDS = ("assertion", "error", "timeout", "crash", "memory")

# Files under spec/ that are not spec checks: the grader itself and the adapters shipped with it.
GRADER_FILES = {SPEC_DIR / f"{name}.py" for name in ("plugin", "isolation", "points", "gradescope", "batch")}
ADAPTER_FILES = {SPEC_DIR / "reference_adapter.py", SPEC_DIR / "adapter_template.py"}
LIBRARY_DIRS = tuple({Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")})


class AdapterFunctionMissing(NotImplementedError):
    """Raised when the spec calls a function the adapter module does not define."""


class Adapter:
    """A thin proxy over the adapter module: missing functions raise ``NotImplementedError``."""

    def __init__(self, module: Any, source: str):
        self._module = module
        self._source = source

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._module, name)
        except AttributeError:
            if name.startswith("_"):  # private/dunder lookups (pretty printers, pickling) are not contracts
                raise

            def missing(*args: Any, **kwargs: Any) -> Any:
                raise AdapterFunctionMissing(f"the adapter ({self._source}) does not define {name}()")

            return missing

    def has(self, name: str) -> bool:
        return hasattr(self._module, name)

    def __repr__(self) -> str:
        return f"<adapter {self._source}>"


def load_adapter(spec: str) -> Adapter:
    """Import an adapter from a file path (``x/y.py``) or a module name (``pkg.mod``).

    A file's own folder goes on ``sys.path`` so the adapter can import modules beside it (a
    submission's package), and so does the repository (adapters may import
    ``spec.reference_adapter`` to reuse it)."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec)
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (ROOT / path)
        if not path.is_file():
            raise pytest.UsageError(f"--impl: no adapter file at {path}")
        path = path.resolve()
        for folder in (str(ROOT), str(path.parent)):
            if folder not in sys.path:
                sys.path.insert(0, folder)
        ADAPTER_FILES.add(path)
        name = f"numgpt_spec_adapter_{abs(hash(str(path)))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return Adapter(module, spec)
    try:
        module = importlib.import_module(spec)
    except ImportError as e:
        raise pytest.UsageError(f"--impl: cannot import adapter module {spec!r}: {e}") from None
    if getattr(module, "__file__", None):
        ADAPTER_FILES.add(Path(module.__file__).resolve())
    return Adapter(module, spec)


# ----------------------------------------------------------------------------- failure records


@functools.lru_cache(maxsize=4096)
def _path(filename: str) -> Path | None:
    return None if filename.startswith("<") else Path(filename).resolve()


def _is_spec_check(filename: str) -> bool:
    """A frame of the spec's own checks (spec/test_*.py, numerics, oracles), not of the grader or an adapter."""
    path = _path(filename)
    return path is not None and SPEC_DIR in path.parents and path not in GRADER_FILES and path not in ADAPTER_FILES


def _is_grader(filename: str) -> bool:
    return _path(filename) in GRADER_FILES


def _is_library(filename: str) -> bool:
    path = _path(filename)
    return path is None or any(d in path.parents for d in LIBRARY_DIRS)


def _location(frame: traceback.FrameSummary) -> str:
    path = _path(frame.filename)
    if path is not None and ROOT in path.parents:
        return f"{path.relative_to(ROOT).as_posix()}:{frame.lineno}"
    return f"{frame.filename}:{frame.lineno}"


def locate(exc: BaseException) -> tuple[str | None, str | None]:
    """Where an exception arose, and the adapter function the spec had called (or None).

    The frames after the innermost spec frame are the implementation's (the grader's own frames,
    a signal handler say, are left out). ``where`` is the innermost of them outside the standard
    library and site-packages (a NumPy error is reported at the implementation's line that called
    NumPy), else the spec's line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_grader(f.filename)]
    spec_frames = [i for i, f in enumerate(frames) if _is_spec_check(f.filename)]
    inner = frames[spec_frames[-1] + 1:] if spec_frames else frames
    own = [f for f in inner if not _is_library(f.filename)]
    if own:
        return _location(own[-1]), own[0].name
    if spec_frames:
        return _location(frames[spec_frames[-1]]), None
    return (_location(frames[-1]) if frames else None), None


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def _not_implemented_reason(exc: BaseException) -> str:
    reason = _first_line(str(exc))
    if not reason:
        frames = traceback.extract_tb(exc.__traceback__)
        reason = f"{frames[-1].name}() raised NotImplementedError" if frames else "NotImplementedError"
    return f"{NOT_IMPLEMENTED}: {reason}"


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside an exception group (hypothesis raises one for several distinct failures)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _describe_one(exc: BaseException, memory_mb: float | None) -> dict[str, Any]:
    where, function = locate(exc)
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    message = _first_line(text)
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, isolation.SpecTimeout):
        kind = "timeout"
        message = f"timed out after {exc.seconds:g} s in " + (f"{function}()" if function else where or "the test")
    elif isinstance(exc, MemoryError):
        kind = "memory"
        message = (f"exceeded the memory limit of {memory_mb:g} MB" if memory_mb
                   else f"ran out of memory ({message})")
    elif isinstance(exc, SystemExit):
        kind = "crash"
        message = f"the process exit was requested with sys.exit({exc.code!r})" + (f" in {function}()" if function else "")
    elif isinstance(exc, AssertionError) and frames and _is_spec_check(frames[-1].filename):
        kind = "assertion"
        where = _location(frames[-1])
    elif isinstance(exc, pytest.fail.Exception) and (own := [f for f in frames if not _is_library(f.filename)]) \
            and _is_spec_check(own[-1].filename):
        kind = "assertion"  # the spec's own pytest.fail(): a check, like an assert
        where = _location(own[-1])
    else:
        kind = "error"
    return {"outcome": "failed", "kind": kind, "where": where, "message": message, "details": text}


def describe_failure(exc: BaseException, memory_mb: float | None = None) -> dict[str, Any]:
    """The grade record fields of a test that raised ``exc``.

    * ``outcome``: "failed", or "not implemented" when every exception is a NotImplementedError;
    * ``kind``: "assertion" (an AssertionError raised by a check in spec/, or the spec's own
      ``pytest.fail()``: a wrong value or behaviour), "error"
      (any other exception, including an AssertionError raised inside the implementation),
      "timeout", "crash" (the process died or called sys.exit), "memory" (MemoryError);
    * ``where``: ``path:line`` of the spec check for an assertion, else of the innermost frame in
      the implementation (or of the spec line, when the error arose in the spec's own code);
    * ``message``: one line; ``details``: the full text (hypothesis's falsifying example included);
    * ``also``: the one-line messages of the other distinct failures hypothesis found, if any.

    A hypothesis test that finds several distinct failures raises an exception group: the
    not-implemented ones are reported as such (in ``also``), the real failure (a spec assertion
    first) gives the record its kind and message."""
    leaves = _leaves(exc)
    real = [e for e in leaves if not isinstance(e, NotImplementedError)]
    not_implemented = [_not_implemented_reason(e) for e in leaves if isinstance(e, NotImplementedError)]
    if not real:
        return {"outcome": NOT_IMPLEMENTED, "kind": None, "where": locate(leaves[0])[0],
                "message": not_implemented[0], "details": "\n".join(dict.fromkeys(not_implemented)), "also": []}
    described = [_describe_one(e, memory_mb) for e in real]
    described.sort(key=lambda d: d["kind"] != "assertion")  # stable: the first spec assertion leads
    record = dict(described[0])
    record["also"] = list(dict.fromkeys([d["message"] for d in described[1:]] + not_implemented))
    if len(leaves) > 1:
        record["details"] += "".join(f"\n\nalso: {line}" for line in record["also"])
    return record


# ----------------------------------------------------------------------------- pytest hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("numgpt spec")
    group.addoption(
        "--impl",
        default=None,
        help="adapter to grade: a .py file or a module name (default: $NUMGPT_IMPL, else the numgpt reference)",
    )
    group.addoption("--grade-json", default=None, metavar="FILE", help="write the spec's results as JSON")
    group.addoption("--gradescope", default=None, metavar="FILE",
                    help="write Gradescope's autograder results.json (points from --spec-points)")
    group.addoption("--spec-points", default=None, metavar="TOML",
                    help="points per milestone / per test for --gradescope and the batch CSV (default spec/points.toml)")
    group.addoption("--spec-stop-at-assertion", action="store_true", default=False,
                    help="stop the run at the first failure that is a spec assertion (mutation testing)")
    group.addoption("--bench", action="store_true", default=False, help="run the benchmarks (tests marked bench)")
    isolation.addoption(group)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    isolation.configure_workers(config, grading_the_reference=is_reference(impl_spec(config)))


def pytest_configure(config: pytest.Config) -> None:
    for option in ("--grade-json", "--gradescope"):
        path = config.getoption(option)
        if path and not Path(path).resolve().parent.is_dir():
            raise pytest.UsageError(f"{option} {path}: the folder {Path(path).resolve().parent} does not exist")
    if config.getoption("--gradescope") or config.getoption("--spec-points"):
        from spec import points

        try:
            config._numgpt_points = points.load(config.getoption("--spec-points"))
        except ValueError as e:
            raise pytest.UsageError(str(e)) from None
    config._numgpt_grader = Grader(config)
    config.pluginmanager.register(config._numgpt_grader, "numgpt-grader")
    isolation.register(config)
    error = isolation.check_adapter(config, impl_spec(config))
    if error:  # the outputs still say why the submission scored nothing
        write_outputs(config, {}, error)
        raise pytest.UsageError(error)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    isolation.add_time_limits(config, [i for i in items if _milestone(i) and not i.get_closest_marker("bench")])
    if config.getoption("--bench"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("bench") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def impl_spec(config: pytest.Config) -> str:
    return config.getoption("--impl") or os.environ.get("NUMGPT_IMPL") or DEFAULT_IMPL


def is_reference(spec: str) -> bool:
    """Whether ``--impl`` names the shipped reference adapter (graded in-process by default)."""
    return spec in (DEFAULT_IMPL, "spec.reference_adapter") or (ROOT / spec).resolve() == Path(DEFAULT_IMPL)


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Adapter:
    """The implementation under test, as an adapter module (see spec/adapter_template.py).

    An adapter that cannot be loaded (no such file, an import or syntax error inside it) stops the
    whole run with one message, instead of one identical error per test."""
    spec = impl_spec(request.config)
    try:
        return load_adapter(spec)
    except Exception as e:  # noqa: BLE001 - any failure to import the user's adapter ends the run
        request.config._numgpt_grader.load_error = f"cannot load the adapter {spec!r}: {type(e).__name__}: {e}"
        pytest.exit(request.config._numgpt_grader.load_error, returncode=4)


def _milestone(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("milestone")
    return marker.args[0] if marker and marker.args else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    milestone = _milestone(item)
    record: dict[str, Any] = {"milestone": milestone, "outcome": None, "kind": None, "where": None,
                              "message": "", "details": "", "also": []}
    if call.excinfo is not None and call.excinfo.errisinstance(MemoryError):
        isolation.release_memory(call.excinfo.value)  # before pytest formats the report, which needs memory too
    if milestone is not None and call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
        record.update(describe_failure(call.excinfo.value, isolation.memory_limit_mb(item.config)))
        if record["kind"] in ("timeout", "memory"):  # pytest's own report then says it too
            call.excinfo.value.args = (record["message"],)
    outcome = yield
    report = outcome.get_result()
    if milestone is None:
        return
    report.user_properties.append(("milestone", milestone))
    if record["outcome"] == NOT_IMPLEMENTED and report.failed:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, record["message"])
        report.user_properties.append(("not_implemented", True))
    elif report.failed:
        if record["outcome"] is None:  # failed without an exception of the test's own (strict xfail, say)
            record.update(outcome="failed", kind="error", message=_first_line(str(report.longrepr)),
                          details=str(report.longrepr))
        failure = [("kind", record["kind"]), ("where", record["where"])]
        report.user_properties += failure
        item.user_properties += failure  # copied into the teardown report, whose properties --junitxml writes
    elif report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        record.update(outcome="skipped", kind=None, where=None, message=reason, details=reason)
    else:
        record.update(outcome="passed", kind=None, where=None, message="", details="")
    report.numgpt_spec = record  # travels with the report from an xdist worker to the controller


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    """pytest's summary line counts not-implemented tests as "not implemented", as the table does."""
    record = getattr(report, "numgpt_spec", None)
    if record and record.get("outcome") == NOT_IMPLEMENTED and report.skipped:
        return NOT_IMPLEMENTED, "n", "NOT IMPLEMENTED"
    return None


def milestone_of_file(path: str) -> str | None:
    """The milestone a spec file's name declares (``spec/test_m3_*.py`` -> M3), for tests whose
    process died before reporting their marker. tests/test_spec_plugin.py checks it agrees."""
    match = re.match(r"test_m(\d+)_", Path(path).name)
    return f"M{match.group(1)}" if match and Path(path).parent.name == "spec" else None


class Grader:
    """Collects one record per spec test: name, milestone, outcome, kind, where, message, details."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, dict] = {}
        self.file_milestones: dict[str, str] = {}
        self.session: pytest.Session | None = None
        self.load_error: str | None = None
        self.selected: list[str] = []  # the spec tests this process collected (none on an xdist controller)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "numgpt_spec", None)
        if record is None:
            return
        path = report.nodeid.split("::")[0]
        milestone = record.get("milestone") or self.milestone_of(path)
        if milestone is None:
            return
        self.file_milestones.setdefault(path, milestone)
        if not (report.when == "call" or report.outcome != "passed"):
            return
        previous = self.results.get(report.nodeid)
        if previous is not None and previous["outcome"] != "passed":
            return  # keep the first non-pass (a failed setup, say)
        self.results[report.nodeid] = {"name": report.nodeid, **record, "milestone": milestone}
        if record.get("kind") == "assertion" and self.config.getoption("--spec-stop-at-assertion") and self.session:
            self.session.shouldstop = "a spec assertion failed (--spec-stop-at-assertion)"

    def milestone_of(self, path: str) -> str | None:
        """A spec file's milestone: as its tests reported it, else as its name declares it."""
        return self.file_milestones.get(path) or milestone_of_file(path)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = [item.nodeid for item in session.items if _milestone(item)]

    def record_not_run(self, exitstatus: int) -> None:
        """Complete the records: a selected spec test the run never reported is failed. That
        happens when the run is interrupted (Ctrl-C; the batch grader's --submission-timeout
        interrupts a submission that ran out of time) or when xdist gave up restarting workers
        that crashed. Not after -x or --spec-stop-at-assertion: that stop was asked for."""
        session = self.session
        if self.load_error or session is None or (exitstatus != pytest.ExitCode.INTERRUPTED and
                                                  (session.shouldstop or session.shouldfail)):
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            kind, message = "timeout", "not finished: the run was interrupted (Ctrl-C, or the batch grader's --submission-timeout)"
        else:
            kind, message = "crash", "not run: the test processes crashed too often (--max-worker-restart)"
        for nodeid in self.selected or isolation.collected_ids(self.config):
            milestone = self.milestone_of(nodeid.split("::")[0])
            if milestone and nodeid not in self.results:
                self.results[nodeid] = {"name": nodeid, "milestone": milestone, "outcome": "failed", "kind": kind,
                                        "where": None, "message": message, "details": message, "also": []}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if isolation.is_worker(self.config):
            return  # an xdist worker: the controller writes the files
        self.record_not_run(exitstatus)
        write_outputs(self.config, self.results, self.load_error)


def summarize(results: dict[str, dict]) -> dict[str, dict[str, int]]:
    table = {m: dict.fromkeys(OUTCOMES, 0) for m in MILESTONES}
    for record in results.values():
        table.setdefault(record["milestone"], dict.fromkeys(OUTCOMES, 0))
        table[record["milestone"]][record["outcome"]] += 1
    return table


def count_kinds(results: dict[str, dict]) -> dict[str, int]:
    kinds = dict.fromkeys(KINDS, 0)
    for record in results.values():
        if record["outcome"] == "failed":
            kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
    return kinds


def grade_payload(impl: str, results: dict[str, dict], load_error: str | None = None) -> dict[str, Any]:
    table = summarize(results)
    return {
        "impl": impl,
        "error": load_error,
        "summary": {m: c for m, c in table.items() if any(c.values())},
        "failure_kinds": count_kinds(results),
        "tests": sorted(results.values(), key=lambda r: r["name"]),
    }


def write_outputs(config: pytest.Config, results: dict[str, dict], load_error: str | None) -> None:
    path = config.getoption("--grade-json")
    if path:
        Path(path).write_text(json.dumps(grade_payload(impl_spec(config), results, load_error), indent=2))
    path = config.getoption("--gradescope")
    if path:
        from spec import gradescope

        Path(path).write_text(json.dumps(gradescope.results(results, config._numgpt_points, load_error), indent=2))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    grader = config._numgpt_grader
    results = grader.results
    tr = terminalreporter
    if grader.load_error:
        tr.write_sep("=", f"numgpt spec: {grader.load_error}", red=True)
    if not results:
        return
    table = summarize(results)
    tr.write_sep("=", f"numgpt spec grade for {impl_spec(config)}")
    tr.write_line(f"{'milestone':<28}{'passed':>8}{'failed':>8}{'not impl.':>11}{'skipped':>9}")
    for m, counts in table.items():
        if not any(counts.values()):
            continue
        label = f"{m} {MILESTONES.get(m, '')}"
        tr.write_line(
            f"{label:<28}{counts['passed']:>8}{counts['failed']:>8}{counts[NOT_IMPLEMENTED]:>11}{counts['skipped']:>9}"
        )
    kinds = {k: n for k, n in count_kinds(results).items() if n}
    if kinds:
        tr.write_line("failed, by kind: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    for option in ("--grade-json", "--gradescope"):
        if config.getoption(option):
            tr.write_line(f"{option[2:]} written to {config.getoption(option)}")

