"""The docs cannot drift: the configuration reference is generated from TelemetryConfig and checked.

Regenerate the options table after changing config.py:  python tests/test_docs.py --write
"""

from __future__ import annotations

import dataclasses
import re
import sys
import warnings
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from astrid.config import TelemetryConfig  # noqa: E402

DOCS = ROOT / "docs"
CONFIG_DOC = DOCS / "configuration.md"
START, END = "<!-- options:start -->", "<!-- options:end -->"
MY_DOCS = ["index.md", "quickstart.md", "configuration.md", "library-authors.md", "troubleshooting.md",
           "migration.md", "backends/local.md", "backends/custom.md"]


def _default(f: "dataclasses.Field[object]") -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:  # pragma: no cover
        return "required"
    return "`%r`" % (value,)


def options_table() -> str:
    rows = ["| Option | Environment variable | Default | Meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(TelemetryConfig):
        if f.name not in TelemetryConfig.option_names():
            continue
        env = f.metadata.get("env")
        doc = str(f.metadata.get("doc", "")).replace("|", "\\|")
        rows.append("| `%s` | %s | %s | %s |" % (f.name, "`%s`" % env if env else "—", _default(f), doc))
    return "\n".join(rows)


def _block(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_configuration_reference_matches_telemetry_config():
    text = CONFIG_DOC.read_text(encoding="utf-8")
    assert _block(text) == options_table(), "docs/configuration.md is stale: python tests/test_docs.py --write"


def test_every_option_and_variable_is_documented():
    text = CONFIG_DOC.read_text(encoding="utf-8")
    for name in TelemetryConfig.option_names():
        assert "`%s`" % name in text, name
    # every ASTRID_* / OTEL_* variable the code reads is explained somewhere in the reference
    read: List[str] = []
    for path in (ROOT / "src" / "astrid").rglob("*.py"):
        read += re.findall(r"\b((?:ASTRID|OTEL)_[A-Z_]*[A-Z])\b", path.read_text(encoding="utf-8"))
    missing = sorted({v for v in read if v not in text and v not in ("OTEL_ROW", "OTEL_EXPORTER_OTLP")})
    assert not missing, "undocumented environment variables: %s" % missing


def _links(path: Path) -> List[str]:
    return re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))


#: Pages other parts of the project write; a link to one that is not there yet only warns.
PENDING = {"privacy.md", "testing.md", "backends/otlp.md"}


def test_links_between_docs_resolve():
    broken, pending = [], set()
    for name in MY_DOCS:
        path = DOCS / name
        for link in _links(path):
            if re.match(r"^[a-z]+:", link):
                continue
            target = (path.parent / link).resolve()
            if target.exists():
                continue
            rel = target.relative_to(DOCS.resolve()).as_posix() if DOCS.resolve() in target.parents else ""
            if rel in PENDING:
                pending.add(rel)
            else:
                broken.append("%s -> %s" % (name, link))
    assert not broken, broken
    if pending:
        warnings.warn("docs not written yet: %s" % ", ".join(sorted(pending)), stacklevel=1)


def test_python_snippets_compile():
    for name in MY_DOCS:
        text = (DOCS / name).read_text(encoding="utf-8")
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", text, re.S)):
            compile(code, "%s[snippet %d]" % (name, i), "exec")


def test_cli_commands_in_the_docs_exist():
    from astrid.cli import _COMMANDS

    for name in MY_DOCS:
        text = (DOCS / name).read_text(encoding="utf-8")
        for cmd in re.findall(r"\bastrid ([a-z][a-z-]+)", text):
            if cmd in ("demo", "inspect", "status", "consent", "send-test", "schema", "version"):
                assert cmd in _COMMANDS
            # prose such as "astrid telemetry" is fine; only backticked commands are checked
        for cmd in re.findall(r"`astrid ([a-z][a-z-]*)", text):
            assert cmd in _COMMANDS, "%s mentions unknown command astrid %s" % (name, cmd)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        text = CONFIG_DOC.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        CONFIG_DOC.write_text(head + START + "\n" + options_table() + "\n" + END + tail, encoding="utf-8")
        print("updated", CONFIG_DOC.relative_to(ROOT))
    else:
        print(options_table())
