"""Recompile every examples/*.seg into generated/ (what `make generated` runs; tests/test_emit.py checks it)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


START, END = "<!-- generated: contract keys -->\n", "<!-- end generated -->"


def docs() -> int:
    """The key table of docs/compiled-config.md, from the compiled-config contract (spec/config.py)."""
    sys.path.insert(0, str(ROOT))
    from segal_dsl.spec.config import render_contract_table

    path = ROOT / "docs" / "compiled-config.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + START + render_contract_table() + END + tail, encoding="utf-8")
    print(path.relative_to(ROOT))
    return 0


def main() -> int:
    if sys.argv[1:] == ["--docs"]:
        return docs()
    os.chdir(ROOT)  # paths in the outputs are relative to the repository root
    sys.path.insert(0, str(ROOT))
    from segal_dsl.api import compile_file
    from segal_dsl.diagnostics import SegalError

    out_dir = Path("generated")
    out_dir.mkdir(exist_ok=True)
    stems = set()
    for seg in sorted(Path("examples").glob("*.seg")):
        stems.add(seg.stem)
        try:
            compile_file(seg.as_posix(), (out_dir / f"{seg.stem}.py").as_posix())
        except SegalError as err:
            print(f"{seg}: {err}", file=sys.stderr)
            return 1
        print(f"generated/{seg.stem}.py")
    for stale in out_dir.iterdir():
        if stale.name.split(".")[0] not in stems:
            stale.unlink()
            print(f"removed stale {stale}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
