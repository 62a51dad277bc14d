"""Points: what a grade is worth, per milestone or per test, from a TOML file (spec/points.toml).

``load(path)`` reads and checks the file; ``score(results, points)`` turns the plugin's grade
records into points per test, per milestone and in total. Used by ``--gradescope``
(spec/gradescope.py) and the batch grader's CSV (spec/batch.py)."""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "points.toml"
ENTRIES = ("milestone", "test")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's


@dataclass
class Points:
    milestones: dict[str, float]
    tests: dict[str, float] = field(default_factory=dict)  # node id or fnmatch pattern -> points
    entries: str = "milestone"
    visibility: str = "visible"

    def of_test(self, name: str) -> float | None:
        """The test's own points ([tests]), or None when it shares its milestone's."""
        return next((p for pattern, p in self.tests.items() if fnmatch.fnmatchcase(name, pattern)), None)


def _number(source: Path, table: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{source}: [{table}] {key} = {value!r}: points must be a number >= 0")
    return float(value)


def load(path: str | Path | None = None) -> Points:
    """Read a points file (default spec/points.toml); a clear ValueError names a bad entry."""
    source = Path(path) if path else DEFAULT
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise ValueError(f"points file {source} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{source}: not valid TOML: {e}") from None
    unknown = set(data) - {"milestones", "tests", "gradescope"}
    if unknown:
        raise ValueError(f"{source}: unknown tables {sorted(unknown)} (expected [milestones], [tests], [gradescope])")
    milestones = {m: _number(source, "milestones", m, v) for m, v in data.get("milestones", {}).items()}
    tests = {t: _number(source, "tests", t, v) for t, v in data.get("tests", {}).items()}
    gradescope = data.get("gradescope", {})
    entries, visibility = gradescope.get("entries", "milestone"), gradescope.get("visibility", "visible")
    if entries not in ENTRIES:
        raise ValueError(f"{source}: [gradescope] entries = {entries!r}: expected one of {ENTRIES}")
    if visibility not in VISIBILITIES:
        raise ValueError(f"{source}: [gradescope] visibility = {visibility!r}: expected one of {VISIBILITIES}")
    return Points(milestones, tests, entries, visibility)


@dataclass
class Score:
    tests: dict[str, tuple[float, float]]  # node id -> (earned, max)
    milestones: dict[str, tuple[float, float]]
    total: tuple[float, float]


def score(results: dict[str, dict], points: Points) -> Score:
    """Points earned and available, per test, per milestone and in total (skipped tests count for
    nothing either way: an optional tier whose dependency is missing does not lower a grade)."""
    sharing: dict[str, list[str]] = {m: [] for m in points.milestones}
    tests: dict[str, tuple[float, float]] = {}
    for name, record in sorted(results.items()):
        own = points.of_test(name)
        if record["outcome"] == "skipped":
            tests[name] = (0.0, 0.0)
        elif own is not None:
            tests[name] = (own if record["outcome"] == "passed" else 0.0, own)
        else:
            sharing.setdefault(record["milestone"], []).append(name)
    for milestone, names in sharing.items():
        share = points.milestones.get(milestone, 0.0) / len(names) if names else 0.0
        for name in names:
            tests[name] = (share if results[name]["outcome"] == "passed" else 0.0, share)
    milestones = {m: [0.0, 0.0 if sharing.get(m) else points.milestones.get(m, 0.0)] for m in points.milestones}
    for name, (earned, available) in tests.items():
        m = milestones.setdefault(results[name]["milestone"], [0.0, 0.0])
        m[0] += earned
        m[1] += available
    rounded = {m: (round(e, 4), round(a, 4)) for m, (e, a) in milestones.items()}
    total = (round(sum(e for e, _ in rounded.values()), 4), round(sum(a for _, a in rounded.values()), 4))
    return Score({n: (round(e, 4), round(a, 4)) for n, (e, a) in tests.items()}, rounded, total)
