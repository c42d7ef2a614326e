"""Times on the wire are China time with their offset: no response model declares a bare datetime
(shared.schemas.ChinaTime writes +08:00 whatever the database handed back)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESPONSE_MODULES = [*sorted(ROOT.glob("services/*/schemas.py")), ROOT / "shared" / "audit_api.py"]


def bare_datetimes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name.endswith(("Out", "Page", "Stats")):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and "datetime" in ast.unparse(item.annotation).split(" | "):
                    found.append(f"{path.relative_to(ROOT)}: {node.name}.{ast.unparse(item.target)}")
    return found


def test_no_response_model_declares_a_bare_datetime():
    assert [where for path in RESPONSE_MODULES for where in bare_datetimes(path)] == []
