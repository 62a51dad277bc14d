"""Gradescope's autograder results format (``--gradescope results.json``).

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ ("Output format"): a top-level
``score`` and ``output``, and ``tests``, each with ``name``, ``score``, ``max_score``, ``status``
("passed"/"failed"), ``output`` and ``visibility``. Points come from spec/points.toml (spec/points.py):
one Gradescope test per milestone by default (its output lists every test that did not pass, with
its one-line message), or one per spec test (``entries = "test"``)."""
from __future__ import annotations

from typing import Any

from spec import points as points_module
from spec.plugin import MILESTONES as MILESTONE_NAMES
from spec.plugin import OUTCOMES


def _tag(record: dict) -> str:
    """``[kind at where]`` (or ``[kind]``) of a failed record; "" when it has no kind."""
    if not record.get("kind"):
        return ""
    return f"[{record['kind']} at {record['where']}]" if record.get("where") else f"[{record['kind']}]"


def _line(record: dict) -> str:
    tag = _tag(record)
    return f"{record['outcome'].upper()}: {record['name']}: {record['message']}" + (f" {tag}" if tag else "")


def _milestone_entry(milestone: str, records: list[dict], earned: float, available: float, visibility: str) -> dict:
    counts = {o: sum(r["outcome"] == o for r in records) for o in OUTCOMES}
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no tests ran"
    lines = [_line(r) for r in records if r["outcome"] != "passed"]
    return {
        "name": f"{milestone} {MILESTONE_NAMES.get(milestone, '')}".strip(),
        "score": earned,
        "max_score": available,
        "status": "passed" if records and counts["passed"] + counts["skipped"] == len(records) else "failed",
        "output": "\n".join([summary, *lines]),
        "visibility": visibility,
    }


def _test_entry(record: dict, earned: float, available: float, visibility: str) -> dict:
    output = record["message"] if record["outcome"] != "failed" else record["details"] or record["message"]
    if record.get("kind"):
        output = f"{_tag(record)} {output}"
    return {
        "name": record["name"],
        "score": earned,
        "max_score": available,
        "status": "passed" if record["outcome"] in ("passed", "skipped") else "failed",
        "output": output,
        "tags": [record["milestone"]] + ([record["kind"]] if record.get("kind") else []),
        "visibility": visibility,
    }


def results(records: dict[str, dict], points: points_module.Points, load_error: str | None = None) -> dict[str, Any]:
    """Gradescope's results.json for one submission's grade records."""
    scored = points_module.score(records, points)
    by_milestone: dict[str, list[dict]] = {}
    for record in sorted(records.values(), key=lambda r: r["name"]):
        by_milestone.setdefault(record["milestone"], []).append(record)
    if points.entries == "test":
        tests = [_test_entry(r, *scored.tests[r["name"]], points.visibility)
                 for m in scored.milestones for r in by_milestone.get(m, [])]
    else:
        tests = [_milestone_entry(m, by_milestone.get(m, []), *scored.milestones[m], points.visibility)
                 for m in scored.milestones]
    table = [f"{m} {MILESTONE_NAMES.get(m, '')}: {e:g} / {a:g}" for m, (e, a) in scored.milestones.items()]
    output = "\n".join(([load_error, ""] if load_error else []) + [f"total: {scored.total[0]:g} / {scored.total[1]:g}", *table])
    return {"score": scored.total[0], "output": output, "visibility": points.visibility, "tests": tests}
