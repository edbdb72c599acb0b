"""`POST /upload/monev`: an OPD operator sends the month's Form A workbook (multipart,
field `file`; optional `opd`, which must be the key's own OPD).

Only an `opd` key may upload, and only for its own OPD (403 FORBIDDEN otherwise, the
public included). The file is at most 10 MB (413 BODY_TOO_LARGE) and an `.xlsx`; it is
checked in a process of its own (`hub.uploads.check`, decision 48): not a plain workbook
(macros, external links, formulas referring outside it) is 415 UPLOAD_REFUSED, rows the
OPD's mapping cannot read are 422 UPLOAD_REFUSED with every problem in Indonesian
(`extensions.problems`: sheet, row, column, reason). Nothing of a refused file is kept;
the refusal is audited. A file the OPD already sent (same SHA-256) is acknowledged (200,
`status: DUPLICATE`), not kept twice. An accepted file is kept in the store with who sent
it, when and its hash, audited, and its source synced at once ("sync now"): 201,
`status: ACCEPTED`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import resource
import sys
import tempfile
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.auth import Role, Viewer
from hub.auth.guard import Gatekeeper
from hub.db import driver_connection
from hub.errors import ErrorCode, as_store_unavailable, error_entry
from hub.events.broker import SYNC
from hub.serving.opendata.routes import viewer_of
from hub.serving.responses import error_body
from resolvers import uploads

log = logging.getLogger("rantai.upload")

MAX_BYTES = 10 * 1024 * 1024
_FORM_SLACK = 64 * 1024  # the multipart envelope around the file
CHECK_SECONDS = 120
CHECK_COST_SECONDS = 0.5  # what a check's own process costs, counted as the caller's CPU
CHECKS_AT_ONCE = 2  # check processes per hub process; more uploads wait their turn
_checks: asyncio.Semaphore | None = None


def _refusal(status: int, code: ErrorCode, message: str, **extensions: Any) -> Response:
    entry = error_entry(code, message)
    entry.setdefault("extensions", {}).update(extensions)
    return JSONResponse({"errors": [entry]}, status_code=status)


async def run_check(
    config: str, viewer: Viewer, name: str, data: bytes, own: list[str]
) -> tuple[dict[str, Any], float]:
    """`hub.uploads.check` on the file, in a process of its own (CHECKS_AT_ONCE at most),
    and the CPU seconds that process used."""
    global _checks
    if _checks is None:
        _checks = asyncio.Semaphore(CHECKS_AT_ONCE)
    async with _checks:
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="rantai-own-") as listed:
            json.dump(own, listed)
            listed.flush()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = await _check_process(config, viewer, name, data, listed.name)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Children that ended meanwhile are counted too (another check): never less than this one.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result, cpu


async def _check_process(
    config: str, viewer: Viewer, name: str, data: bytes, own: str
) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.uploads.check",
        "--config",
        config,
        "--region",
        viewer.region_code or "",
        "--opd",
        viewer.opd_code or "",
        "--name",
        name,
        "--own",
        own,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), CHECK_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"error": f"the check ran longer than {CHECK_SECONDS} s", "slow": True}
    if process.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"the check failed ({process.returncode}): {tail[0]}"}
    result: dict[str, Any] = json.loads(out)
    return result


def _file_name(sent: str) -> str:
    """The file's own name as kept and shown: no folders ("../../x.xlsx" is "x.xlsx"), no
    control characters, at most 200 characters."""
    base = re.split(r"[/\\]", sent)[-1]
    return "".join(ch for ch in base if ch.isprintable()).strip()[-200:]


async def _audit_refusal(request: Request, viewer: Viewer, detail: dict[str, Any]) -> None:
    settings = request.app.state.settings
    with as_store_unavailable():
        async with driver_connection(request.app.state.engine) as conn:
            await uploads.refused(conn, settings.secret_key, viewer.actor, detail)


async def upload_monev(request: Request) -> Response:
    viewer = await viewer_of(request)
    if isinstance(viewer, Response):
        return viewer
    if not viewer.authenticated or viewer.role is not Role.OPD or not viewer.opd_code:
        return _refusal(
            403,
            ErrorCode.FORBIDDEN,
            "Hanya operator OPD dengan kunci API `opd` yang dapat mengunggah Form A.",
        )
    gate: Gatekeeper = request.app.state.gate
    wait = gate.retry_after(viewer.actor)
    if wait is not None:
        return JSONResponse(
            error_body(ErrorCode.RATE_LIMITED, "Terlalu banyak permintaan; coba lagi nanti."),
            status_code=429,
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BYTES + _FORM_SLACK:
        return _refusal(413, ErrorCode.BODY_TOO_LARGE, "Berkas lebih dari 10 MB.")
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as exc:  # a malformed multipart body
        return JSONResponse(
            error_body(ErrorCode.BAD_REQUEST, f"Kirim multipart/form-data: {exc}"), 400
        )
    try:
        opd = form.get("opd")
        if isinstance(opd, str) and opd.strip() and opd.strip() != viewer.opd_code:
            return _refusal(
                403,
                ErrorCode.FORBIDDEN,
                f"Kunci ini untuk OPD {viewer.opd_code}; tidak dapat mengunggah untuk OPD "
                f"{opd.strip()}.",
            )
        file = form.get("file")
        if not isinstance(file, UploadFile):
            return JSONResponse(
                error_body(ErrorCode.BAD_REQUEST, "Kirim buku kerja di field `file`."), 400
            )
        name = _file_name(file.filename or "")
        data = await file.read(MAX_BYTES + 1)
    finally:
        await form.close()
    if len(data) > MAX_BYTES:
        return _refusal(413, ErrorCode.BODY_TOO_LARGE, "Berkas lebih dari 10 MB.")
    digest = hashlib.sha256(data).hexdigest()
    detail: dict[str, Any] = {"fileName": name, "size": len(data), "sha256": digest}
    if not name.lower().endswith(".xlsx"):
        await _audit_refusal(request, viewer, {**detail, "reason": "not .xlsx"})
        return _refusal(
            415, ErrorCode.UPLOAD_REFUSED, "Hanya buku kerja .xlsx yang diterima.", problems=[]
        )
    region, opd_code = viewer.region_code or "", viewer.opd_code
    with as_store_unavailable():
        async with driver_connection(request.app.state.engine) as conn:
            same = await uploads.earlier(conn, region, opd_code, digest)
    if same is not None:
        when = same["uploaded_at"].isoformat()
        return JSONResponse(
            {
                "status": "DUPLICATE",
                "message": f"Berkas ini sudah diterima pada {when}; tidak disimpan dua kali.",
                "upload": uploads.described(same),
            }
        )
    settings = request.app.state.settings
    with as_store_unavailable():
        async with driver_connection(request.app.state.engine) as conn:
            own = await uploads.own_sub_activities(conn, region, opd_code)
    checked, cpu = await run_check(str(settings.config_path), viewer, name, data, own)
    # A check is work done for the caller beyond a request: its process's CPU counts
    # against the caller's rate.
    gate.charge(viewer.actor, cpu + CHECK_COST_SECONDS)
    if checked.get("slow"):
        await _audit_refusal(request, viewer, {**detail, "reason": "check too slow"})
        return _refusal(
            422,
            ErrorCode.UPLOAD_REFUSED,
            f"Berkas ditolak: pemeriksaannya lebih dari {CHECK_SECONDS} detik (terlalu "
            "banyak baris atau sel). Kirim hanya lembar Form A bulan ini.",
            problems=[],
        )
    if "error" in checked:
        log.error("upload check for %s failed: %s", viewer.actor, checked["error"])
        return JSONResponse(
            error_body(ErrorCode.INTERNAL_SERVER_ERROR, "Berkas tidak dapat diperiksa."), 500
        )
    problems = checked.get("problems") or []
    if problems:
        status = 415 if checked.get("package") else 422
        await _audit_refusal(request, viewer, {**detail, "problems": len(problems)})
        return _refusal(
            status,
            ErrorCode.UPLOAD_REFUSED,
            f"Berkas ditolak: {len(problems)} masalah; tidak ada yang disimpan.",
            problems=problems,
        )
    upload = {
        "source": checked["source"],
        "region": region,
        "opd": opd_code,
        "fileName": name,
        "sha256": digest,
        "rows": int(checked.get("rows") or 0),
        "actor": viewer.actor,
    }
    with as_store_unavailable():
        async with driver_connection(request.app.state.engine) as conn:
            row, sync_request = await uploads.keep(conn, settings.secret_key, upload, data)
    if sync_request is None:
        return JSONResponse({"status": "DUPLICATE", "upload": uploads.described(row)})
    broker = request.app.state.feed.broker
    if broker is not None:
        try:
            await broker.publish(SYNC, str(sync_request))
        except Exception as exc:  # kept and requested; the sync loop finds it by polling
            log.warning("could not tell the %s broker about an upload: %s", broker.kind, exc)
    return JSONResponse(
        {"status": "ACCEPTED", "upload": uploads.described(row), "syncRequest": sync_request},
        status_code=201,
    )
