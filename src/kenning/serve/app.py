"""The HTTP API and web UI: ``kenning serve``. Every route reaches kenning through :class:`~kenning.Engine`.

>>> app = create_app(ServerSettings(home=Path("/tmp/kenning-home")))    # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)                      # doctest: +SKIP

The OpenAPI page is at ``/docs``; the OpenAI-compatible chat endpoint is in :mod:`kenning.serve.openai`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from .. import __version__
from ..errors import (
    CollectionNotFound,
    ConfigError,
    IndexLockedError,
    InputError,
    KenningError,
    ProviderError,
    StorageError,
)
from .auth import caller, require
from .jobs import Job, Jobs, progress_key
from .keys import ApiKey, KeyStore
from .pool import Engines
from .uploads import TooLarge, receive, safe_name, upload_folder, uploads_root
from .views import answer_events, answer_json, document_json, hit_json, usage_json

__all__ = ["create_app", "ServerSettings"]

_UI = Path(__file__).parent / "ui"
# A kenning error's HTTP status: the first entry it is an instance of (subclasses before their bases), else 500.
_STATUS: tuple[tuple[type[KenningError] | types.UnionType, int], ...] = (
    (CollectionNotFound, 404),
    (IndexLockedError, 409),
    (TooLarge, 413),
    (StorageError, 507),  # the disk is full, read-only or not writable: the file is named
    (ProviderError, 502),
    (ConfigError | InputError, 400),
)


@dataclass(frozen=True)
class ServerSettings:
    """How one server runs. ``data`` (default ``<home>/server``) holds uploads and ``keys.json``; nothing is written
    outside it and the collections."""

    home: Path
    data: Path | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    require_keys: bool = False
    reports: Path | None = None  # evaluation reports to serve (default <home>/reports)

    @property
    def data_folder(self) -> Path:
        return self.data or self.home / "server"

    @property
    def reports_folder(self) -> Path:
        return self.reports or self.home / "reports"


# -- request bodies -----------------------------------------------------------------------------------------------


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, description="What to search for.")
    k: int | None = Field(None, gt=0, le=200, description="How many hits (default: the collection's retrieval.k).")
    mode: Literal["bm25", "dense", "hybrid", "lazy"] | None = None
    filters: list[str] | None = Field(None, description='Expressions such as "kind=markdown".')
    rerank: Literal["auto", "none", "llm"] | None = None
    transform: Literal["none", "hyde", "multi"] | None = None


class AskRequest(BaseModel):
    question: str = Field(min_length=1)
    stream: bool = Field(False, description="Server-sent events: token…, then answer (citations and verdicts).")
    mode: Literal["auto", "generate", "extractive", "lazy", "global", "local"] | None = Field(
        None, description="lazy: LazyGraphRAG (whole-corpus questions); global / local: GraphRAG (after an LLM build)."
    )
    k: int | None = Field(None, gt=0, le=50)
    verifier: str | None = None
    policy: Literal["annotate", "strip", "retry"] | None = None
    filters: list[str] | None = None
    parent: Literal["none", "section"] | None = None
    verify: bool = True


Caller = Annotated[ApiKey, Depends(caller)]


def create_app(settings: ServerSettings, *, engines: Engines | None = None) -> FastAPI:
    """The FastAPI application for one kenning home."""
    engines = engines or Engines(settings.home)
    data = settings.data_folder

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.jobs.close()
        engines.close()

    app = FastAPI(
        lifespan=lifespan,
        title="kenning",
        version=__version__,
        description="Retrieval-augmented answers with citations and a verdict on every claim.",
    )
    app.state.settings = settings
    app.state.engines = engines
    app.state.keys = KeyStore(data / "keys.json")
    uploads = str(uploads_root(data).resolve())  # sources under it are shown as uploads/…
    app.state.uploads = uploads
    app.state.jobs = Jobs(lambda name, folder, progress: engines.get(name).index([folder], progress=progress))

    @app.exception_handler(KenningError)
    async def kenning_error(request: Request, exc: KenningError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status)

    def engine_for(key: ApiKey, name: str, scope: str = "read"):
        require(key, scope, name)
        return engines.get(name)

    # -- server -------------------------------------------------------------------------------------------------

    @app.get("/api/health", tags=["server"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/collections", tags=["collections"])
    def collections(key: Caller) -> list[dict[str, Any]]:
        out = []
        for name in engines.names():
            if key.sees(name):
                try:
                    info = engines.get(name).info()
                except KenningError as exc:
                    out.append({"collection": name, "error": str(exc)})
                    continue
                out.append({k: info[k] for k in ("collection", "documents", "chunks", "embedder", "stale")})
        return out

    @app.get("/api/collections/{name}", tags=["collections"])
    def collection_info(name: str, key: Caller) -> dict[str, Any]:
        info = engine_for(key, name).info()
        info.pop("folder", None)  # a server path is not the client's business
        return info

    @app.delete("/api/collections/{name}", tags=["collections"])
    def delete_collection(name: str, key: Caller) -> dict[str, Any]:
        engine = engine_for(key, name, "admin")
        engine.delete_collection()
        engines.forget(name)
        shutil.rmtree(upload_folder(data, name), ignore_errors=True)
        return {"deleted": name}

    # -- documents ----------------------------------------------------------------------------------------------

    @app.get("/api/collections/{name}/documents", tags=["documents"])
    def documents(
        name: str, key: Caller, limit: Annotated[int, Query(gt=0, le=1000)] = 100, offset: int = 0
    ) -> dict[str, Any]:
        docs, total = engine_for(key, name).documents(limit=limit, offset=offset)
        return {"total": total, "documents": [document_json(d, uploads) for d in docs]}

    @app.get("/api/collections/{name}/documents/{doc_id}", tags=["documents"])
    def document(name: str, doc_id: str, key: Caller) -> dict[str, Any]:
        doc = engine_for(key, name).document(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {doc_id!r} in {name!r}")
        return document_json(doc, uploads)

    @app.delete("/api/collections/{name}/documents/{doc_id}", tags=["documents"])
    def delete_document(name: str, doc_id: str, key: Caller) -> dict[str, Any]:
        engine = engine_for(key, name, "write")
        doc = engine.document(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {doc_id!r} in {name!r}")
        folder = upload_folder(data, name).resolve()
        for source in doc.sources:  # an uploaded file goes too, or the next upload job would index it again
            path = Path(source)
            if path.parent.resolve() == folder:
                path.unlink(missing_ok=True)
        removed = engine.remove_documents([doc_id])
        return {"deleted": doc_id, "chunks_removed": removed}

    @app.post("/api/collections/{name}/documents", tags=["documents"], status_code=202)
    async def upload(
        name: str,
        request: Request,
        key: Caller,
        filename: Annotated[str, Query(description="The file's name: a plain name, no folders.")],
    ) -> dict[str, Any]:
        """Upload one file (the raw request body; archives are unpacked by the indexer) and queue an index job."""
        require(key, "write", name)
        engines.get(name)  # checks the collection name
        safe_name(filename)
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"upload {filename!r} is {int(declared):,} bytes; the limit is {limit:,}")
        folder = upload_folder(data, name)
        path, size = await receive(request.stream(), folder, filename, limit=limit)
        job = app.state.jobs.submit(name, folder, [path.name])
        return {"file": path.name, "bytes": size, "job": dataclasses.asdict(job)}

    # -- jobs -----------------------------------------------------------------------------------------------------

    def job_for(key: ApiKey, job_id: str) -> Job:
        job = app.state.jobs.view(job_id)
        if job is None or not key.sees(job.collection):
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @app.get("/api/jobs", tags=["documents"])
    def jobs(key: Caller, collection: str | None = None) -> list[dict[str, Any]]:
        return [dataclasses.asdict(j) for j in app.state.jobs.list(collection) if key.sees(j.collection)]

    @app.get("/api/jobs/{job_id}", tags=["documents"])
    def job(job_id: str, key: Caller) -> dict[str, Any]:
        return dataclasses.asdict(job_for(key, job_id))

    @app.get("/api/jobs/{job_id}/events", tags=["documents"])
    async def job_events(job_id: str, key: Caller) -> EventSourceResponse:
        """Server-sent ``progress`` events until the job is done or failed."""
        current = job_for(key, job_id)

        async def events() -> AsyncIterator[dict[str, str]]:
            job: Job | None = current
            while job is not None:
                yield {"event": "progress", "data": json.dumps(dataclasses.asdict(job))}
                if job.state in ("done", "failed"):
                    return
                job = await asyncio.to_thread(app.state.jobs.wait_change, job_id, progress_key(job), 10.0)

        return EventSourceResponse(events())

    # -- search and answers -----------------------------------------------------------------------------------------

    @app.post("/api/collections/{name}/search", tags=["answers"])
    def search(name: str, body: SearchRequest, key: Caller) -> dict[str, Any]:
        hits, usage, notes = engine_for(key, name).search_with_usage(
            body.query, mode=body.mode, k=body.k, filters=body.filters, rerank=body.rerank, transform=body.transform
        )
        return {"hits": [hit_json(h, uploads) for h in hits], "usage": usage_json(usage), "notes": list(notes)}

    @app.get("/api/collections/{name}/chunks/{chunk_id}", tags=["answers"])
    def chunk(name: str, chunk_id: str, key: Caller) -> dict[str, Any]:
        hit = engine_for(key, name).fetch_chunk(chunk_id)
        if hit is None:
            raise HTTPException(404, f"no chunk {chunk_id!r} in {name!r}")
        return hit_json(hit, uploads)

    @app.post("/api/collections/{name}/ask", tags=["answers"], response_model=None)
    async def ask(name: str, body: AskRequest, key: Caller) -> dict[str, Any] | EventSourceResponse:
        """An answer with numbered citations and a verdict per claim. With ``stream``: server-sent events
        ``token`` (text as the generator writes it), then ``answer`` (the final answer, citations, verdicts), or
        ``error``."""
        engine = engine_for(key, name)
        options = {
            "mode": body.mode,
            "k": body.k,
            "verifier": body.verifier,
            "policy": body.policy,
            "filters": body.filters,
            "parent": body.parent,
            "verify": body.verify,
        }
        if not body.stream:
            answer = await asyncio.to_thread(engine.ask, body.question, **options)
            return answer_json(answer, uploads)
        return EventSourceResponse(
            answer_events(lambda on_token: engine.ask(body.question, on_token=on_token, **options), uploads)
        )

    # -- reports and UI -------------------------------------------------------------------------------------------

    @app.get("/api/reports", tags=["server"])
    def reports(key: Caller) -> list[dict[str, Any]]:
        require(key, "read")
        root = settings.reports_folder
        if not root.is_dir():
            return []
        found = sorted(p for p in root.rglob("*.html") if p.is_file())
        return [
            {"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "modified": p.stat().st_mtime}
            for p in found
        ]

    @app.get("/reports/{path:path}", tags=["server"], include_in_schema=False)
    def report(path: str, key: Caller) -> FileResponse:
        require(key, "read")
        root = settings.reports_folder.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or target.suffix != ".html" or not target.is_file():
            raise HTTPException(404, f"no report {path!r}")
        return FileResponse(target, media_type="text/html")

    from .openai import add_openai_routes

    add_openai_routes(app, engine_for)

    if _UI.is_dir():
        app.mount("/ui", StaticFiles(directory=_UI, html=True), name="ui")

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/ui/")

    return app
