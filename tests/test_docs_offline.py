"""`/docs` and `/redoc` as an operator on an isolated network sees them: each service is served on a
real port and its pages are rendered by a real headless Chromium (Debian's `chromium`) that can
reach nothing but 127.0.0.1.

Without Chromium the tests skip, with a warning saying why; `ZM_REQUIRE_BROWSER=1` (CI, and
`make docs-check`) makes that a failure. `ZM_CHROMIUM` names another Chromium binary."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import threading
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.registry import SERVICES
from tests.conftest import build_app, eventually

REQUIRE_BROWSER = os.environ.get("ZM_REQUIRE_BROWSER") == "1"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
BROWSER_TIMEOUT_S = 120  # wall clock for one page; a healthy render takes a few seconds
VIEWPORT = (1280, 900)  # the first screen an operator sees
pytestmark = pytest.mark.processes  # it starts browsers: not in `make test-fast`


@dataclass(frozen=True)
class Rendered:
    """What the browser made of one page: its DOM after the scripts ran, every URL the page itself
    asked for, and (if asked) a screenshot."""

    dom: str
    requested: list[str]
    screenshot: Path | None


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser: `ZM_CHROMIUM` if set, else Debian's `chromium`."""
    named = os.environ.get("ZM_CHROMIUM")
    if named:
        found = named if Path(named).is_file() else None
    else:
        found = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    if found:
        return found
    reason = (f"the offline /docs check needs Debian's chromium (apt-get install chromium), "
              f"and {named or 'chromium'} is not installed; ZM_REQUIRE_BROWSER=1 makes this a failure")
    if REQUIRE_BROWSER:
        pytest.fail(reason)
    warnings.warn(reason, pytest.PytestWarning, stacklevel=1)  # shown in the summary, not only with -rs
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app served by uvicorn on a real TCP port of 127.0.0.1 (in a thread with its own event loop,
    lifespan and all); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        async def up() -> bool:
            assert thread.is_alive() or server.started, "uvicorn stopped before it served"
            return server.started

        await eventually(up, timeout_s=60, what="the service listening")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 30)
        sock.close()


async def render(chromium: str, url: str, workdir: Path, *, screenshot: bool = False) -> Rendered:
    """`url` rendered by headless Chromium cut off from every host but 127.0.0.1: names resolve to
    nothing and anything else goes to a proxy that is not there."""
    workdir.mkdir(parents=True)
    shot = workdir / "screen.png"
    netlog = workdir / "netlog.json"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-extensions", "--hide-scrollbars",
        f"--user-data-dir={workdir / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
        f"--log-net-log={netlog}",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        # Virtual time stands still while a fetch is pending and runs ahead when the page is idle: the
        # DOM is dumped once the scripts have had 30 s of it, which takes a few real seconds.
        "--virtual-time-budget=30000",
        *([f"--screenshot={shot}"] if screenshot else []),
        "--dump-dom", url,
    ]
    # A session of its own, so a hung browser goes with all its helper processes.
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT_S)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise AssertionError(f"chromium did not finish rendering {url} within {BROWSER_TIMEOUT_S}s") from None
    assert proc.returncode == 0, f"chromium failed on {url}: {err.decode(errors='replace')[-2000:]}"
    return Rendered(out.decode(), page_requests(netlog, url), shot if screenshot else None)


def page_requests(netlog: Path, url: str) -> list[str]:
    """Every URL the page at `url` asked for (scripts, styles, images, fetches), from Chromium's net
    log: the requests it initiated, not the browser's own (updates, time, autofill)."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short at exit lacks its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = "{}://{}".format(*urlsplit(url)[:2])
    return [event["params"]["url"] for event in log["events"]
            if event["type"] == start_job and event.get("params", {}).get("initiator") == origin]


class Operations(HTMLParser):
    """The (method, path) pairs a rendered page lists. Swagger UI: an `opblock opblock-<method>` block
    holding an element with `data-path`. ReDoc: a `http-verb` span followed by a span with the path."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[tuple[str, str]] = set()
        self._swagger_method: str | None = None
        self._verb: list[str] | None = None  # text of the ReDoc verb span being read
        self._redoc_method: str | None = None
        self._path: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "opblock" in classes:
            methods = [c.removeprefix("opblock-") for c in classes if c.removeprefix("opblock-") in HTTP_METHODS]
            self._swagger_method = methods[0] if methods else None
        if self._swagger_method and attributes.get("data-path"):
            self.found.add((self._swagger_method, attributes["data-path"] or ""))
            self._swagger_method = None
        if tag == "span" and "http-verb" in classes:
            self._verb = []
        elif tag == "span" and self._redoc_method:
            self._path = []

    def handle_data(self, data: str) -> None:
        for part in (self._verb, self._path):
            if part is not None:
                part.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "span":
            return
        if self._verb is not None:
            self._redoc_method, self._verb = "".join(self._verb).strip().lower(), None
        elif self._path is not None and self._redoc_method:
            self.found.add((self._redoc_method, "".join(self._path).strip()))
            self._redoc_method = self._path = None


def operations_in(dom: str) -> set[tuple[str, str]]:
    parser = Operations()
    parser.feed(dom)
    return parser.found


def documented_operations(app: FastAPI) -> set[tuple[str, str]]:
    return {(method, path) for path, item in app.openapi()["paths"].items()
            for method in item if method in HTTP_METHODS}


class References(HTMLParser):
    """Every URL a served HTML page refers to: src, href and spec-url attributes, and any absolute or
    protocol-relative URL written in its text or scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]

    def handle_data(self, data: str) -> None:
        for word in data.replace("'", " ").replace('"', " ").split():
            if "//" in word and word.split("//")[0] in ("", "http:", "https:"):
                self.urls.append(word.rstrip(",;)"))


def off_host(urls: list[str], base: str) -> list[str]:
    """The URLs among `urls` that, read on a page of `base`, lead to another scheme, host or port."""
    here = urlsplit(base)
    return [url for url in urls if urlsplit(urljoin(base + "/", url))[:2] != here[:2]]


def byte_sum(a: int, b: int) -> int:
    return (a + b) & 255


def png_colours(png: bytes) -> collections.Counter[bytes]:
    """How many pixels of each colour an 8-bit RGB(A), non-interlaced PNG holds (what Chromium
    writes), decoded with the standard library: zlib and the five PNG row filters."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
    assert header is not None, "a PNG without its header"
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, f"an unexpected PNG format: {header}"
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(chunks))
    colours: collections.Counter[bytes] = collections.Counter()
    above = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1:start + 1 + stride]
        row = bytearray(line)
        if kind == 1:  # Sub: a running sum along each channel
            for c in range(bpp):
                channel: list[int] = list(accumulate(line[c::bpp], byte_sum))
                row[c::bpp] = bytes(channel)
        elif kind == 2:  # Up
            row = bytearray((a + b) & 255 for a, b in zip(line, above, strict=True))
        elif kind in (3, 4):  # Average, Paeth
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                up = above[i]
                if kind == 3:
                    row[i] = (row[i] + ((left + up) >> 1)) & 255
                    continue
                corner = above[i - bpp] if i >= bpp else 0
                guess = left + up - corner
                dl, du, dc = abs(guess - left), abs(guess - up), abs(guess - corner)
                row[i] = (row[i] + (left if dl <= du and dl <= dc else up if du <= dc else corner)) & 255
        colours.update(bytes(row[i:i + 3]) for i in range(0, stride, bpp))
        above = bytes(row)
    return colours


@pytest.mark.parametrize("service", list(SERVICES))
async def test_docs_and_redoc_show_every_operation_in_a_browser_cut_off_from_the_internet(
        service: str, chromium: str, new_database: Callable[[str], Awaitable[str]],
        settings_for: Callable[..., Any], tmp_path: Path) -> None:
    app = build_app(service, settings_for(service, await new_database(service)))
    documented = documented_operations(app)
    assert documented, "the service documents operations"
    assert not {path for path in app.openapi()["paths"] if path.startswith(("/docs", "/redoc", "/static-docs"))}, \
        "the docs pages are not operations of the API"
    async with served(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for page in ("/docs", "/redoc"):  # open like /openapi.json: no token
                served_html = await client.get(page)
                assert served_html.status_code == 200, page
                references = References()
                references.feed(served_html.text)
                assert references.urls, f"{page} names its scripts"
                assert not off_host(references.urls, base), f"{page} refers off the host"
                for url in references.urls:
                    assert (await client.get(url)).status_code == 200, f"{page} refers to {url}, which is missing"
        docs, redoc = await asyncio.gather(render(chromium, f"{base}/docs", tmp_path / "docs", screenshot=True),
                                           render(chromium, f"{base}/redoc", tmp_path / "redoc"))

    assert "SwaggerUIBundle is not defined" not in docs.dom
    assert operations_in(docs.dom) == documented, "Swagger UI lists every operation of the OpenAPI document"
    assert operations_in(redoc.dom) == documented, "ReDoc lists every operation of the OpenAPI document"
    for rendered, page in ((docs, "/docs"), (redoc, "/redoc")):
        assert f"{base}/openapi.json" in rendered.requested, f"the net log holds what {page} asked for"
        assert not off_host(rendered.requested, base), f"{page} asked for something off the host"

    assert docs.screenshot is not None
    colours = png_colours(docs.screenshot.read_bytes())
    pixels = sum(colours.values())
    background, most = colours.most_common(1)[0]
    assert pixels == VIEWPORT[0] * VIEWPORT[1]
    # A page whose scripts did not load is one flat colour; Swagger UI's first screen has text, the
    # coloured method badges and their tinted blocks.
    assert len(colours) > 50 and most < 0.9 * pixels, \
        f"the /docs screenshot looks blank ({len(colours)} colours, {most / pixels:.0%} {background.hex()}): " \
        f"{docs.screenshot}"
