"""The docs cannot drift: every python/bash block in README.md and docs/**/*.md runs, and the
configuration reference is generated from TelemetryConfig and checked.

Regenerate the options table after changing config.py:  python tests/test_docs.py --write

How a doc block is run (one interpreter or shell per block, cwd a fresh temporary directory):
telemetry goes to a loopback inspector started for the test session (``ASTRID_ENDPOINT`` and
``OTEL_EXPORTER_OTLP_ENDPOINT`` point at it, and the default ``http://localhost:4318`` in a
block is replaced by its URL); the consent store is a temporary directory; the ``astrid``
command and ``python`` are the ones of the interpreter running the tests; ``examples/``,
``src/`` and ``docs/`` of the checkout are linked into the working directory. An HTML comment
on the line right before a fence changes that:

    <!-- not-run: why this block cannot run in the test suite -->
    <!-- requires: flask, fastapi -->    skipped when a module is not installed
    <!-- continue -->                    runs after the previous python block of the same page
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from astrid.config import TelemetryConfig  # noqa: E402

DOCS = ROOT / "docs"
CONFIG_DOC = DOCS / "configuration.md"
START, END = "<!-- options:start -->", "<!-- options:end -->"


def doc_pages() -> List[Path]:
    """README.md and every page under docs/, found anew on each run (new pages are covered too)."""
    return [ROOT / "README.md"] + sorted(DOCS.rglob("*.md"))


MY_DOCS = [p.relative_to(DOCS).as_posix() for p in doc_pages() if p.parent != ROOT]


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


# ====================================================================== doc blocks that run

RUN_LANGS = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
DIRECTIVE = re.compile(r"^\s*<!--\s*(not-run|requires|continue)\s*(?::\s*(.*?))?\s*-->\s*$")
ANY_DIRECTIVE = re.compile(r"^\s*<!--\s*([A-Za-z_ -]+?)\s*(?::.*?)?-->\s*$")
#: misspellings of the directives (other HTML comments, e.g. generated-section markers, are ignored)
LOOKS_LIKE_DIRECTIVE = {"notrun", "norun", "skip", "require", "requires", "continue", "continued", "run", "dontrun"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)[^`]*$")
#: shell commands that install things or run the whole test command: never run by the doc tests
NEEDS_NOT_RUN = re.compile(r"(\bpip3? install\b|\bapt(-get)? install\b|\bnpm (ci|install)\b|scripts/test\b|\.ci/run\b|\bpytest\b)")
BLOCK_TIMEOUT = 60.0
#: stand-ins for the credentials the pages read from the environment (nothing real is reached:
#: every non-loopback request goes to a closed loopback proxy port and fails at once)
DOC_ENV = {
    "OTLP_TOKEN": "doc-test-token",
    "INGEST_TOKEN": "doc-test-token",
    "CLICKHOUSE_PASSWORD": "doc-test-password",
    "ASTRID_SIGNING_SECRET": "doc-test-secret",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


class DocBlock:
    """One fenced block of a page, with the directives written right before it."""

    def __init__(self, page: Path, line: int, lang: str, code: str, directives: Dict[str, str]) -> None:
        self.page, self.line, self.lang, self.code, self.directives = page, line, lang, code, directives
        self.previous: Optional["DocBlock"] = None  # the page's previous python block (for <!-- continue -->)

    @property
    def where(self) -> str:
        return "%s:%d" % (self.page.relative_to(ROOT).as_posix(), self.line)

    def source(self) -> str:
        if "continue" in self.directives and self.previous is not None:
            return self.previous.source() + "\n" + self.code
        return self.code


def doc_blocks(page: Path) -> List[DocBlock]:
    """The fenced blocks of one page (every language), each with its directives."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: List[DocBlock] = []
    i = 0
    last_python: Optional[DocBlock] = None
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        directives: Dict[str, str] = {}
        j = i - 1
        while j >= 0 and (ANY_DIRECTIVE.match(lines[j]) or lines[j].strip().startswith("<!--")):
            d = DIRECTIVE.match(lines[j])
            if d:
                directives[d.group(1)] = (d.group(2) or "").strip()
            else:
                word = re.sub(r"[^a-z]", "", lines[j].split("-->")[0].split(":")[0].lower().replace("<!--", ""))
                if word in LOOKS_LIKE_DIRECTIVE:
                    directives["unknown:" + word] = lines[j].strip()
            j -= 1
        body: List[str] = []
        k = i + 1
        while k < len(lines) and not (lines[k].strip().startswith(fence[0] * len(fence)) and lines[k].strip().strip(fence[0]) == ""):
            body.append(lines[k][len(indent):] if lines[k].startswith(indent) else lines[k].lstrip())
            k += 1
        block = DocBlock(page, i + 1, lang, "\n".join(body) + "\n", directives)
        if RUN_LANGS.get(lang) == "python":
            block.previous = last_python
            last_python = block
        blocks.append(block)
        i = k + 1
    return blocks


def runnable_blocks() -> List[DocBlock]:
    return [b for page in doc_pages() for b in doc_blocks(page) if b.lang in RUN_LANGS]


def _missing_modules(block: DocBlock) -> List[str]:
    import importlib.util

    wanted = [m.strip() for m in block.directives.get("requires", "").split(",") if m.strip()]
    return [m for m in wanted if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def doc_inspector() -> Iterator[Any]:
    from astrid.inspector import Inspector

    with Inspector(port=0) as insp:
        yield insp


_CLEAN_PREFIXES = ("ASTRID_", "OTEL_")
_CLEAN_NAMES = ("DO_NOT_TRACK", "CI", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def _block_env(workdir: Path, url: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(_CLEAN_PREFIXES) or k in _CLEAN_NAMES or k.endswith("_TELEMETRY"))
           or k.startswith("ASTRID_TEST_")}
    bindir = os.path.dirname(sys.executable)
    env.update(
        PATH=bindir + os.pathsep + env.get("PATH", ""),
        PYTHONPATH=str(ROOT / "src"),
        XDG_CONFIG_HOME=str(workdir / ".config"),
        ASTRID_ENDPOINT=url,
        OTEL_EXPORTER_OTLP_ENDPOINT=url,
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(DOC_ENV)
    return env


def _workdir(tmp_path: Path) -> Path:
    for name in ("examples", "src", "docs"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


def _default_port_to(code: str, url: str) -> str:
    return re.sub(r"https?://(localhost|127\.0\.0\.1):4318", url, code)


@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: b.where)
def test_doc_block_runs(block: DocBlock, doc_inspector: Any, tmp_path: Path) -> None:
    if "not-run" in block.directives:
        pytest.skip("not run: " + block.directives["not-run"])
    missing = _missing_modules(block)
    if missing:
        pytest.skip("needs %s" % ", ".join(missing))
    workdir = _workdir(tmp_path)
    url = doc_inspector.url
    code = _default_port_to(block.source(), url)
    if RUN_LANGS[block.lang] == "python":
        script = workdir / "doc_block.py"
        script.write_text(code, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    else:
        script = workdir / "doc_block.sh"
        # `python` means the interpreter running the tests, also where only python3 exists
        script.write_text("python() { %s \"$@\"; }\npython3() { %s \"$@\"; }\n%s" % (sys.executable, sys.executable, code),
                          encoding="utf-8")
        cmd = ["bash", "-eo", "pipefail", str(script)]
    try:
        proc = subprocess.run(cmd, cwd=str(workdir), env=_block_env(workdir, url), capture_output=True,
                              text=True, timeout=BLOCK_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not finish in %.0f s:\n%s" % (block.where, BLOCK_TIMEOUT, code))
    assert proc.returncode == 0, "%s failed (exit %d)\n--- block\n%s--- stdout\n%s--- stderr\n%s" % (
        block.where, proc.returncode, code, proc.stdout, proc.stderr)


def test_doc_directives_are_known_and_not_run_gives_a_reason() -> None:
    problems = []
    for page in doc_pages():
        for b in doc_blocks(page):
            for key, value in b.directives.items():
                if key.startswith("unknown:"):
                    problems.append("%s: unknown directive %s" % (b.where, value))
            if "not-run" in b.directives and len(b.directives["not-run"].split()) < 3:
                problems.append("%s: not-run needs a reason of a few words" % b.where)
            if "not-run" in b.directives and b.lang not in RUN_LANGS:
                problems.append("%s: not-run on a %r block, which never runs anyway" % (b.where, b.lang))
            if "continue" in b.directives and b.previous is None:
                problems.append("%s: continue with no python block before it" % b.where)
    assert not problems, problems


def test_install_and_whole_suite_commands_are_marked_not_run() -> None:
    unmarked = [b.where for b in runnable_blocks()
                if RUN_LANGS[b.lang] == "bash" and NEEDS_NOT_RUN.search(b.code) and "not-run" not in b.directives]
    assert not unmarked, "blocks that install things or run scripts/test must be <!-- not-run: reason -->: %s" % unmarked


def test_the_block_parser_reads_directives_and_indented_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n<!-- not-run: talks to a real server -->\n```bash\ncurl x\n```\n\n"
        "- item\n\n  ```python\n  x = 1\n  ```\n\n<!-- continue -->\n```python\nprint(x)\n```\n"
        "<!-- requires: flask -->\n```py\nimport flask\n```\n```json\n{}\n```\n", encoding="utf-8")
    blocks = doc_blocks(page)
    assert [(b.lang, b.line) for b in blocks] == [("bash", 4), ("python", 10), ("python", 15), ("py", 19), ("json", 22)]
    assert blocks[0].directives == {"not-run": "talks to a real server"}
    assert blocks[1].code == "x = 1\n"
    assert blocks[2].source() == "x = 1\n\nprint(x)\n"
    assert blocks[3].directives == {"requires": "flask"}
    other = tmp_path / "other.md"
    other.write_text("<!-- ddl:events:start -->\n```sql\nSELECT 1\n```\n<!-- not_run: typo -->\n```bash\ntrue\n```\n",
                     encoding="utf-8")
    sql, bash = doc_blocks(other)
    assert sql.directives == {}
    assert list(bash.directives) == ["unknown:notrun"]


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        text = CONFIG_DOC.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        CONFIG_DOC.write_text(head + START + "\n" + options_table() + "\n" + END + tail, encoding="utf-8")
        print("updated", CONFIG_DOC.relative_to(ROOT))
    else:
        print(options_table())
