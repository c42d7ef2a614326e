"""Where a process spends its time under load: py-spy samples, summarized for BENCHMARKS.md.

`Sampler(pid, seconds, out)` runs `py-spy record` on a live service process in the background
(non-blocking sampling, so the process is never paused) and keeps the raw collapsed stacks in
`out`; `summarize(out)` turns them into the share of samples spent in each layer (HTTP server,
FastAPI/Starlette, Pydantic, SQLAlchemy, asyncpg, cryptography, our own code...) and the hottest
functions. A profile is taken in its own load run, after the measured one, so sampling never
bends the figures it explains.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PY_SPY = Path(sys.executable).parent / "py-spy"

# Layers by the file a frame comes from; the first match wins.
LAYERS = (
    ("asyncpg", "asyncpg"),
    ("sqlalchemy", "sqlalchemy"),
    ("pydantic", "pydantic"),
    ("fastapi/starlette", "fastapi"),
    ("fastapi/starlette", "starlette"),
    ("uvicorn/http", "uvicorn"),
    ("uvicorn/http", "httptools"),
    ("cryptography", "cryptography"),
    ("kafka", "kafka"),
    ("jwt", "jwt/"),
    ("prometheus", "prometheus_client"),
    ("logging", "logging/"),
    ("json", "json/"),
    ("asyncio event loop", "asyncio/"),
    ("shared/ kernel", "shared/"),
    ("services/ code", "services/"),
)


class Sampler:
    def __init__(self, pid: int, seconds: float, out: Path, rate: int = 200) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.proc = subprocess.Popen(
            [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
             "--nonblocking", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> dict[str, Any]:
        _, err = self.proc.communicate(timeout=120)
        if self.proc.returncode != 0 or not self.out.exists():
            return {"error": err.decode(errors="replace")[-500:]}
        return summarize(self.out)


def _layer(frame: str) -> str:
    where = frame[frame.rfind("(") + 1:] if "(" in frame else frame
    for name, marker in LAYERS:
        if marker in where:
            return name
    return "other"


def summarize(raw: Path, top: int = 12) -> dict[str, Any]:
    """Share of samples per layer (by the innermost frame: where the CPU actually was) and the
    hottest innermost functions."""
    layers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        leaf = stack.split(";")[-1]
        total += count
        layers[_layer(leaf)] += count
        functions[leaf] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "file": str(raw),
        "share_by_layer": {name: round(n / total, 3) for name, n in layers.most_common()},
        "hottest_functions": [{"function": f, "share": round(n / total, 3)} for f, n in functions.most_common(top)],
    }
