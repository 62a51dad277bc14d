"""Grade a folder of submissions: ``python -m spec.batch SUBMISSIONS OUT [options] [-- pytest args]``.

A submission is an adapter module: a ``*.py`` file in SUBMISSIONS (named by its stem), or a
subfolder holding ``adapter.py`` (named by the folder; the folder goes on ``sys.path``, so the
adapter can import the submission's own package). Each is graded by its own pytest process, with
isolation on (``--spec-isolation on -n 1``: a crash fails one test, not the submission), the
per-test time and memory limits, and a wall-clock limit for the whole submission; ``--jobs``
submissions at once (default: one per core). Written to OUT:

* ``<name>.json``: the submission's grade (the ``--grade-json`` format; ``error`` says why a
  submission that could not be graded at all scored nothing);
* ``grades.csv``: one row per submission: total points, points per milestone (spec/points.toml
  or ``--points``), test counts, and the error if any.

A submission that crashes, hangs or cannot even be imported scores zero on what it broke; the
batch always goes on to the next one.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from spec import points as points_module
from spec.isolation import DEFAULT_TIMEOUT, describe_exit
from spec.plugin import MILESTONES, OUTCOMES, ROOT, grade_payload


def find_submissions(folder: Path) -> dict[str, Path]:
    """Submission name -> adapter file, sorted by name."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix == ".py" and path.name != "__init__.py":
            found[path.stem] = path
        elif path.is_dir() and (path / "adapter.py").is_file():
            found[path.name] = path / "adapter.py"
    return found


def grade_one(name: str, adapter: Path, out: Path, args: argparse.Namespace) -> dict:
    """Grade one submission in its own process group; always returns a grade payload."""
    grade_file = out / f"{name}.json"
    grade_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
           "--impl", str(adapter.resolve()), "--grade-json", str(grade_file.resolve()),
           "--spec-isolation", "on", "-n", "1", "--spec-timeout", str(args.spec_timeout)]
    if args.spec_memory:
        cmd += ["--spec-memory", str(args.spec_memory)]
    cmd += args.pytest_args or ["spec"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("NUMGPT_IMPL", None)
    log = out / f"{name}.log"
    error = None
    with open(log, "w") as log_file:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=args.submission_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the grading process group we started, workers included
            process.wait()
            code = None
            error = f"grading did not finish within {args.submission_timeout:g} s (--submission-timeout)"
    try:
        grade = json.loads(grade_file.read_text())
    except (OSError, ValueError):
        grade = grade_payload(str(adapter), {}, error or f"the grading process {describe_exit(code)} without a grade (see {log.name})")
        grade_file.write_text(json.dumps(grade, indent=2))
    return grade


def csv_row(name: str, grade: dict, points: points_module.Points) -> dict:
    records = {t["name"]: t for t in grade["tests"]}
    scored = points_module.score(records, points)
    row = {"submission": name, "score": scored.total[0], "max_score": scored.total[1]}
    row.update({m: scored.milestones.get(m, (0.0, 0.0))[0] for m in MILESTONES})
    row.update({outcome.replace(" ", "_"): sum(t["outcome"] == outcome for t in grade["tests"]) for outcome in OUTCOMES})
    row["error"] = grade.get("error") or ""
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spec.batch", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="folder of submissions (adapter .py files, or folders with adapter.py)")
    parser.add_argument("out", type=Path, help="folder for grades.csv and one <name>.json per submission")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: cores)")
    parser.add_argument("--spec-timeout", type=float, default=DEFAULT_TIMEOUT, help="time limit per test, s")
    parser.add_argument("--spec-memory", type=float, default=None, help="memory limit per test process, MB")
    parser.add_argument("--submission-timeout", type=float, default=3600.0, help="wall-clock limit per submission, s")
    parser.add_argument("--points", default=None, help="points file (default spec/points.toml)")
    parser.epilog = "after --: what pytest runs (default: spec), e.g. -- spec/test_m1_ops.py -k relu"
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = argv[split + 1:]
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    try:
        points = points_module.load(args.points)
    except ValueError as e:
        parser.error(str(e))
    submissions = find_submissions(args.submissions)
    if not submissions:
        parser.error(f"no submissions in {args.submissions} (expected *.py adapters or folders with adapter.py)")
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {name: pool.submit(grade_one, name, path, args.out, args) for name, path in submissions.items()}
        rows = []
        for name, future in futures.items():
            try:
                grade = future.result()
            except Exception as e:  # noqa: BLE001 - one submission's trouble never stops the batch
                grade = grade_payload(str(submissions[name]), {}, f"the batch could not grade it: {type(e).__name__}: {e}")
            row = csv_row(name, grade, points)
            rows.append(row)
            print(f"{name}: {row['score']:g} / {row['max_score']:g}" + (f"  ({row['error']})" if row["error"] else ""))
    with open(args.out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"grades written to {args.out / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
