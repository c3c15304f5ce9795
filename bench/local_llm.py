"""The packaged local generators on this machine's cores: load time, prompt and generation speed, time to first
token and a whole answer, for Qwen2.5-Coder 0.5B and 1.5B (Q4_K_M, llama.cpp through xllamacpp).

    python bench/local_llm.py [--quick] [--models qwen2.5-1.5b,qwen2.5-0.5b]

Each model is loaded in a fresh process (the load time is real), then answers the same RAG prompts: the
numbered, fenced sources `kenning ask` builds for PostgreSQL questions (a ~500-token prompt), streamed. Prompt and
generation speeds are llama.cpp's own timings; time to first token and the whole answer are measured around the
stream. The model file is assembled from its part packages first (not timed: that happens once per machine).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from _common import Target, arg_parser, console, print_table, print_targets, write_result

PROMPTS = [
    (
        "What is the default value of max_connections?",
        "max_connections (integer)\n\nDetermines the maximum number "
        "of concurrent connections to the database server. The default is typically 100 connections, but might be less "
        "if your kernel settings will not support it (as determined during initdb). This parameter can only be set at "
        "server start.",
    ),
    (
        "When should I use VACUUM FULL instead of plain VACUUM?",
        "Plain VACUUM (without FULL) simply reclaims space and "
        "makes it available for re-use. This form of the command can operate in parallel with normal reading and "
        "writing of the table, as an exclusive lock is not obtained. However, extra space is not returned to the "
        "operating system. VACUUM FULL rewrites the entire contents of the table into a new disk file with no extra "
        "space, allowing unused space to be returned to the operating system. This form is much slower and requires "
        "an ACCESS EXCLUSIVE lock on each table while it is being processed. VACUUM FULL is appropriate when you have "
        "deleted or updated most of the rows in a table and would like the table to physically shrink.",
    ),
    (
        "How do I create an index without locking writes?",
        "When this option is used, PostgreSQL will build the index "
        "without taking any locks that prevent concurrent inserts, updates, or deletes on the table; whereas a standard "
        "index build locks out writes (but not reads) on the table until it's done. CREATE INDEX CONCURRENTLY requires "
        "two scans of the table and waits for existing transactions that could modify or use the index to terminate.",
    ),
]

CHILD = r"""
import json, sys, time
from kenning.generate.prompts import answer_messages
from kenning.providers.llm.local import LocalLLM
from kenning.types import Hit
name, prompts = sys.argv[1], json.loads(sys.argv[2])
llm = LocalLLM(name)
t0 = time.perf_counter(); llm.runner; load = time.perf_counter() - t0
runs = []
for question, text in prompts:
    hit = Hit(1, 1.0, "d::0", "d", text, "manual.html", "html", "PostgreSQL", ("Manual",), 0, len(text))
    stamps = []
    t0 = time.perf_counter()
    for item in llm.stream(answer_messages(question, [hit]), max_tokens=120):
        if isinstance(item, str):
            stamps.append(time.perf_counter())
        else:
            done = item
    whole = time.perf_counter() - t0
    t = done.raw["timings"]
    runs.append({"question": question, "ttft_s": stamps[0] - t0 if stamps else None, "whole_s": whole,
                 "prompt_tokens": done.usage.prompt_tokens, "completion_tokens": done.usage.completion_tokens,
                 "cached_tokens": t.get("cache_n", 0),
                 "prompt_per_second": t.get("prompt_per_second"), "predicted_per_second": t.get("predicted_per_second"),
                 "text": done.text[:200]})
print(json.dumps({"load_s": load, "threads": llm.runner.threads, "runs": runs}))
"""


def measure(name: str, prompts: list[tuple[str, str]]) -> dict[str, Any]:
    from kenning.providers.llm.packaged import packaged_path

    packaged_path(name)  # assembled once per machine; not part of the load time
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, name, json.dumps(prompts)], capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    first = out["runs"][0]  # the first prompt has no cached prefix: its speed is the honest prompt speed
    later = out["runs"][1:] or out["runs"]
    out["summary"] = {
        "load_s": out["load_s"],
        "prompt_tokens_per_s": first["prompt_per_second"],
        "generated_tokens_per_s": statistics.fmean(r["predicted_per_second"] for r in out["runs"]),
        "first_token_s_median": statistics.median(r["ttft_s"] for r in later if r["ttft_s"] is not None),
        "whole_answer_s_median": statistics.median(r["whole_s"] for r in later),
        "prompt_tokens_median": statistics.median(r["prompt_tokens"] for r in out["runs"]),
    }
    return out


def main() -> None:
    parser = arg_parser(__doc__.split("\n")[0])
    parser.add_argument("--models", default="qwen2.5-1.5b,qwen2.5-0.5b")
    args = parser.parse_args()
    prompts = PROMPTS[:2] if args.quick else PROMPTS
    results: dict[str, Any] = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        with console.status(f"measuring {name}"):
            results[name] = measure(name, prompts)
    rows = [
        [
            name,
            r["threads"],
            r["summary"]["load_s"],
            r["summary"]["prompt_tokens_per_s"],
            r["summary"]["generated_tokens_per_s"],
            r["summary"]["first_token_s_median"],
            r["summary"]["whole_answer_s_median"],
            r["summary"]["prompt_tokens_median"],
        ]
        for name, r in results.items()
    ]
    print_table(
        "Local generators (llama.cpp via xllamacpp, Q4_K_M)",
        ["model", "threads", "load s", "prompt tok/s", "gen tok/s", "first token s", "answer s", "prompt tokens"],
        rows,
    )
    targets = [
        Target(f"{name}: first token on a RAG prompt", r["summary"]["first_token_s_median"], "<=", 10, "s")
        for name, r in results.items()
    ]
    print_targets(targets, quick=args.quick)
    write_result("local_llm", quick=args.quick, results=results, targets=targets, out=args.out)


if __name__ == "__main__":
    main()
