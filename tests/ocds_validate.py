"""Validates an OCDS package with libcoveocds, offline; run by tests/test_ocds.py in its own
process with libcoveocds installed apart (tests/.ocds-tools/): libcoveocds' dependency
flattentool needs the PyPI package `schema`, whose name is the hub's own `schema` package.

    python tests/ocds_validate.py TOOLS_DIR PACKAGE.json  →  a JSON summary on stdout

The standard's schema and codelists come from tests/ocds_standard/ (OCDS 1.1.5, vendored
with its licence), handed to libcoveocds as the zip of the standard it would download."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

STANDARD = Path(__file__).parent / "ocds_standard"
BID_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/"
)
# ocdsextensionregistry reads a GitHub-hosted extension from its tag's archive.
BID_ARCHIVE = "https://github.com/open-contracting-extensions/ocds_bid_extension/archive/v1.1.5.zip"


def bid_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ocds_bid_extension-1.1.5/", "")
        for path in sorted((STANDARD / "bid_extension").rglob("*")):
            if path.is_file():
                name = path.relative_to(STANDARD / "bid_extension").as_posix()
                archive.write(path, "ocds_bid_extension-1.1.5/" + name)
    return buffer.getvalue()


def serve_extension_offline() -> None:
    """The bid extension's files, answered from tests/ocds_standard/bid_extension/ for its
    URLs; any other URL fails as it would without a network."""
    import requests
    from ocdsextensionregistry import util
    from requests.adapters import HTTPAdapter
    from urllib3.response import HTTPResponse

    class Local(HTTPAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            url = str(request.url)
            path = STANDARD / "bid_extension" / url.removeprefix(BID_EXTENSION)
            if url == BID_ARCHIVE:
                content = bid_archive()
            elif url.startswith(BID_EXTENSION) and path.is_file():
                content = path.read_bytes()
            else:
                raise requests.ConnectionError(f"offline: {url}")
            raw = HTTPResponse(
                body=io.BytesIO(content),
                status=200,
                preload_content=False,
                request_url=request.url,
            )
            return self.build_response(request, raw)

    session = util.session
    session.mount("https://", Local())
    session.mount("http://", Local())

    # The record package schema refers to the versioned release schema by its URL, which
    # jsonref fetches with requests.get: answered from the vendored standard too.
    import jsonref

    class Standard:
        prefix = "https://standard.open-contracting.org/schema/1__1__5/"

        @classmethod
        def get(cls, uri: str, **kwargs: object) -> object:
            path = STANDARD / "schema" / uri.removeprefix(cls.prefix)
            if not uri.startswith(cls.prefix) or not path.is_file():
                raise requests.ConnectionError(f"offline: {uri}")
            text = path.read_text()

            class Answer:
                @staticmethod
                def raise_for_status() -> None:
                    pass

                @staticmethod
                def json(**_: object) -> object:
                    return json.loads(text)

            return Answer()

    jsonref.requests = Standard  # type: ignore[attr-defined]


def standard_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("standard/", "")
        for path in sorted((STANDARD / "schema").rglob("*")):
            if path.is_file():
                archive.write(path, "standard/" + path.relative_to(STANDARD).as_posix())
    return buffer.getvalue()


def main() -> None:
    tools, package = sys.argv[1], sys.argv[2]
    sys.path.insert(0, tools)
    serve_extension_offline()
    from libcoveocds.api import ocds_json_output
    from libcoveocds.config import LibCoveOCDSConfig

    config = LibCoveOCDSConfig({"standard_zip": standard_zip(), "context": "api"})
    data = json.loads(Path(package).read_text())
    # libcoveocds writes the extended schema into output_dir: beside the package, not here.
    result = ocds_json_output(
        output_dir=str(Path(package).parent),
        json_data=data,
        lib_cove_ocds_config=config,
        schema_version="1.1",
    )
    summary = {
        "validation_errors": result.get("validation_errors", []),
        "additional_fields_count": result.get("additional_fields_count"),
        "additional_fields": sorted(str(k) for k in (result.get("additional_fields") or {})),
        "invalid_extension": (result.get("extensions") or {}).get("invalid_extension", {}),
        "extensions": [
            e.get("name") if isinstance(e, dict) else str(e)
            for e in (result.get("extensions") or {}).get("extensions", [])
        ],
        "version_used": result.get("version_used"),
        "releases_count": result.get("releases_aggregates", {}).get("release_count"),
        "additional_checks": result.get("additional_checks", {}),
    }
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
