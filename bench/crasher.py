"""Issue 14's crasher: SIGKILL the writer at random moments of mixed workloads, check every invariant after each kill.

    python bench/crasher.py --kills 500          # the bar: >= 500 kills, 0 violations, 0 reader errors
    python bench/crasher.py --quick              # 15 kills (what tests/test_crasher.py runs)

A controller drives two homes through the same sequence of operations on a small corpus (Docker documentation pages
cut to a few KB, as text files in four folders):

* ``edit``: some files get a new edition, some are deleted, new ones appear; then ``kenning index`` of the corpus;
* ``remove``: a few documents are removed by id (``Engine.remove_documents``);
* ``rechunk``: the chunk size changes, so every document is chunked, embedded and committed again.

The *reference* home runs each operation in-process, never killed: the clean run. The *crash* home runs it in a
writer process (forked from a process that has imported kenning once, so start-up costs nothing) that the killer
SIGKILLs after a random delay within the operation's expected duration. After every
kill the controller checks, on the crash home:

1. SQLite ``integrity_check`` is ok and the catalog is self-consistent (every chunk has its vector and document,
   every document a source, no duplicated chunk id);
2. the published snapshot, read through the Store Protocol, is whole (chunk ids unique, each fetchable with its
   vector, BM25 and dense searches answering only published chunks) and each of its chunks is the one the catalog
   held under that id when it was published, or the catalog is merely ahead (stale);
3. after recovery (what the next writer does first), the catalog, BM25 and vector id sets are equal: no missing,
   phantom or duplicated chunk, and each vector is the catalog's;
4. documents whose removal completed never come back, and no chunk of a file deleted from the corpus does;
5. filtered search (by folder, and excluding one) equals filtering the unfiltered ranking, in BM25 and dense modes;
6. resuming the operation reaches exactly the reference's state (chunk ids, vector hashes, sources).

Meanwhile a reader process searches the crash home in a loop (a long-lived Engine and a fresh Engine per query, BM25
and hybrid, with and without filters): every error is counted, and every hit's text must be a passage of the file
it names (in one of that file's editions) — a hit carrying another file's chunk is a "wrong chunk".

The embedder is a deterministic hashing embedder (no model to load), so a cycle takes about a second; the index,
snapshot and SQLite code paths are the real ones. Results: ``bench/results/crasher.json``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import Target, arg_parser, console, print_table, print_targets, write_result  # noqa: E402

DOCKER = BENCH.parents[1] / "shared" / "data" / "corpora" / "docker-doc-20.10.24-md.tar.gz"
NAME = "crash"
FOLDERS = ("engine", "network", "storage", "swarm")
QUERIES = ("docker container image", "network bridge driver", "volume storage mount", "swarm service node",
           "edition marker", "build cache layer", "daemon configuration file", "registry login")  # fmt: skip


# -- the embedder and the corpus -------------------------------------------------------------------------------


class HashEmbedder:
    """Deterministic bag-of-hashed-words vectors: real numbers through the real dense path, no model to load."""

    name = "crasher/hash-64"
    dim = 64

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, hash_word(word) % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            out[i, 0] += 1e-3 * (i % 3 == 0)  # never all-zero rows
        return out


def hash_word(word: str) -> int:
    h = 2166136261
    for ch in word.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def load_pages(n: int, seed: int) -> dict[str, str]:
    """``n`` Docker documentation pages (name → a few KB of text), the same ones for a seed."""
    pages: dict[str, str] = {}
    with tarfile.open(DOCKER) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".md")), key=lambda m: m.name)
        for m in members:
            text = tar.extractfile(m).read().decode("utf-8", "replace")  # type: ignore[union-attr]
            text = "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("---"))
            if len(text) > 600:
                pages[re.sub(r"[^A-Za-z0-9]+", "-", Path(m.name).stem).strip("-").lower()] = text[:2500]
    names = sorted(pages)
    random.Random(seed).shuffle(names)
    return {name: pages[name] for name in names[:n]}


def content(page: str, name: str, edition: int) -> str:
    return f"{name} edition {edition} marker m{edition}x{name.replace('-', '')}\n\n{page}\n\nend of {name} edition {edition}\n"


def page_of(name: str) -> str:
    return name.split("--")[0]


_EDITION = re.compile(r"edition \d+|m\d+x\w+")


def normal(text: str) -> str:
    return " ".join(_EDITION.sub("#", text).split())


# -- operations -------------------------------------------------------------------------------------------------


def engine(home: Path, chunk_size: int):  # noqa: ANN201 - a kenning Engine
    from kenning import Engine
    from kenning.config import KenningConfig

    config = KenningConfig.load(
        home, indexing={"commit_chunks": 8}, chunking={"size": chunk_size, "overlap": 10}, retrieval={"mode": "bm25"}
    )
    return Engine(home, collection=NAME, config=config, embedder=HashEmbedder())


def run_op(home: Path, op: dict[str, Any]) -> None:
    eng = engine(home, op["chunk_size"])
    try:
        if op["kind"] == "remove":
            eng.remove_documents(op["doc_ids"])
        else:
            eng.index([op["corpus"]])
    finally:
        eng.close()


def zygote() -> None:
    """Import everything once, then fork one writer per operation (a line on stdin naming its JSON file): each
    child is a real process the killer SIGKILLs, without paying Python's start-up on a loaded machine every cycle."""
    import bm25s  # noqa: F401

    import kenning.engine  # noqa: F401
    import kenning.index.writer  # noqa: F401

    for line in sys.stdin:
        op = json.loads(Path(line.strip()).read_text())
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_op(Path(op["home"]), op)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
                code = 1
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)


# -- invariants -------------------------------------------------------------------------------------------------


class Violation(AssertionError):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Violation(what)


def catalog_state(home: Path) -> dict[str, Any]:
    """What the catalog holds, read with plain SQLite (not kenning's code)."""
    import sqlite3

    path = home / "collections" / NAME / "catalog.sqlite"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        check(ok == "ok", f"integrity_check: {ok}")
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        check(not fk, f"foreign_key_check: {fk[:3]}")
        rows = conn.execute("SELECT chunk_id, text, embed_hash FROM chunks").fetchall()
        chunks = {r[0]: (r[1], r[2]) for r in rows}
        check(len(rows) == len(chunks), "duplicated chunk ids in the catalog")
        no_vec = conn.execute(
            "SELECT count(*) FROM chunks WHERE embed_hash NOT IN (SELECT embed_hash FROM vectors)"
        ).fetchone()[0]
        check(no_vec == 0, f"{no_vec} chunks without a vector")
        orphans = conn.execute("SELECT count(*) FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM sources)")
        check(orphans.fetchone()[0] == 0, "documents no source points at")
        dangling = conn.execute("SELECT count(*) FROM sources WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
        check(dangling.fetchone()[0] == 0, "sources pointing at no document")
        sources = dict(conn.execute("SELECT source, doc_id FROM sources"))
        vectors = {h: bytes(v) for h, v in conn.execute("SELECT embed_hash, vector FROM vectors")}
        data_version = int(conn.execute("SELECT value FROM state WHERE key = 'data_version'").fetchone()[0])
    finally:
        conn.close()
    return {"chunks": chunks, "sources": sources, "vectors": vectors, "data_version": data_version}


def snapshot_rows(home: Path) -> tuple[dict, Any]:
    """What the store publishes, read through its Protocol and checked whole, by chunk id: ``(text, vector)``."""
    from kenning.index import Collection

    col = Collection.open(home.parent / home.name, NAME)
    try:
        entry = col.refresh().get("snapshot")
        check(entry is not None, "no published snapshot")
        ids = col.chunk_ids()
        n = col.counts()[1]
        check(
            len(ids) == n and len(set(ids)) == n,
            f"published chunk ids: {len(set(ids))} distinct of {len(ids)}, not {n}",
        )
        rows = col.fetch(ids)
        check(len(rows) == n, f"published rows: {len(rows)} of {n}")
        vectors = col.vectors(ids)
        published = set(ids)
        for query in QUERIES[:2]:  # BM25 and vectors answer only published chunks: neither is shorter or longer
            found = [*col.lexical_search(query, n).ids, *col.dense_search(vectors[0], n).ids] if n else []
            check(set(found) <= published, "a search answered a chunk that is not published")
        by_chunk = {c: (rows[c].text, vectors[i]) for i, c in enumerate(ids)}
        return by_chunk, dict(entry)
    finally:
        col.close()


def check_published(home: Path, cat: dict[str, Any], *, exact: bool) -> None:
    rows, entry = snapshot_rows(home)
    if exact or entry["data_version"] == cat["data_version"]:
        check(set(rows) == set(cat["chunks"]), f"snapshot ids != catalog ids ({len(rows)} vs {len(cat['chunks'])})")
        for chunk_id, (text, vec) in rows.items():
            ctext, ehash = cat["chunks"][chunk_id]
            check(text == ctext, f"chunk {chunk_id}: the snapshot's text is not the catalog's")
            stored = np.frombuffer(cat["vectors"][ehash], dtype="<f4")
            check(np.allclose(stored, vec), f"chunk {chunk_id}: the snapshot's vector is not the catalog's")


def check_filters(home: Path, corpus: Path, chunk_size: int) -> int:
    """Filtered search equals filtering the unfiltered ranking; returns how many comparisons were made."""
    eng = engine(home, chunk_size)
    n = 0
    try:
        total = eng.collection().counts()[1]
        for query in QUERIES[:4]:
            for mode in ("bm25", "dense"):
                everything = eng.search(query, mode=mode, k=max(total, 1))
                for spec, keep in (
                    (f"source={corpus}/network/", lambda s: s.startswith(f"{corpus}/network/")),
                    ("source!=storage/", lambda s: not s.startswith(f"{corpus}/storage/")),
                ):
                    filtered = eng.search(query, mode=mode, k=10, filters=[spec])
                    expected = [h for h in everything if keep(h.source)][:10]
                    check(len(filtered) == len(expected), f"{mode} {spec}: {len(filtered)} hits, not {len(expected)}")
                    for a, b in zip(filtered, expected, strict=True):
                        check(abs(a.score - b.score) < 1e-4, f"{mode} {spec}: scores differ")
                    ties = {}
                    for h in [h for h in everything if keep(h.source)]:
                        ties.setdefault(round(h.score, 4), set()).add(h.chunk_id)
                    for h in filtered:
                        check(
                            h.chunk_id in ties.get(round(h.score, 4), ()), f"{mode} {spec}: {h.chunk_id} not expected"
                        )
                    n += 1
    finally:
        eng.close()
    return n


def recover(home: Path) -> None:
    """What the next writer does first: publish an interrupted writer's work, rebuild a damaged snapshot."""
    from kenning.index import Collection

    col = Collection.open(home, NAME, write=True)
    try:
        with col.locked(wait=True):
            col.recover()
    finally:
        col.close()


# -- the reader process ---------------------------------------------------------------------------------------------


def reader(home: Path, pages_file: Path, stats_file: Path, stop_file: Path) -> None:
    pages = json.loads(pages_file.read_text())
    known: dict[str, str] = {}
    stats = {"searches": 0, "errors": 0, "wrong_chunks": 0, "filtered_compared": 0, "samples": []}
    lock = threading.Lock()
    rnd = random.Random(5)

    def verify(hits) -> None:  # noqa: ANN001
        for h in hits:
            name = Path(h.source).stem
            if name not in known and page_of(name) in pages:
                known[name] = normal(content(pages[page_of(name)], name, 0))
            if name not in known or normal(h.text) not in known[name]:
                with lock:
                    stats["wrong_chunks"] += 1
                    if len(stats["samples"]) < 5:
                        stats["samples"].append(f"wrong chunk: {h.source} {h.chunk_id} {h.text[:80]!r}")

    def loop(fresh: bool) -> None:
        long_lived = None
        while not stop_file.exists():
            if not (home / "collections" / NAME / "manifest.json").exists():
                time.sleep(0.05)
                continue
            eng = None
            try:
                eng = engine(home, 120) if fresh or long_lived is None else long_lived
                if not fresh:
                    long_lived = eng
                query = rnd.choice(QUERIES)
                mode = rnd.choice(("bm25", "hybrid"))
                version = eng.collection().info.snapshot_version
                hits = eng.search(query, mode=mode, k=8)
                sub = rnd.choice(FOLDERS)
                filtered = eng.search(query, mode=mode, k=8, filters=[f"source={home}/corpus/{sub}/"])
                verify(hits)
                verify(filtered)
                if eng.collection().info.snapshot_version == version and mode == "bm25":
                    wanted = eng.search(query, mode=mode, k=10_000)
                    if eng.collection().info.snapshot_version == version:
                        exp = [h.chunk_id for h in wanted if f"/corpus/{sub}/" in h.source][:8]
                        if {h.chunk_id for h in filtered} != set(exp) and [round(h.score, 4) for h in filtered] != [
                            round(h.score, 4) for h in wanted if f"/corpus/{sub}/" in h.source
                        ][:8]:
                            raise AssertionError(f"filtered search differs from filtering: {query!r} {sub}")
                        with lock:
                            stats["filtered_compared"] += 1
                with lock:
                    stats["searches"] += 2
                time.sleep(0.02)  # leave the writer a core
            except Exception as exc:  # noqa: BLE001 - every failure of a reader is what we count
                with lock:
                    stats["errors"] += 1
                    if len(stats["samples"]) < 5:
                        stats["samples"].append("".join(traceback.format_exception_only(exc)).strip()[:300])
            finally:
                if fresh and eng is not None:
                    eng.close()
        if long_lived is not None:
            long_lived.close()

    threads = [threading.Thread(target=loop, args=(fresh,)) for fresh in (False, True)]
    for t in threads:
        t.start()
    while not stop_file.exists():
        time.sleep(0.5)
        with lock:
            stats_file.write_text(json.dumps(stats))
    for t in threads:
        t.join()
    stats_file.write_text(json.dumps(stats))


# -- the controller -------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, work: Path, seed: int, n_pages: int) -> None:
        self.work, self.rnd = work, random.Random(seed)
        self.pages = load_pages(n_pages + 40, seed)
        names = list(self.pages)
        self.pages_left = names  # pages added later come from here, round and round, each under a new name
        self.added = 0
        self.corpus = work / "crash-home" / "corpus"
        self.ref_corpus = work / "ref-home" / "corpus"
        self.files: dict[str, tuple[str, int]] = {}  # name -> (folder, edition)
        self.chunk_size = 120
        self.removed_docs: set[str] = set()  # doc ids whose removal completed (until a later index re-adds them)
        self.deleted_files: set[str] = set()
        self.n_pages = n_pages
        for name in names[:n_pages]:
            self.files[name] = (self.rnd.choice(FOLDERS), 0)
        self.write_corpus()

    @property
    def crash(self) -> Path:
        return self.work / "crash-home"

    @property
    def ref(self) -> Path:
        return self.work / "ref-home"

    def write_corpus(self) -> None:
        for root in (self.corpus, self.ref_corpus):
            for folder in FOLDERS:
                (root / folder).mkdir(parents=True, exist_ok=True)
                for p in (root / folder).iterdir():
                    if p.stem not in self.files or self.files[p.stem][0] != folder:
                        p.unlink()
            for name, (folder, edition) in self.files.items():
                path = root / folder / f"{name}.txt"
                text = content(self.pages[page_of(name)], name, edition)
                if not path.exists() or path.read_text() != text:
                    path.write_text(text)

    def next_op(self) -> dict[str, Any]:
        roll = self.rnd.random()
        if roll < 0.2:
            from kenning.index import Collection

            col = Collection.open(self.ref, NAME)
            docs = [d.doc_id for d in col.catalog.documents(limit=10_000)[0]]
            col.close()
            chosen = self.rnd.sample(docs, min(len(docs), self.rnd.randint(1, 4)))
            return {"kind": "remove", "doc_ids": chosen}
        if roll < 0.27:
            self.chunk_size = 160 if self.chunk_size == 120 else 120
            return {"kind": "rechunk"}
        names = list(self.files)
        for name in self.rnd.sample(names, min(len(names), self.rnd.randint(1, 6))):
            folder, edition = self.files[name]
            self.files[name] = (folder, edition + 1)
        for name in self.rnd.sample(names, self.rnd.randint(0, 2)):
            if len(self.files) > self.n_pages // 2:
                del self.files[name]
                self.deleted_files.add(name)
        for _ in range(self.rnd.randint(0, 2) + (len(self.files) < self.n_pages)):
            self.added += 1  # a new name (never reused), so a deleted file's chunks can be told from its successor's
            page = self.pages_left[self.added % len(self.pages_left)]
            self.files[f"{page}--{self.added}"] = (self.rnd.choice(FOLDERS), 0)
        self.write_corpus()
        return {"kind": "edit"}

    def op_for(self, home: Path, op: dict[str, Any]) -> dict[str, Any]:
        return {**op, "home": str(home), "corpus": str(home / "corpus"), "chunk_size": self.chunk_size}

    def state(self, home: Path) -> dict[str, Any]:
        cat = catalog_state(home)
        corpus = str(home / "corpus")
        return {
            "chunks": sorted((c, h) for c, (_, h) in cat["chunks"].items()),
            "sources": sorted((s.replace(corpus, "CORPUS"), d) for s, d in cat["sources"].items()),
        }


def run(args) -> dict[str, Any]:  # noqa: ANN001
    work = Path(tempfile.mkdtemp(prefix="kenning-crasher-"))
    t_start = time.monotonic()
    r = Run(work, args.seed, args.pages)
    pages_file = work / "pages.json"
    pages_file.write_text(json.dumps(r.pages))
    run_op(r.ref, r.op_for(r.ref, {"kind": "edit"}))
    run_op(r.crash, r.op_for(r.crash, {"kind": "edit"}))
    stop_file, stats_file = work / "stop", work / "reader.json"
    reader_proc = subprocess.Popen(
        [sys.executable, __file__, "--reader", str(r.crash), str(pages_file), str(stats_file), str(stop_file)],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "reader.log", "wb"),  # noqa: SIM115 - the child keeps its own copy
    )
    zygote_proc = subprocess.Popen(
        [sys.executable, __file__, "--zygote"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(work / "worker.log", "ab"),  # noqa: SIM115 - the child keeps its own copy
        text=True,
    )
    counts = {"cycles": 0, "kills": 0, "completed_before_kill": 0, "violations": 0, "filtered_comparisons": 0}
    by_kind: dict[str, dict[str, int]] = {}
    violations: list[str] = []
    durations: dict[str, float] = {}
    phases = {"reference": 0.0, "worker": 0.0, "checks": 0.0, "resume": 0.0, "filters": 0.0}
    try:
        while counts["kills"] < args.kills and time.monotonic() - t_start < args.max_minutes * 60:
            op = r.next_op()
            counts["cycles"] += 1
            kind = by_kind.setdefault(op["kind"], {"cycles": 0, "kills": 0})
            kind["cycles"] += 1
            t0 = time.monotonic()
            run_op(r.ref, r.op_for(r.ref, op))  # the clean run
            took = time.monotonic() - t0
            phases["reference"] += took
            durations[op["kind"]] = 0.7 * durations.get(op["kind"], took) + 0.3 * took
            op_file = work / "op.json"
            op_file.write_text(json.dumps(r.op_for(r.crash, op)))
            zygote_proc.stdin.write(f"{op_file}\n")
            zygote_proc.stdin.flush()
            pid = int(zygote_proc.stdout.readline())
            time.sleep(r.rnd.uniform(0.0, durations[op["kind"]] * 1.3))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            status = int(zygote_proc.stdout.readline())
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            if killed:
                counts["kills"] += 1
                kind["kills"] += 1
            else:
                counts["completed_before_kill"] += 1
            t1 = time.monotonic()
            phases["worker"] += t1 - t0 - took
            if not killed and status != 0:
                violations.append(f"cycle {counts['cycles']}: the worker failed ({status}); see worker.log")
            try:
                cat = catalog_state(r.crash)  # 1. SQLite and the catalog, as the kill left them
                check_published(r.crash, cat, exact=False)  # 2. the published snapshot, whole
                recover(r.crash)  # 3. what the next writer does first
                cat = catalog_state(r.crash)
                check_published(r.crash, cat, exact=True)
                t2 = time.monotonic()
                phases["checks"] += t2 - t1
                run_op(r.crash, r.op_for(r.crash, op))  # 6. resume
                phases["resume"] += time.monotonic() - t2
                check(r.state(r.crash) == r.state(r.ref), "resume did not reach the clean run's state")
                cat = catalog_state(r.crash)
                check_published(r.crash, cat, exact=True)
                if op["kind"] == "remove":  # 4. removed documents do not come back
                    r.removed_docs = set(op["doc_ids"])
                    docs = set(cat["sources"].values())
                    check(not (docs & r.removed_docs), "a removed document came back")
                    rows, _ = snapshot_rows(r.crash)
                    check(all(c.split("::")[0] not in r.removed_docs for c in rows), "removed doc served")
                live = {Path(s).stem for s in cat["sources"]}
                check(not (live & r.deleted_files), f"a deleted file came back: {sorted(live & r.deleted_files)[:3]}")
                if counts["cycles"] % 5 == 0 or args.kills <= 20:
                    t3 = time.monotonic()
                    counts["filtered_comparisons"] += check_filters(r.crash, r.corpus, r.chunk_size)  # 5.
                    phases["filters"] += time.monotonic() - t3
            except Violation as exc:
                counts["violations"] += 1
                violations.append(f"cycle {counts['cycles']} ({op['kind']}): {exc}")
                console.print(f"[red]violation[/] cycle {counts['cycles']}: {exc}")
                shutil.copytree(r.crash, work / f"violation-{counts['cycles']}", dirs_exist_ok=True)
                recover(r.crash)
                run_op(r.crash, r.op_for(r.crash, op))
            except Exception as exc:  # noqa: BLE001 - an error while checking is a violation too
                counts["violations"] += 1
                violations.append(f"cycle {counts['cycles']} ({op['kind']}): {type(exc).__name__}: {exc}")
                console.print(f"[red]error[/] cycle {counts['cycles']}: {type(exc).__name__}: {exc}")
                break
            if counts["cycles"] % 25 == 0:
                console.print(
                    f"cycle {counts['cycles']}: {counts['kills']} kills, {counts['violations']} violations, "
                    f"{time.monotonic() - t_start:.0f} s"
                )
    finally:
        zygote_proc.stdin.close()
        zygote_proc.wait(timeout=60)
        stop_file.touch()
        try:
            reader_proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            reader_proc.kill()
    readers = json.loads(stats_file.read_text()) if stats_file.exists() else {"searches": 0, "errors": -1}
    result = {
        **counts,
        "by_operation": by_kind,
        "phase_seconds": {k: round(v, 1) for k, v in phases.items()},
        "violation_samples": violations[:10],
        "reader": readers,
        "seconds": round(time.monotonic() - t_start, 1),
        "pages": args.pages,
        "final_chunks": len(catalog_state(r.crash)["chunks"]),
        "work": str(work),
    }
    if not args.keep and not violations and readers.get("errors") == 0 and readers.get("wrong_chunks") == 0:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--zygote":
        zygote()
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--reader":
        reader(*(Path(a) for a in sys.argv[2:6]))
        return
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=500, help="stop after this many SIGKILLs (default 500)")
    parser.add_argument("--pages", type=int, default=24, help="pages in the corpus (default 24)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--max-minutes", type=float, default=120.0, help="stop after this long whatever the kills")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if args.quick:
        args.kills, args.pages = min(args.kills, 15), min(args.pages, 12)
    result = run(args)
    reader_stats = result["reader"]
    print_table(
        "crasher: SIGKILL during index / re-index / remove, invariants checked after every kill",
        ("operation", "cycles", "kills"),
        [(k, v["cycles"], v["kills"]) for k, v in result["by_operation"].items()]
        + [("all", result["cycles"], result["kills"])],
        caption=f"{result['seconds']} s, {result['filtered_comparisons']} filtered-search comparisons, "
        f"reader: {reader_stats.get('searches')} searches, {reader_stats.get('errors')} errors, "
        f"{reader_stats.get('wrong_chunks')} wrong chunks",
    )
    for line in result["violation_samples"] + reader_stats.get("samples", []):
        console.print(f"[red]{line}[/]")
    targets = [
        Target("SIGKILLs of the writer", result["kills"], ">=", 15 if args.quick else 500),
        Target("invariant violations", result["violations"], "<=", 0),
        Target("reader errors", reader_stats.get("errors", -1), "<=", 0),
        Target("wrong chunks served to readers", reader_stats.get("wrong_chunks", -1), "<=", 0),
        Target("reader searches", reader_stats.get("searches", 0), ">=", 1),
    ]
    print_targets(targets, quick=args.quick)
    write_result("crasher", quick=args.quick, results=result, targets=targets, out=args.out)
    sys.exit(0 if all(t.met for t in targets) and reader_stats.get("errors", -1) == 0 else 1)


if __name__ == "__main__":
    main()
