"""Is telemetry on? The opt-in rules, the per-user consent store, CI detection, the first-run notice."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Dict, Mapping, Optional

from .config import environ, parse_bool, project_env_name

#: Variables set by common CI systems (CI itself is checked first).
_CI_VARS = (
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_NUMBER",
    "RUN_ID",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "BUILDKITE",
    "TF_BUILD",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ID",
    "DRONE",
    "APPVEYOR",
)


class Decision:
    """Whether telemetry is on, which rule decided, and a sentence saying why."""

    __slots__ = ("enabled", "rule", "reason")

    def __init__(self, enabled: bool, rule: str, reason: str) -> None:
        self.enabled = enabled
        self.rule = rule
        self.reason = reason

    def __bool__(self) -> bool:
        return self.enabled

    def __repr__(self) -> str:
        return "Decision(enabled=%r, rule=%r, reason=%r)" % (self.enabled, self.rule, self.reason)


def is_ci(env: Optional[Mapping[str, str]] = None) -> bool:
    """True on a build machine: ``CI`` set to anything but false/0, or a known CI system's variable."""
    env = environ() if env is None else env
    ci = env.get("CI")
    if ci is not None:
        return parse_bool(ci) is not False and ci.strip() != ""
    return any(env.get(var) for var in _CI_VARS[1:])


def decide(
    project_name: str, enabled: Optional[bool] = None, env: Optional[Mapping[str, str]] = None
) -> Decision:
    """Apply the opt-in rules in order; the first that speaks decides.

    The rules are listed for users in docs/configuration.md, "Switches an end user sets".
    """
    env = environ() if env is None else env
    dnt = env.get("DO_NOT_TRACK")
    if parse_bool(dnt):
        return Decision(False, "DO_NOT_TRACK", "DO_NOT_TRACK=%s is set; it always wins" % dnt)
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return Decision(False, "OTEL_SDK_DISABLED", "OTEL_SDK_DISABLED=true is set")
    if enabled is not None:
        return Decision(
            bool(enabled), "argument", "the application passed enabled=%s" % bool(enabled)
        )
    for var in (project_env_name(project_name), "ASTRID_TELEMETRY"):
        value = parse_bool(env.get(var))
        if value is not None:
            return Decision(value, var, "%s=%s is set" % (var, env.get(var)))
    if is_ci(env):
        return Decision(False, "ci", "running in CI, where telemetry stays off and stored consent is ignored")
    store = ConsentStore(env)
    stored = store.get(project_name)
    if stored is not None:
        where = store.path(project_name)
        return Decision(
            stored,
            "stored_consent",
            "consent %s in %s" % ("granted" if stored else "revoked", where),
        )
    return Decision(False, "default", "nobody opted in; telemetry is off by default")


class NoHomeError(OSError):
    """Neither XDG_CONFIG_HOME, HOME nor the password database says where the user's files are."""


def _home(env: Mapping[str, str]) -> Optional[str]:
    home = env.get("HOME") or env.get("USERPROFILE") or ""
    if os.path.isabs(home):
        return home
    try:
        # HOME unset: the password database (a uid without an entry raises KeyError on 3.9-3.11,
        # RuntimeError from 3.12; an unreadable database OSError)
        home = str(Path.home())
    except Exception:
        return None
    return home if os.path.isabs(home) else None


def config_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """``$XDG_CONFIG_HOME/astrid`` (default ``~/.config/astrid``).

    Raises NoHomeError (an OSError) when there is no absolute XDG_CONFIG_HOME and no home
    directory can be found: then there is no per-user consent, and nothing is written.
    """
    env = environ() if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    if not base or not os.path.isabs(base):
        home = _home(env)
        if home is None:
            raise NoHomeError("no home directory (HOME unset and no password database entry) and no XDG_CONFIG_HOME")
        base = os.path.join(home, ".config")
    return Path(base) / "astrid"


def _slug(project_name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", project_name.strip()).strip(".") or "_"
    return slug[:100]


class ConsentStore:
    """Per-user, per-project consent in ``<config dir>/consent/<project>.json`` (owner-only, atomic)."""

    def __init__(self, env: Optional[Mapping[str, str]] = None) -> None:
        try:
            self.root: Optional[Path] = config_dir(env) / "consent"
        except NoHomeError:
            self.root = None  # no home directory: nothing stored, nothing can be

    def path(self, project_name: str) -> Path:
        """Where the consent is kept (raises NoHomeError when the user has no home directory)."""
        if self.root is None:
            raise NoHomeError("no home directory and no XDG_CONFIG_HOME: consent cannot be stored")
        return self.root / (_slug(project_name) + ".json")

    def get(self, project_name: str) -> Optional[bool]:
        try:
            with open(self.path(project_name), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        granted = data.get("granted") if isinstance(data, dict) else None
        return granted if isinstance(granted, bool) else None

    def set(self, project_name: str, granted: bool) -> Path:
        """Store the user's choice (raises OSError if the directory cannot be written)."""
        record = {"project": project_name, "granted": bool(granted), "updated": int(time.time())}
        target = self.path(project_name)
        _write_private(target, json.dumps(record, indent=2) + "\n")
        return target

    def clear(self, project_name: str) -> bool:
        try:
            self.path(project_name).unlink()
            return True
        except OSError:
            return False


def _write_private(target: Path, text: str) -> None:
    """Write ``text`` atomically with owner-only permissions (0600 file in a 0700 directory)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=str(target.parent))
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_DEFAULT_NOTICE = (
    "{project} can send anonymous usage telemetry to help its authors. It is OFF unless you opt in.\n"
    "  Opt in:  astrid consent grant --project {project}   (or set {var}=1)\n"
    "  Opt out: astrid consent revoke --project {project}  (or set {var}=0 or DO_NOT_TRACK=1)\n"
)


def first_run_notice(
    project_name: str,
    message: Optional[str] = None,
    stream: Optional[IO[str]] = None,
    env: Optional[Mapping[str, str]] = None,
) -> bool:
    """Print a short notice once per user and project (stderr; never in CI or under DO_NOT_TRACK).

    Returns True when the notice was printed now. ``message`` may use ``{project}`` and ``{var}``.
    Never raises.
    """
    try:
        env = environ() if env is None else env
        if is_ci(env) or parse_bool(env.get("DO_NOT_TRACK")):
            return False
        marker = config_dir(env) / "notices" / (_slug(project_name) + ".shown")
        if marker.exists():
            return False
        text = (message or _DEFAULT_NOTICE).format(project=project_name, var=project_env_name(project_name))
        out: Any = stream if stream is not None else sys.stderr
        out.write(text if text.endswith("\n") else text + "\n")
        try:
            out.flush()
        except Exception:
            pass
        _write_private(marker, json.dumps({"shown": int(time.time())}) + "\n")
        return True
    except Exception:
        return False


def consent_summary(project_name: str, env: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """What the CLI's ``status`` prints: the decision and the inputs that led to it."""
    env = environ() if env is None else env
    d = decide(project_name, None, env)
    store = ConsentStore(env)
    return {
        "project": project_name,
        "enabled": d.enabled,
        "rule": d.rule,
        "reason": d.reason,
        "stored_consent": store.get(project_name),
        "consent_file": str(store.path(project_name)) if store.root is not None else None,
        "ci": is_ci(env),
        "switch": project_env_name(project_name),
    }
