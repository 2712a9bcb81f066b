"""Whose state a state directory holds: every detector gets a directory of its own, and a directory names its
detector so that another one's state is never mixed in.

A state directory holds the pending drift window (``window.log``), recent Kafka record ids (``seen.log``), an
online detector's state (``online/``) and the feedback tallies (``feedback.json``), and ``state.json``::

    {"format": "inferwatch-detector-state", "version": 1, "created_at": "2024-05-01T12:00:00+00:00",
     "detector": {"path": "/abs/detector", "type": "drift", "class": "KSDrift", "online": false,
                  "n_features": 4, "feature_names": ["a", "b", "c", "d"]}}

written atomically when the directory is first used. Without ``--state-dir`` the directory is
``$INFERWATCH_HOME/detectors/<model name>-<hash>``, the hash being the first 12 hex digits of the SHA-256 of the
detector directory's resolved path: two detectors never share one, and a detector finds its own again after a
restart. ``claim`` refuses (``ConfigError``) a directory whose ``state.json`` names another detector, or whose
content does not fit this one (a pending window of another width, or for an outlier or online detector, which
never has one; online state for a detector that is not online). A directory without ``state.json`` (written by
an earlier version) is adopted when its content fits.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from inferwatch.detectors.framelog import write_atomic
from inferwatch.detectors.kinds import OUTLIER
from inferwatch.detectors.loader import LoadedDetector
from inferwatch.detectors.recent_ids import FILE as SEEN_FILE
from inferwatch.detectors.window_log import FILE as WINDOW_FILE
from inferwatch.detectors.window_log import LEGACY_ROWS, stored_width
from inferwatch.errors import ConfigError

log = logging.getLogger("inferwatch.detectors.state")

MANIFEST = "state.json"
FORMAT = "inferwatch-detector-state"
VERSION = 1
ONLINE_DIR, FEEDBACK_FILE = "online", "feedback.json"
_CONTENT = (WINDOW_FILE, SEEN_FILE, LEGACY_ROWS, ONLINE_DIR, FEEDBACK_FILE)


@dataclass(frozen=True)
class DetectorIdentity:
    """What makes a detector itself, as far as its state is concerned."""

    path: str
    """The detector directory, resolved."""
    type: str
    class_name: str | None
    """alibi-detect's class name (``meta.name``)."""
    online: bool
    n_features: int | None
    feature_names: tuple[str, ...] | None

    @classmethod
    def of(cls, path: Path, loaded: LoadedDetector) -> DetectorIdentity:
        names = tuple(loaded.feature_names) if loaded.feature_names else None
        name = loaded.meta.get("name")
        cls_name = str(name) if name else None
        return cls(str(path.resolve()), loaded.detector_type, cls_name, loaded.online, loaded.n_features, names)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DetectorIdentity:
        names = value.get("feature_names")
        n = value.get("n_features")
        return cls(
            path=str(value["path"]),
            type=str(value["type"]),
            class_name=value.get("class"),
            online=bool(value.get("online")),
            n_features=None if n is None else int(n),
            feature_names=tuple(str(x) for x in names) if names else None,
        )

    def to_json(self) -> dict[str, Any]:
        value = asdict(self)
        value["class"] = value.pop("class_name")
        value["feature_names"] = list(self.feature_names) if self.feature_names else None
        return value

    def describe(self) -> str:
        """``KSDrift drift detector /models/ks (4 features: a, b, c, d)``."""
        width = "? features" if self.n_features is None else f"{self.n_features} features"
        names = f": {', '.join(self.feature_names)}" if self.feature_names else ""
        kind = f"{self.class_name} {self.type}" if self.class_name else self.type
        return f"{kind} detector {self.path} ({width}{names})"


def default_state_dir(home: Path, model_name: str, detector: Path) -> Path:
    """``home/detectors/<model name>-<12 hex digits of sha256(resolved detector path)>``."""
    digest = hashlib.sha256(str(detector.resolve()).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("._")[:64] or "detector"
    return home / "detectors" / f"{safe}-{digest}"


def resolve_state_dir(explicit: Path | None, home: Path, model_name: str, detector: Path) -> Path:
    """``explicit`` (``--state-dir``), else this detector's default; says so when an earlier version's shared
    default (``home/detectors/<model name>``) holds state that is no longer used."""
    if explicit is not None:
        return explicit
    path = default_state_dir(home, model_name, detector)
    legacy = home / "detectors" / model_name
    if not path.exists() and not (legacy / MANIFEST).exists() and _has_content(legacy):
        log.warning(
            "%s holds state of an earlier inferwatch, shared by every detector named %r; it is no longer used "
            "by default. To continue from it, pass --state-dir %s (it is checked against this detector)",
            legacy,
            model_name,
            legacy,
        )
    return path


def claim(state_dir: Path, identity: DetectorIdentity) -> None:
    """Make ``state_dir`` this detector's: ``ConfigError`` when it holds another detector's state; ``state.json``
    written for a new directory or an adopted one (no ``state.json``, content that fits)."""
    owner = read_owner(state_dir)
    if owner is not None and owner != identity:
        raise _refused(
            state_dir, identity, f"its {MANIFEST} names {owner.describe()}", moved=owner.path != identity.path
        )
    misfit = _misfit(state_dir, identity)
    if misfit:
        raise _refused(state_dir, identity, misfit, moved=False)
    if owner is None:
        adopted = _has_content(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "detector": identity.to_json(),
        }
        write_atomic(state_dir / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        if adopted:
            log.info("state in %s (written without %s) adopted by %s", state_dir, MANIFEST, identity.describe())


def read_owner(state_dir: Path) -> DetectorIdentity | None:
    """The detector ``state.json`` names (``None`` without one); ``ConfigError`` when it cannot be read."""
    file = state_dir / MANIFEST
    try:
        manifest = orjson.loads(file.read_bytes())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format is {manifest.get('format')!r}, not {FORMAT!r}")
        return DetectorIdentity.from_json(manifest["detector"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(
            f"{file} cannot be read ({e}): it should name the detector whose state {state_dir} holds; "
            f"delete {state_dir} to start afresh, or pass --state-dir DIR elsewhere"
        ) from e


def _misfit(state_dir: Path, identity: DetectorIdentity) -> str | None:
    """Why the content of ``state_dir`` cannot be this detector's, or ``None``."""
    width = stored_width(state_dir)
    if width is not None and (identity.online or identity.type == OUTLIER):
        return f"it holds a pending drift window ({width} features), which this kind of detector never has"
    if width is not None and identity.n_features is not None and width != identity.n_features:
        return f"it holds a pending drift window of {width} features"
    if any((state_dir / ONLINE_DIR).glob("state.*")) and not identity.online:
        return f"it holds an online detector's state ({ONLINE_DIR}/)"
    return None


def _has_content(state_dir: Path) -> bool:
    return any((state_dir / name).exists() for name in _CONTENT)


def _refused(state_dir: Path, identity: DetectorIdentity, why: str, *, moved: bool) -> ConfigError:
    hint = (
        f" If it is this very detector, moved from there, delete {state_dir / MANIFEST}: the state is adopted when "
        "it fits."
        if moved
        else ""
    )
    return ConfigError(
        f"state directory {state_dir} belongs to another detector: {why}; this detector is {identity.describe()}. "
        "Its state is not mixed in: give this detector a directory of its own (--state-dir DIR elsewhere, or no "
        f"--state-dir: the default is one per detector) or delete {state_dir} to start this one afresh.{hint}",
        details={"state_dir": str(state_dir), "detector": identity.to_json()},
    )
