"""Issue 14's fuzzing bar: ≥ 1,000 generated inputs per reader, zero tracebacks, zero hangs, nothing read from outside.

    python bench/fuzz.py                     # 1,000 inputs for each reader
    python bench/fuzz.py --examples 3000 --readers archive,names
    python bench/fuzz.py --quick             # 100 per reader: a smoke test, not the verdict

Readers: markdown, html, rst, text, pdf, beir (JSONL lines), archive (tar / tar.gz / tar.bz2 / tar.xz / zip / gzip
built from generated members: ``../`` and absolute names, symlinks and hard links to a secret outside the input,
devices, fifos, lying sizes, damaged bytes) and names (file names of arbitrary bytes, links, fifos, nested folders).
The generators are Hypothesis strategies in ``tests/fuzz_inputs.py``, the same ones the test suite samples.

Each input is written into a fresh folder next to a secret, then discovered, parsed and chunked as the indexer does.
Counted per reader: tracebacks (any exception that is not kenning's own Skipped / InputError), hangs (an input taking
more than ``--hang`` seconds; a watchdog interrupts one that would never end), leaks (the secret's bytes in anything
read), plus documents and skipped items, and the time per input (p50 / p99 / max). The distinct tracebacks are kept
in ``bench/results/fuzz.json``.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from typing import Any

from _common import BENCH, Target, arg_parser, console, latency_stats, print_table, print_targets, write_result

sys.path.insert(0, str(BENCH.parent))  # the generators live with the tests

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from tests.fuzz_inputs import READERS, run_input  # noqa: E402


class _Hang(BaseException):  # not an Exception: the harness must not count it as a traceback
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def fuzz_reader(reader: str, examples: int, hang_s: float, watchdog_s: float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    times: list[float] = []
    tracebacks: Counter[str] = Counter()
    slowest: list[tuple[float, str]] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # every input counts; nothing is shrunk or replayed
        suppress_health_check=list(HealthCheck),
    )
    @given(files=READERS[reader])
    def one(files) -> None:
        counts["inputs"] += 1
        signal.setitimer(signal.ITIMER_REAL, watchdog_s)
        try:
            outcome = run_input(files)
        except _Hang:
            counts["hangs"] += 1
            counts["watchdog"] += 1
            return
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        times.append(outcome.seconds * 1000)
        counts["documents"] += outcome.documents
        counts["skipped"] += outcome.skipped
        if outcome.error:
            counts["tracebacks"] += 1
            tracebacks[outcome.error.strip().splitlines()[-1] + "\n" + outcome.error] += 1
        if outcome.leaked:
            counts["leaks"] += 1
        if outcome.seconds > hang_s:
            counts["hangs"] += 1
        slowest.append((outcome.seconds, repr(files)[:300]))
        slowest.sort(reverse=True)
        del slowest[3:]

    t0 = time.perf_counter()
    one()
    return {
        "inputs": counts["inputs"],
        "tracebacks": counts["tracebacks"],
        "hangs": counts["hangs"],
        "watchdog_interrupts": counts["watchdog"],
        "leaks": counts["leaks"],
        "documents": counts["documents"],
        "skipped": counts["skipped"],
        "seconds": round(time.perf_counter() - t0, 1),
        "per_input_ms": latency_stats(times),
        "distinct_tracebacks": [{"count": n, "traceback": tb} for tb, n in tracebacks.most_common(10)],
        "slowest": [{"seconds": round(s, 3), "input": text} for s, text in slowest],
    }


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="generated inputs per reader")
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated subset of: " + ", ".join(READERS))
    parser.add_argument("--hang", type=float, default=10.0, help="seconds after which one input counts as a hang")
    parser.add_argument("--watchdog", type=float, default=60.0, help="seconds after which one input is interrupted")
    args = parser.parse_args()
    examples = 100 if args.quick else args.examples
    readers = [r for r in args.readers.split(",") if r]
    signal.signal(signal.SIGALRM, _alarm)
    results: dict[str, Any] = {"examples_per_reader": examples, "hang_seconds": args.hang, "readers": {}}
    for reader in readers:
        console.print(f"[bold]{reader}[/bold]: {examples} inputs…")
        results["readers"][reader] = fuzz_reader(reader, examples, args.hang, args.watchdog)
    rows = [
        (
            name,
            r["inputs"],
            r["tracebacks"],
            r["hangs"],
            r["leaks"],
            r["documents"],
            r["skipped"],
            r["per_input_ms"].get("p50_ms", float("nan")),
            r["per_input_ms"].get("p99_ms", float("nan")),
            r["per_input_ms"].get("max_ms", float("nan")),
            r["seconds"],
        )
        for name, r in results["readers"].items()
    ]
    print_table(
        "Fuzzing the readers (generated inputs through discover → parse → chunk)",
        ["reader", "inputs", "tracebacks", "hangs", "leaks", "documents", "skipped", "p50 ms", "p99 ms", "max ms", "s"],
        rows,
        caption=f"hang = one input over {args.hang:g} s; leak = the secret next to the input folder was read",
    )
    per = results["readers"].values()
    targets = [
        Target("inputs per reader (fewest)", float(min(r["inputs"] for r in per)), ">=", 1000.0),
        Target("tracebacks", float(sum(r["tracebacks"] for r in per)), "<=", 0.0),
        Target("hangs", float(sum(r["hangs"] for r in per)), "<=", 0.0),
        Target("reads from outside the input", float(sum(r["leaks"] for r in per)), "<=", 0.0),
    ]
    print_targets(targets, quick=args.quick)
    write_result("fuzz", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
