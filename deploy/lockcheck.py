"""Image build step: fail when anything installed in the venv is not pinned, at that version, in
requirements.lock. Runs inside the build stage: `python lockcheck.py requirements.lock`."""

from __future__ import annotations

import importlib.metadata
import re
import sys


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock_path: str) -> None:
    pins: dict[str, str] = {}
    with open(lock_path, encoding="utf-8") as lock:
        for line in lock:
            name, sep, version = line.split("#", 1)[0].strip().partition("==")
            if sep:
                pins[normalized(name)] = version.strip()
    loose = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if normalized(dist.metadata["Name"]) != "zhengming"
        and pins.get(normalized(dist.metadata["Name"])) != dist.version
    )
    if loose:
        sys.exit(f"installed but not pinned so in {lock_path}: {', '.join(loose)}")
    print(f"every installed distribution is pinned in {lock_path}")


if __name__ == "__main__":
    main(sys.argv[1])
