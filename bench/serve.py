"""Issue 11's serving bars: `kenning serve` latency against in-process search at 10k chunks, and load with a
re-indexer running.

    python bench/serve.py build                   # the home under /tmp (cached: a rerun reuses it)
    python bench/serve.py latency                 # in-process Engine.search vs POST …/search, hybrid and bm25
    python bench/serve.py load [--minutes 3]      # 16 clients searching and asking while another process re-indexes
    python bench/serve.py all                     # latency, then load (the default)
    python bench/serve.py all --quick             # a small home and a 30-second load: a smoke test

The collection: SciFact's 5,183 abstracts (BEIR ``corpus.jsonl``) chunked at 200 tokens with 20 overlap — 11,489
chunks — plus 30 *sentinel* documents (Markdown, two to four paragraphs each) in a folder of their own. Chunking is
set in the home's ``kenning.toml``, so the CLI's re-index runs and the server use the same settings.

**Latency.** One process holds ``Engine(home)`` (what ``kenning serve`` builds per collection); ``kenning serve``
runs as a subprocess on the same home. For each of 300 SciFact test claims (after 20 warm-up training claims) the
same query runs once in-process (``Engine.search(q, mode=…, k=10)``) and once through the server (``POST
/api/collections/{c}/search`` on one keep-alive httpx client), in an order that alternates per query, so both see
the same machine load. Hybrid (the default) and bm25. The hits must be the same chunks. To say where the difference
goes, the run also times a ``GET /api/health`` round trip (HTTP + ASGI with no work) and turning 10 hits into JSON.

**Load.** ``kenning serve`` as a subprocess; 16 client threads in this process, each with its own httpx client (one
keep-alive connection), for ``--minutes``: search (hybrid) and ask (``mode: "extractive"``: the local generator
takes seconds per answer on 2 cores, and 16 concurrent askers would only measure its queue), mostly aimed at the
sentinel documents. Meanwhile a thread here runs ``kenning index SENTINELS --home H -c C`` as a subprocess over and
over, each run after rewriting every sentinel document as the next *edition*: every paragraph names it ("edition 12
of sentinel register entry 07"), and the readings in it change. Another thread polls the collection's
``manifest.json`` (every 2 ms) and records when each snapshot version appeared; each index run's ``--json`` report
names the version it published, so every version maps to one edition.

Checks on every response: **error** = non-2xx, exception, or a body without the expected fields; **mixed** = the
hits (or an answer's citations and text) carry two editions; **stale** = the request was *sent* after this process
saw edition N's manifest (no grace: the manifest is replaced atomically after the snapshot is on disk, and the
server checks it on every search) and got an edition older than N; **future** = an edition not yet written when the
response came back (impossible unless the check is broken). Latency p50/p95/p99 per operation, throughput, editions
published.

Results: ``bench/results/serve.json`` (each stage keeps the other's last results).
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    RESULTS,
    SCIFACT,
    Target,
    arg_parser,
    console,
    latency_stats,
    print_table,
    print_targets,
    read_jsonl,
    scifact_subset,
    versions,
    write_result,
)

COLLECTION = "scifact"
CHUNKING = {"size": 200, "overlap": 20}
N_SENTINELS = 30
MARKER = re.compile(r"edition (\d+) of sentinel register entry (\d+)")
SUBJECTS = (
    "the Harrow pressure valve",
    "the north culvert pump",
    "the Lindqvist cold store",
    "the ferry slipway winch",
    "the orchard irrigation line",
    "the quarry dust filter",
    "the signal box relay",
    "the tide gauge at Kessock",
    "the bakery proving oven",
    "the clinic vaccine fridge",
    "the school boiler",
    "the lighthouse lamp motor",
    "the reservoir sluice gate",
    "the bridge expansion joint",
    "the grain dryer fan",
    "the archive humidity unit",
    "the mill race sensor",
    "the parish bell frame",
    "the harbour fuel tank",
    "the greenhouse heater",
    "the canal lock paddle",
    "the depot battery bank",
    "the sawmill blade guard",
    "the dairy milk chiller",
    "the weather mast anemometer",
    "the funicular brake",
    "the pumping station inlet",
    "the library fire door",
    "the ice rink compressor",
    "the observatory dome drive",
)
SENTINEL_QUERIES = (
    "sentinel register entry readings",
    "which sentinel register entry records {subject}",
    "sentinel register {subject} inspection reading",
    "what did the inspector note in the sentinel register",
    "sentinel register entry {n:02d}",
)
SEARCH_FIELDS = ("chunk_id", "doc_id", "text", "score", "start", "end")


# ------------------------------------------------------------------------------------------------ environment


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def serve_versions() -> dict[str, str]:
    return versions(("kenning", "fastapi", "starlette", "uvicorn", "httpx", "pydantic", "sse-starlette", "torch"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ the home


def sentinel_text(n: int, edition: int) -> str:
    """Sentinel document ``n`` as edition ``edition``: every paragraph names both, and the readings change."""
    rng = random.Random(n * 100_003 + edition)
    subject = SUBJECTS[n % len(SUBJECTS)]
    tag = f"edition {edition} of sentinel register entry {n:02d}"
    paragraphs = [
        f"# Sentinel register entry {n:02d}: {subject}\n\n"
        f"This is {tag}. The sentinel register keeps one entry per site; this entry covers {subject}, "
        f"inspected {rng.choice(('weekly', 'fortnightly', 'monthly'))} by the {rng.choice(('day', 'night'))} crew."
    ]
    for p in range(2 + (edition + n) % 3):  # two to four paragraphs: the chunk count of an entry changes too
        readings = ", ".join(f"{rng.uniform(1, 99):.1f}" for _ in range(6))
        paragraphs.append(
            f"Readings in {tag}, section {p + 1}: {readings}. The inspector noted that {subject} was "
            f"{rng.choice(('within tolerance', 'slightly worn', 'recently serviced', 'due for repair'))} and that "
            f"the {rng.choice(('seals', 'bearings', 'gauges', 'fittings', 'cables'))} were "
            f"{rng.choice(('clean', 'corroded', 'replaced', 'checked twice'))}. "
            + " ".join(
                rng.choice(
                    (
                        "The log was countersigned by the site warden.",
                        "A photograph was filed with the entry.",
                        "No further action was requested.",
                        "The next visit was brought forward a week.",
                        "Spare parts were ordered from the regional store.",
                        "The alarm threshold was left unchanged.",
                    )
                )
                for _ in range(3)
            )
        )
    return "\n\n".join(paragraphs) + "\n"


def write_sentinels(folder: Path, edition: int) -> None:
    """Rewrite every sentinel file as ``edition`` (each file replaced atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(N_SENTINELS):
        path = folder / f"entry-{n:02d}.md"
        tmp = folder / f".entry-{n:02d}.md.tmp"
        tmp.write_text(sentinel_text(n, edition), encoding="utf-8")
        os.replace(tmp, path)


def current_edition(folder: Path) -> int:
    found = MARKER.search((folder / "entry-00.md").read_text(encoding="utf-8"))
    return int(found.group(1)) if found else 0


def build_home(root: Path, *, quick: bool) -> dict[str, Any]:
    """``root/home`` with collection ``scifact``: SciFact's corpus (or a 600-document subset for --quick) and the
    sentinels at edition 1. Reused when its manifest is there."""
    home, sentinels = root / "home", root / "sentinels"
    manifest = home / "collections" / COLLECTION / "manifest.json"
    corpus = SCIFACT / "corpus.jsonl"
    if quick:
        corpus = scifact_subset(root / "scifact-quick", n_docs=600, n_queries=50) / "corpus.jsonl"
    if not manifest.is_file():
        from kenning import Engine
        from kenning.config import KenningConfig

        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        (home / "kenning.toml").write_text(
            f"[chunking]\nsize = {CHUNKING['size']}\noverlap = {CHUNKING['overlap']}\n", encoding="utf-8"
        )
        write_sentinels(sentinels, 1)
        console.print(f"building {home} (load {os.getloadavg()[0]:.1f}) …")
        engine = Engine(home, collection=COLLECTION, config=KenningConfig.load(home))
        t0 = time.perf_counter()
        report = engine.index([str(corpus), str(sentinels)])
        seconds = time.perf_counter() - t0
        engine.close()
        (root / "build.json").write_text(
            json.dumps({"index_seconds": round(seconds, 1), "chunks": report.total_chunks}), encoding="utf-8"
        )
    info = json.loads((root / "build.json").read_text(encoding="utf-8"))
    snap = json.loads(manifest.read_text(encoding="utf-8"))["snapshot"]
    return {
        "home": str(home),
        "sentinels": str(sentinels),
        "corpus": str(corpus),
        "collection": COLLECTION,
        "chunking": CHUNKING,
        "chunks": snap["n_chunks"],
        "ann": snap["ann"],
        "first_build_seconds": info["index_seconds"],
    }


# ------------------------------------------------------------------------------------------------ the server


class Server:
    """``kenning serve --home H --port P`` as a subprocess, its output in a log file."""

    def __init__(self, home: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "w", encoding="utf-8")  # noqa: SIM115 — closed in stop()
        cmd = [sys.executable, "-m", "kenning", "serve", "--home", str(home), "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"kenning serve exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"kenning serve did not answer within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


# ------------------------------------------------------------------------------------------------ latency


def _queries(n: int, warmup: int) -> tuple[list[str], list[str]]:
    """``n`` SciFact claims to time (the test split's first, then training claims) and ``warmup`` other ones."""
    rows = read_jsonl(SCIFACT / "queries.jsonl")
    test = {line.split("\t")[0] for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    ordered = [r["text"] for r in rows if r["_id"] in test] + [r["text"] for r in rows if r["_id"] not in test]
    return ordered[:n], ordered[n : n + warmup]


def bench_latency(home: Path, work: Path, *, n: int, warmup: int) -> dict[str, Any]:
    import httpx

    from kenning import Engine
    from kenning.config import KenningConfig
    from kenning.serve.views import hit_json

    queries, warm = _queries(n, warmup)
    engine = Engine(home, collection=COLLECTION, config=KenningConfig.load(home))  # as kenning serve's Engines
    server = Server(home, work / "serve-latency.log")
    out: dict[str, Any] = {"queries": len(queries), "warmup": len(warm), "k": 10, "modes": {}}
    try:
        server.wait_ready()
        url = f"{server.url}/api/collections/{COLLECTION}/search"
        with httpx.Client(timeout=60) as client:  # one keep-alive connection, sequential requests
            for mode in ("hybrid", "bm25"):
                console.print(f"latency · {mode} (load {os.getloadavg()[0]:.1f})")

                def local(q: str, mode: str = mode) -> list[str]:
                    return [h.chunk_id for h in engine.search(q, mode=mode, k=10)]

                def remote(q: str, mode: str = mode) -> list[str]:
                    r = client.post(url, json={"query": q, "mode": mode, "k": 10})
                    r.raise_for_status()
                    return [h["chunk_id"] for h in r.json()["hits"]]

                for q in warm:
                    local(q)
                    remote(q)
                t_local, t_remote, same = [], [], 0
                for i, q in enumerate(queries):
                    order = (local, remote) if i % 2 == 0 else (remote, local)  # alternate who goes first
                    got = {}
                    for fn in order:
                        t0 = time.perf_counter()
                        got[fn] = fn(q)
                        (t_local if fn is local else t_remote).append((time.perf_counter() - t0) * 1000)
                    same += got[local] == got[remote]
                a, b = latency_stats(t_local), latency_stats(t_remote)
                paired = latency_stats([y - x for x, y in zip(t_local, t_remote, strict=True)])
                out["modes"][mode] = {
                    "in_process": a,
                    "server": b,
                    "p50_difference_ms": b["p50_ms"] - a["p50_ms"],
                    "p95_difference_ms": b["p95_ms"] - a["p95_ms"],
                    "median_paired_difference_ms": paired["p50_ms"],
                    "same_hits": same,
                }
            # where a server's extra time can go: an HTTP round trip with no work, and the hits as JSON
            health = []
            for _ in range(n):
                t0 = time.perf_counter()
                client.get(server.url + "/api/health").raise_for_status()
                health.append((time.perf_counter() - t0) * 1000)
            hits = engine.search(queries[0], k=10)
            t0 = time.perf_counter()
            for _ in range(200):
                body = json.dumps({"hits": [hit_json(h) for h in hits]})
            out["health_round_trip"] = latency_stats(health)
            out["hits_to_json_ms"] = (time.perf_counter() - t0) * 1000 / 200
            out["response_bytes"] = len(body)
    finally:
        server.stop()
        engine.close()
    return out


# ------------------------------------------------------------------------------------------------ load


def editions_in(op: str, body: Any) -> list[int]:
    """The sentinel editions a response carries (hit texts; an answer's citations and text). Raises ValueError on a
    body without the fields a client relies on."""
    if not isinstance(body, dict):
        raise ValueError("body is not a JSON object")
    texts: list[str] = []
    if op.startswith("search"):
        hits = body.get("hits")
        if not isinstance(hits, list) or any(not isinstance(h, dict) or set(SEARCH_FIELDS) - set(h) for h in hits):
            raise ValueError("search body without hits[] of chunk_id, doc_id, text, score, start, end")
        if not hits:
            raise ValueError("search returned no hits")
        texts = [h["text"] for h in hits]
    else:
        cites = body.get("citations")
        if not isinstance(body.get("text"), str) or not isinstance(cites, list):
            raise ValueError("ask body without text and citations[]")
        if any(not isinstance(c, dict) or "text" not in c or "chunk_id" not in c for c in cites):
            raise ValueError("ask citation without text or chunk_id")
        texts = [body["text"], *(c["text"] for c in cites)]
    return [int(m.group(1)) for t in texts for m in MARKER.finditer(t)]


class ManifestWatcher(threading.Thread):
    """Records ``(seen, version)`` whenever the collection's manifest names a new snapshot. ``seen`` is taken
    after the stat that noticed the new file, so it is never earlier than the publish itself."""

    def __init__(self, manifest: Path, every: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.manifest, self.every = manifest, every
        self.seen: list[tuple[float, int, float]] = []  # (seen wall time, version, manifest mtime)
        self.stop = threading.Event()
        self._stamp: tuple[int, int] | None = None

    def poll(self) -> None:
        st = self.manifest.stat()
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        seen = time.time()
        version = json.loads(self.manifest.read_text(encoding="utf-8"))["snapshot"]["version"]
        self._stamp = stamp
        if not self.seen or self.seen[-1][1] != version:
            self.seen.append((seen, version, st.st_mtime_ns / 1e9))

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll()
            time.sleep(self.every)


class Reindexer(threading.Thread):
    """Rewrites the sentinels as the next edition, then runs ``kenning index`` in a subprocess; again until
    stopped. Each run's record: edition, when its files were written, when the run returned, its exit status and
    the version its ``--json`` report says it published."""

    def __init__(self, home: Path, sentinels: Path, first_edition: int, env: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.home, self.sentinels, self.edition, self.env = home, sentinels, first_edition, env
        self.runs: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.edition += 1
            write_sentinels(self.sentinels, self.edition)
            written = time.time()
            cmd = [sys.executable, "-m", "kenning", "index", str(self.sentinels)]
            cmd += ["--home", str(self.home), "-c", COLLECTION, "--json"]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
            done = time.time()
            run: dict[str, Any] = {
                "edition": self.edition,
                "written": written,
                "returned": done,
                "seconds": round(done - written, 2),
                "rc": proc.returncode,
            }
            try:
                report = json.loads(proc.stdout)
                keys = ("published_version", "documents_updated", "chunks_added", "chunks_removed", "chunks_embedded")
                run.update({k: report.get(k) for k in keys})
            except ValueError:
                run["stdout"] = proc.stdout[-2000:]
            if proc.returncode:
                run["stderr"] = proc.stderr[-4000:]
            self.runs.append(run)


def _pick(rng: random.Random, claims: list[str]) -> tuple[str, dict[str, Any]]:
    """One request: 60% search, 40% extractive ask; three in four aimed at the sentinels."""
    kind = "search" if rng.random() < 0.6 else "ask"
    if rng.random() < 0.75:
        n = rng.randrange(N_SENTINELS)
        text = rng.choice(SENTINEL_QUERIES).format(subject=SUBJECTS[n], n=n)
        target = "sentinel"
    else:
        text, target = rng.choice(claims), "scifact"
    if kind == "search":
        return f"search-{target}", {"query": text, "k": 10}
    return f"ask-{target}", {"question": text, "mode": "extractive"}


def _client(i: int, url: str, deadline: float, claims: list[str], out: list[dict[str, Any]]) -> None:
    import httpx

    rng = random.Random(1000 + i)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=url, timeout=300, limits=limits) as client:
        while time.time() < deadline:
            op, body = _pick(rng, claims)
            path = f"/api/collections/{COLLECTION}/{op.split('-')[0]}"
            rec: dict[str, Any] = {"client": i, "op": op, "query": body.get("query") or body.get("question")}
            rec["sent"] = time.time()
            t0 = time.perf_counter()
            try:
                r = client.post(path, json=body)
                rec["ms"] = (time.perf_counter() - t0) * 1000
                rec["status"] = r.status_code
                if r.status_code // 100 != 2:
                    rec["error"] = f"HTTP {r.status_code}: {r.text[:500]}"
                else:
                    data = r.json()
                    rec["editions"] = editions_in(op, data)
                    if op.startswith("ask"):
                        rec["verifier"] = data.get("verifier")
            except Exception as exc:  # every failure is counted, none ends the run
                rec.setdefault("ms", (time.perf_counter() - t0) * 1000)
                rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
            rec["received"] = time.time()
            out.append(rec)


def _edition_at(t: float, timeline: list[tuple[float, int]]) -> int:
    """The newest edition in ``timeline`` (sorted (time, edition)) at or before time ``t``."""
    best = timeline[0][1]
    for when, edition in timeline:
        if when <= t:
            best = edition
        else:
            break
    return best


def bench_load(home: Path, sentinels: Path, work: Path, *, minutes: float, clients: int) -> dict[str, Any]:
    import httpx

    manifest = home / "collections" / COLLECTION / "manifest.json"
    claims = [r["text"] for r in read_jsonl(SCIFACT / "queries.jsonl")]
    first = current_edition(sentinels)
    server = Server(home, work / "serve-load.log")
    watcher = ManifestWatcher(manifest)
    reindexer = Reindexer(home, sentinels, first, dict(os.environ))
    records: list[dict[str, Any]] = []
    try:
        server.wait_ready()
        url = server.url
        probe = httpx.post(
            f"{url}/api/collections/{COLLECTION}/search", json={"query": SENTINEL_QUERIES[0]}, timeout=300
        )
        start_editions = sorted(set(editions_in("search", probe.json())))
        if start_editions != [first]:
            raise SystemExit(f"the published snapshot carries editions {start_editions}, the files {first}")
        watcher.poll()
        start_version = watcher.seen[0][1]
        watcher.start()
        load_start = [round(x, 2) for x in os.getloadavg()]
        t_start = time.time()
        deadline = t_start + minutes * 60
        reindexer.start()
        console.print(
            f"load · {clients} clients for {minutes:g} min, re-indexing the sentinels (edition {first} → …) "
            f"(load {load_start[0]:.1f})"
        )
        threads = [
            threading.Thread(target=_client, args=(i, url, deadline, claims, records), daemon=True)
            for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t_end = time.time()
        load_end = [round(x, 2) for x in os.getloadavg()]
        reindexer.stop.set()
        reindexer.join(600)  # let the run in progress finish: killing a writer is another test
        time.sleep(0.05)
        watcher.poll()
        watcher.stop.set()
        watcher.join()
        final = httpx.post(
            f"{url}/api/collections/{COLLECTION}/search", json={"query": SENTINEL_QUERIES[0]}, timeout=300
        )
        final_editions = sorted(set(editions_in("search", final.json())))
    finally:
        server.stop()
    runs = reindexer.runs
    version_edition = {start_version: first}
    for run in runs:
        if run.get("published_version") is not None:
            version_edition[run["published_version"]] = run["edition"]
    unmapped = [v for _, v, _ in watcher.seen if v not in version_edition]
    published = [(seen, version_edition.get(v, -1)) for seen, v, _ in watcher.seen]
    written = [(t_start - 1e9, first)] + [(run["written"], run["edition"]) for run in runs]
    (work / "load-requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    counts = {"requests": len(records), "errors": 0, "mixed": 0, "stale": 0, "future": 0, "checked": 0}
    examples: dict[str, list[dict[str, Any]]] = {"errors": [], "mixed": [], "stale": [], "future": []}
    after_publish = sum(r["sent"] > published[1][0] for r in records) if len(published) > 1 else 0
    by_op: dict[str, list[float]] = {}
    newest_share = []
    for r in records:
        by_op.setdefault(r["op"], []).append(r["ms"])
        if "error" in r:
            counts["errors"] += 1
            examples["errors"].append(r)
            continue
        eds = sorted(set(r["editions"]))
        if not eds:
            continue
        counts["checked"] += 1
        expected = _edition_at(r["sent"], published)
        newest_share.append(eds[0] >= expected)
        problems = []
        if len(eds) > 1:
            problems.append("mixed")
        if eds[0] < expected:
            problems.append("stale")
        if eds[-1] > _edition_at(r["received"], written):
            problems.append("future")
        for p in problems:
            counts[p] += 1
            examples[p].append({**r, "expected_at_least": expected, "editions": eds})
    duration = t_end - t_start
    ops = {}
    for op, ms in sorted(by_op.items()):
        ops[op] = {**latency_stats(ms), "per_second": round(len(ms) / duration, 2)}
    for kind in ("search", "ask"):
        ms = [m for op, xs in by_op.items() if op.startswith(kind) for m in xs]
        ops[kind] = {**latency_stats(ms), "per_second": round(len(ms) / duration, 2)}
    lags = [seen - mtime for seen, _v, mtime in watcher.seen[1:]]
    ok_runs = [run for run in runs if run["rc"] == 0]
    return {
        "clients": clients,
        "minutes": minutes,
        "duration_s": round(duration, 1),
        "load_average_during": {"start": load_start, "end": load_end},
        "mix": "60% search (hybrid, k=10) / 40% ask (extractive); 75% aimed at the sentinel documents",
        "counts": counts,
        "requests_sent_after_first_publish": after_publish,
        "checked_with_newest_edition_share": round(sum(newest_share) / max(1, len(newest_share)), 4),
        "throughput_per_s": round(len(records) / duration, 2),
        "operations": ops,
        "editions": {
            "first": first,
            "published_during_run": sum(1 for seen, _ in published[1:] if seen <= t_end),
            "published_total": len(published) - 1,
            "final_files": reindexer.edition,
            "final_search_editions": final_editions,
            "unmapped_versions": unmapped,
        },
        "reindex_runs": {
            "runs": len(runs),
            "failed": len(runs) - len(ok_runs),
            "seconds": latency_stats([run["seconds"] * 1000 for run in ok_runs]) if ok_runs else {},
            "records": runs,
        },
        "watcher_lag_ms": latency_stats([x * 1000 for x in lags]) if lags else {},
        "verifiers_seen": sorted({str(r.get("verifier")) for r in records if r["op"].startswith("ask")}),
        "examples": {k: v[:5] for k, v in examples.items()},
        "requests_log": str(work / "load-requests.jsonl"),
    }


# ------------------------------------------------------------------------------------------------ report


def _runs(results: dict[str, Any], stage: str) -> list[tuple[str, dict[str, Any]]]:
    """``(label, result)`` of each run of ``stage``: ``latency`` / ``load`` with torch's default threads, and
    ``latency_torch1`` … for runs with ``--torch-threads``."""
    keys = sorted(k for k in results if k == stage or k.startswith(stage + "_torch"))
    return [(_label(results[k]), results[k]) for k in keys]


def _label(run: dict[str, Any]) -> str:
    n = run.get("torch_threads")
    return f"torch threads {n}" if n else "torch default threads"


def targets_for(results: dict[str, Any]) -> list[Target]:
    out = []
    for label, lat in _runs(results, "latency"):
        note = f"{results['home']['chunks']:,} chunks, {label}"
        value = lat["modes"]["hybrid"]["p50_difference_ms"]
        out.append(Target("server p50 minus in-process p50, hybrid", value, "<=", 5.0, " ms", note))
    for label, load in _runs(results, "load"):
        c = load["counts"]
        out.append(Target("load: errors", c["errors"], "<=", 0, "", f"{c['requests']:,} requests, {label}"))
        out.append(Target("load: stale results", c["stale"], "<=", 0, "", f"{c['checked']:,} checked, {label}"))
        out.append(Target("load: mixed results", c["mixed"], "<=", 0, "", f"{c['checked']:,} checked, {label}"))
        out.append(Target("load: future editions (check sanity)", c["future"], "<=", 0, "", label))
        published = load["editions"]["published_during_run"]
        out.append(
            Target("load: editions published while clients ran", published, ">=", 1, "", f"else vacuous, {label}")
        )
    return out


def show(results: dict[str, Any]) -> None:
    for label, lat in _runs(results, "latency"):
        rows = []
        for mode, m in lat["modes"].items():
            for where in ("in_process", "server"):
                s = m[where]
                rows.append(
                    [f"{mode} · {where.replace('_', '-')}", s["p50_ms"], s["p95_ms"], s["p99_ms"], s["mean_ms"]]
                )
            diff = ["p50_difference_ms", "p95_difference_ms", "median_paired_difference_ms"]
            rows.append([f"{mode} · server − in-process", *(m[k] for k in diff), None])
        h = lat["health_round_trip"]
        rows.append(["GET /api/health round trip", h["p50_ms"], h["p95_ms"], h["p99_ms"], h["mean_ms"]])
        caption = (
            f"{lat['queries']} queries after {lat['warmup']} warm-up, k=10, {results['home']['chunks']:,} chunks, "
            f"{label}; the difference row's third number is the median paired difference; hits to JSON "
            f"{lat['hits_to_json_ms']:.2f} ms ({lat['response_bytes']:,} bytes); same hits: "
            + ", ".join(f"{mode} {m['same_hits']}/{lat['queries']}" for mode, m in lat["modes"].items())
        )
        print_table(f"Search latency (ms), {label}", ["", "p50", "p95", "p99", "mean"], rows, caption=caption)
    for label, load in _runs(results, "load"):
        rows = [
            [op, s["n"], s["per_second"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]]
            for op, s in load["operations"].items()
        ]
        c, e, ri = load["counts"], load["editions"], load["reindex_runs"]
        caption = (
            f"{load['clients']} clients, {load['duration_s']:.0f} s, {load['throughput_per_s']:.1f} requests/s, "
            f"{label}; errors {c['errors']}, stale {c['stale']}, mixed {c['mixed']}, future {c['future']} of "
            f"{c['checked']:,} checked; editions {e['first']}→{e['final_files']}, {e['published_during_run']} "
            f"published while clients ran; re-index runs {ri['runs']} ({ri['failed']} failed), "
            f"p50 {ri['seconds'].get('p50_ms', 0) / 1000:.1f} s"
        )
        cols = ["operation", "requests", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
        print_table(f"Load with a re-indexer, {label}", cols, rows, caption=caption)


def main() -> None:
    parser = arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("stage", nargs="?", default="all", choices=("build", "latency", "load", "all"))
    parser.add_argument("--minutes", type=float, default=None, help="load duration (default 3; --quick 0.5)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--queries", type=int, default=None, help="timed latency queries (default 300; --quick 60)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kenning-bench-serve"), help="cached home, logs")
    args = parser.parse_args()
    if args.torch_threads:  # this process and every kenning subprocess
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    home_info = build_home(work, quick=args.quick)
    if args.stage == "build":
        console.print(home_info)
        return
    out = args.out or RESULTS / ("serve.quick.json" if args.quick else "serve.json")
    results: dict[str, Any] = {}
    if out.is_file():  # keep the other stage's last results
        results = json.loads(out.read_text(encoding="utf-8")).get("results", {})
    results["home"] = home_info
    results["machine"] = {"cpu_model": cpu_model(), "cores": os.cpu_count(), "versions": serve_versions()}
    home = Path(home_info["home"])
    suffix = f"_torch{args.torch_threads}" if args.torch_threads else ""
    if args.stage in ("latency", "all"):
        n = args.queries or (60 if args.quick else 300)
        t0, at_start = time.time(), [round(x, 2) for x in os.getloadavg()]
        lat = bench_latency(home, work, n=n, warmup=20)
        lat.update(torch_threads=args.torch_threads, wall_s=round(time.time() - t0, 1))
        lat["load_average"] = {"start": at_start, "end": [round(x, 2) for x in os.getloadavg()]}
        results["latency" + suffix] = lat
    if args.stage in ("load", "all"):
        minutes = args.minutes or (0.5 if args.quick else 3.0)
        load = bench_load(home, Path(home_info["sentinels"]), work, minutes=minutes, clients=args.clients)
        load["torch_threads"] = args.torch_threads
        results["load" + suffix] = load
    show(results)
    targets = targets_for(results)
    print_targets(targets, quick=args.quick)
    write_result("serve", quick=args.quick, results=results, targets=targets, out=out)


if __name__ == "__main__":
    main()
