"""Compiles every locale/**/*.po into the .mo next to it, in pure Python (polib), so that `make run` and `make test`
need no GNU gettext. A .mo newer than its .po is left alone; a fuzzy entry is left out, as msgfmt does."""

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    compiled = 0
    for po_path in sorted((ROOT / "locale").glob("**/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        catalog = polib.pofile(str(po_path))
        # msgfmt leaves fuzzy entries out; polib's save_as_mofile would ship them.
        for entry in catalog.fuzzy_entries():
            catalog.remove(entry)
        catalog.save_as_mofile(str(mo_path))
        compiled += 1
    print(f"compile_messages: {compiled} catalog(s) compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
