"""Logging integration: warnings and errors become telemetry logs; uncaught errors are reported.

``python examples/logging_integration.py`` logs a few lines, then dies of an uncaught
exception on purpose (``--no-crash`` to skip that).
"""

from __future__ import annotations

import argparse
import logging

import astrid
from astrid.integrations import TelemetryHandler, install_excepthook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-crash", action="store_true")
    args = parser.parse_args()
    astrid.init("example-logging", enabled=True)  # the default client the integrations use
    logging.basicConfig(level=logging.INFO)
    # WARNING and above go to telemetry; the SDK's own "astrid" logger is never forwarded
    logging.getLogger().addHandler(TelemetryHandler(level=logging.WARNING))
    install_excepthook(flush_timeout=5.0)  # track_error + flush, then the usual traceback

    log = logging.getLogger("example.billing")
    log.info("starting (stays local: below WARNING)")
    log.warning("invoice %s is late", "INV-42")
    try:
        print(1 / 0)
    except ZeroDivisionError:
        log.exception("could not compute the discount")
    if not args.no_crash:
        raise RuntimeError("unhandled: reported by the excepthook")
    astrid.shutdown(timeout=5)


if __name__ == "__main__":
    main()
