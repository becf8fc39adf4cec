"""Speech matching: exam types and ICD-10-CM diagnoses, speed and accuracy.

Builds the exam catalog and the diagnosis index once (reporting time and memory), then
runs every labelled phrase in tests/data/ 20 times through match(), reporting per-query
time (mean, p50, p99), top-1 accuracy and the share of answers below the confirmation
threshold (score < 90: the flow reads the top choice back for a yes/no).

Then the recognizer transcripts (tests/data/recognizer_transcripts.csv: what a phone
recognizer hands over, by category) go through the questions of the real flows as a call
hears them (`ivr.engine.hearing.interpret`): per category top-1 accuracy, the share read
back for a yes/no, the share asked again, the share stored wrong without a confirmation,
and the time per answer.

    .venv/bin/python bench/match.py [--repeat 20] [--only transcripts|phrases]
"""

from __future__ import annotations

import argparse
import csv
import gc
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import transcripts  # noqa: E402

from ivr.match import icd  # noqa: E402
from ivr.match.exams import ExamCatalog  # noqa: E402
from ivr.match.types import Match  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 10.0


def rss_mb() -> float:
    """Resident set size now, in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def labelled(name: str) -> list[tuple[str, set[str]]]:
    with (ROOT / "tests" / "data" / name).open(newline="", encoding="utf-8") as fh:
        return [
            (
                r["phrase"],
                {r["expected_code"], *filter(None, (r.get("acceptable_codes") or "").split("|"))},
            )
            for r in csv.DictReader(fh)
        ]


def run(title: str, match: Callable[[str], Match | None], rows: list[tuple[str, set[str]]],
        repeat: int) -> None:  # fmt: skip
    right = confirm = 0
    for phrase, good in rows:
        found = match(phrase)
        right += found is not None and found.value in good
        confirm += found is None or found.score < icd.CONFIDENT
    times: list[float] = []
    for _ in range(repeat):
        for phrase, _good in rows:
            start = time.perf_counter()
            match(phrase)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{title}: {len(rows)} labelled phrases x {repeat}")
    mean = statistics.mean(times)
    print(f"  per query   mean {mean:.2f} ms   p50 {p50:.2f} ms   p99 {p99:.2f} ms   "
          f"max {times[-1]:.2f} ms   (target <= {TARGET_MS:.0f} ms)")  # fmt: skip
    print(f"  top-1 accuracy {right / len(rows):.1%}  ({right}/{len(rows)}; target >= 90%)")
    print(f"  needs confirmation (score < {icd.CONFIDENT:.0f} or none) {confirm / len(rows):.1%}")


def recognizer(repeat: int) -> None:
    """The recognizer transcripts, heard at the real flows' questions (bench/transcripts.py)."""
    rows = transcripts.load()
    results = transcripts.run(rows)  # the first pass: what is right, read back, wrong
    times: list[float] = []
    cpu: list[float] = []
    for _ in range(repeat):
        again = transcripts.run(rows)
        times.extend(r.ms for r in again)
        cpu.extend(r.cpu_ms for r in again)
    print(f"recognizer transcripts: {len(rows)} labelled ({transcripts.LABELLED.name}), "
          f"times over {repeat} more passes in 'all'; 'p99 cpu': CPU time, what a loaded "
          f"machine's wall clock adds is waiting")  # fmt: skip
    print(transcripts.report(results, times, cpu))
    for miss in transcripts.misses(results):
        print("  miss:", miss)
    offered = [r for r in results if r.row.additional]
    also = sum(r.also in r.row.additional for r in offered)
    print(f"two complaints in one breath: second offered as additional {also}/{len(offered)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", choices=("phrases", "transcripts"), default=None)
    args = parser.parse_args()
    if args.only == "transcripts":
        recognizer(args.repeat)
        return

    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    exams = ExamCatalog.from_csv(ROOT / "data" / "exam_types.csv")
    print(f"exam catalog: {len(exams.exams)} exams, built in "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")  # fmt: skip

    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    icd._code_set()
    loaded = time.perf_counter()
    gc.collect()
    after_import = rss_mb()
    index = icd.default_index()
    built = time.perf_counter()
    gc.collect()
    after = rss_mb()
    print(f"diagnosis index: {len(index.codes)} entries over {len(index.postings)} words")
    print(f"  simple_icd_10_cm import {loaded - start:.2f} s, +{after_import - before:.0f} MiB RSS")
    print(f"  index build {built - loaded:.2f} s, +{after - after_import:.0f} MiB RSS "
          f"(process {after:.0f} MiB)")  # fmt: skip
    start = time.perf_counter()
    index.match("lower back pain")
    print(f"  first query {(time.perf_counter() - start) * 1000:.2f} ms")
    print()
    run("exams", exams.match, labelled("exam_phrases.csv"), args.repeat)
    run("diagnoses", index.match, labelled("diagnosis_phrases.csv"), args.repeat)
    if args.only is None:
        print()
        recognizer(max(1, args.repeat // 4))


if __name__ == "__main__":
    main()
