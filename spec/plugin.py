"""The spec's pytest plugin: choose the implementation, report "not implemented", grade.

* ``--impl PATH_OR_MODULE`` (or the env var ``NUMGPT_IMPL``) selects the adapter module; the
  default is ``spec/reference_adapter.py`` (numgpt, the reference implementation).
* Spec tests get the adapter through the ``impl`` fixture. Calling an adapter function that is
  missing, or that raises ``NotImplementedError`` (as every function of
  ``spec/adapter_template.py`` does), ends the test as *not implemented* with a one-line reason,
  instead of a failure with a traceback.
* Every spec test carries a milestone (``pytestmark = pytest.mark.milestone("M1")``). At the end of
  a run the plugin prints passed / failed / not implemented per milestone, and
  ``--grade-json FILE`` writes the same, plus one record per test, for autograders.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

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
}
NOT_IMPLEMENTED = "not implemented"


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
    """Import an adapter from a file path (``x/y.py``) or a module name (``pkg.mod``)."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec)
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (ROOT / path)
        if not path.is_file():
            raise pytest.UsageError(f"--impl: no adapter file at {path}")
        if str(ROOT) not in sys.path:  # adapters may import `spec.reference_adapter` to reuse it
            sys.path.insert(0, str(ROOT))
        name = f"numgpt_spec_adapter_{abs(hash(str(path)))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return Adapter(module, str(path))
    try:
        return Adapter(importlib.import_module(spec), spec)
    except ImportError as e:
        raise pytest.UsageError(f"--impl: cannot import adapter module {spec!r}: {e}") from None


# ----------------------------------------------------------------------------- pytest hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("numgpt spec")
    group.addoption(
        "--impl",
        default=None,
        help="adapter to grade: a .py file or a module name (default: $NUMGPT_IMPL, else the numgpt reference)",
    )
    group.addoption("--grade-json", default=None, metavar="FILE", help="write the spec's results as JSON")
    group.addoption("--bench", action="store_true", default=False, help="run the benchmarks (tests marked bench)")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--grade-json")
    if path and not Path(path).resolve().parent.is_dir():
        raise pytest.UsageError(f"--grade-json {path}: the folder {Path(path).resolve().parent} does not exist")
    config._numgpt_grader = Grader()
    config.pluginmanager.register(config._numgpt_grader, "numgpt-grader")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Adapter:
    """The implementation under test, as an adapter module (see spec/adapter_template.py).

    An adapter that cannot be loaded (no such file, an import or syntax error inside it) stops the
    whole run with one message, instead of one identical error per test."""
    spec = impl_spec(request.config)
    try:
        return load_adapter(spec)
    except Exception as e:  # noqa: BLE001 - any failure to import the user's adapter ends the run
        pytest.exit(f"cannot load the adapter {spec!r}: {type(e).__name__}: {e}", returncode=4)


def _milestone(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("milestone")
    return marker.args[0] if marker and marker.args else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    milestone = _milestone(item)
    if milestone is None:
        return
    report.user_properties.append(("milestone", milestone))
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError) and report.failed:
        reason = str(call.excinfo.value).strip().splitlines()[0] if str(call.excinfo.value).strip() else ""
        if not reason:
            tb = call.excinfo.traceback
            reason = f"{tb[-1].name}() raised NotImplementedError" if len(tb) else "NotImplementedError"
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"{NOT_IMPLEMENTED}: {reason}")
        report.user_properties.append(("not_implemented", True))


class Grader:
    """Collects one record per spec test (name, milestone, outcome, message)."""

    def __init__(self) -> None:
        self.results: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "milestone" not in props or not (report.when == "call" or report.outcome != "passed"):
            return
        previous = self.results.get(report.nodeid)
        if previous is not None and previous["outcome"] != "passed":
            return  # keep the first non-pass (a failed setup, say)
        if props.get("not_implemented"):
            outcome, message = NOT_IMPLEMENTED, report.longrepr[2]
        elif report.skipped:
            outcome = "skipped"
            message = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        elif report.failed:
            outcome = "failed"
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr).splitlines()[-1]
        else:
            outcome, message = "passed", ""
        self.results[report.nodeid] = {
            "name": report.nodeid,
            "milestone": props["milestone"],
            "outcome": outcome,
            "message": message,
        }


def summarize(results: dict[str, dict]) -> dict[str, dict[str, int]]:
    table = {m: {"passed": 0, "failed": 0, NOT_IMPLEMENTED: 0, "skipped": 0} for m in MILESTONES}
    for record in results.values():
        table.setdefault(record["milestone"], {"passed": 0, "failed": 0, NOT_IMPLEMENTED: 0, "skipped": 0})
        table[record["milestone"]][record["outcome"]] += 1
    return table


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = config._numgpt_grader.results
    if not results:
        return
    table = summarize(results)
    tr = terminalreporter
    tr.write_sep("=", f"numgpt spec grade for {impl_spec(config)}")
    tr.write_line(f"{'milestone':<28}{'passed':>8}{'failed':>8}{'not impl.':>11}{'skipped':>9}")
    for m, counts in table.items():
        if not any(counts.values()):
            continue
        label = f"{m} {MILESTONES.get(m, '')}"
        tr.write_line(
            f"{label:<28}{counts['passed']:>8}{counts['failed']:>8}{counts[NOT_IMPLEMENTED]:>11}{counts['skipped']:>9}"
        )
    path = config.getoption("--grade-json")
    if path:
        payload = {
            "impl": impl_spec(config),
            "summary": {m: c for m, c in table.items() if any(c.values())},
            "tests": sorted(results.values(), key=lambda r: r["name"]),
        }
        Path(path).write_text(json.dumps(payload, indent=2))
        tr.write_line(f"grade written to {path}")
