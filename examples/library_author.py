"""Library author: opt-in telemetry inside a small library ("wordstat") and its command line.

Telemetry is OFF unless the user opts in (``WORDSTAT_TELEMETRY=1`` or
``astrid consent grant --project wordstat``); the first run prints a one-time notice.
Try: ``WORDSTAT_TELEMETRY=1 python examples/library_author.py README.md``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Dict, List, Optional

import astrid
from astrid.consent import first_run_notice

__version__ = "2.3.0"
_client: Optional[astrid.TelemetryClient] = None


def _telemetry() -> astrid.TelemetryClient:
    """One client per process, created lazily: importing the library costs nothing."""
    global _client
    if _client is None:
        # enabled=None: the user's choice decides (env switch, stored consent); off in CI
        _client = astrid.TelemetryClient("wordstat", version=__version__)
    return _client


def top_words(text: str, n: int = 5) -> List[str]:
    """The library's public function. Telemetry records that it ran and how big the input was,
    never the text itself."""
    started = time.perf_counter()
    words = [w.strip(".,;:!?()[]\"'").lower() for w in text.split()]
    result = [w for w, _ in Counter(w for w in words if w).most_common(n)]
    tel = _telemetry()
    tel.track_event("wordstat.top_words", {"n": n, "input.words": len(words)})
    tel.track_metric(
        "wordstat.duration",
        (time.perf_counter() - started) * 1000,
        metric_type="histogram",
        unit="ms",
    )
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """The library's CLI: ``wordstat FILE...``."""
    first_run_notice("wordstat")  # once per user; never in CI or under DO_NOT_TRACK
    parser = argparse.ArgumentParser(prog="wordstat")
    parser.add_argument("files", nargs="*", help="files to read (default: a sample text)")
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args(argv)
    texts: Dict[str, str] = {}
    for name in args.files:
        with open(name, encoding="utf-8", errors="replace") as fh:
            texts[name] = fh.read()
    if not texts:
        texts["sample"] = "the quick brown fox jumps over the lazy dog the fox"
    for name, text in texts.items():
        print(name + ":", ", ".join(top_words(text, args.n)))
    tel = _telemetry()
    print("telemetry:", "on" if tel.enabled else "off", file=sys.stderr)
    tel.shutdown(timeout=5)  # short and bounded: a CLI must not hang on exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
