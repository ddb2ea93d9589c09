"""The model table: shipped models (``models/``) and user-trained ones (user data dir).

A model is a weights file plus a model card ``<name>.json`` beside it::

    {
      "name": "pad-socofing", "task": "pad", "version": "1",
      "file": "pad-socofing.keras", "sha256": "<hex of the weights file>",
      "architecture": "...", "input": {"shape": [96, 96, 1], "dpi": 500},
      "data": {...}, "split": {...}, "metrics": {...}, "calibration": {...},
      "training": {"command": "python training/train_pad.py ...", "epochs": 20, ...},
      "created": "2026-11-21T10:00:00Z"
    }

A card of a Keras model also lists the ONNX export of the same weights that inference runs,
``"onnx": {"file": ..., "sha256": ..., "max_abs_diff_vs_keras": ...}`` (see ml/onnx_export.py),
verified the same way. The cards are parsed once into :class:`fpstation.ml.cards.ModelCard`.

A card with ``"runtime": "dlib"`` and a ``"package"`` entry names a weights file that stays inside
a pip package (the face embedding, see ml/face/dlib_models.py): ``file`` is resolved there.

Tasks: "restoration", "pad", "gender", "face". The registry refuses a file whose sha256
differs from its card. Keras is imported lazily, only when Keras weights are actually loaded
(training, Grad-CAM, a user model without an ONNX export): analysis runs on onnxruntime.
User models are versioned: ``<user models dir>/<name>/v<N>/`` each holding a card + weights.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fpstation import paths
from fpstation.core.errors import ModelError, ModelIntegrityError, ModelNotFoundError
from fpstation.core.hashing import sha256_file
from fpstation.ml.cards import CardError, ModelCard, parse_card

log = logging.getLogger(__name__)

__all__ = ["ModelCard", "Registry", "cards_by_name", "get_registry", "sha256_file"]


def _read_card(card_path: Path, shipped: bool) -> ModelCard | None:
    """The card at ``card_path``; None for a JSON file that is not a model card (no ``task``).

    Raises
    ------
    CardError
        The file is not valid JSON, or a model card with a malformed entry (the message names it).
    """
    try:
        d = json.loads(card_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CardError(f"Model card “{card_path.name}” could not be read: {exc}", path=str(card_path)) from exc
    except ValueError as exc:
        raise CardError(f"Model card “{card_path.name}” is not valid JSON: {exc}", path=str(card_path)) from exc
    if not isinstance(d, dict) or "task" not in d:
        return None  # another JSON beside the models (e.g. matching-operating-points.json)
    try:
        fname = d.get("file")
        return parse_card(d, _weights_path(card_path, d) if isinstance(fname, str) and fname else None, shipped)
    except CardError as exc:
        raise CardError(f"Model card “{card_path.name}” is malformed: {exc}", path=str(card_path)) from exc


def _weights_path(card_path: Path, d: dict[str, Any]) -> Path:
    """Beside the card, or inside the pip package the card names (``"runtime": "dlib"``)."""
    if d.get("runtime") == "dlib" and d.get("package"):
        from fpstation.ml.face import dlib_models

        try:
            return dlib_models.package_dir() / d["file"]
        except ModelError:
            pass  # package missing: the path below does not exist, verify() says so in words
    return (card_path.parent / d["file"]).resolve()


class Registry:
    """Lists, verifies and loads models. Loaded models are cached (one load per process)."""

    def __init__(self, shipped_dir: Path | None = None, user_dir: Path | None = None):
        self._shipped_dir = shipped_dir
        self._user_dir = user_dir
        self._cache: dict[str, Any] = {}
        self._cards: list[ModelCard] = []
        self._cards_signature: list[tuple[str, bool, int, int]] | None = None
        #: malformed model cards found by the last scan: file path -> what is wrong (said in words)
        self.problems: dict[str, str] = {}
        self._lock = threading.RLock()

    @property
    def shipped_dir(self) -> Path:
        return self._shipped_dir or paths.models_dir()

    @property
    def user_dir(self) -> Path:
        return self._user_dir or paths.user_models_dir()

    def cards(self, task: str | None = None) -> list[ModelCard]:
        """Every readable card, shipped first. Inference asks for cards per print, so parsed cards
        are reused until a card file is added, removed or rewritten (path + mtime + size)."""
        files = [(p, True) for p in sorted(self.shipped_dir.glob("*.json"))] if self.shipped_dir.is_dir() else []
        if self.user_dir.is_dir():
            files += [(p, False) for p in sorted(self.user_dir.glob("*/v*/card.json"))]
        signature = []
        for p, shipped in files:
            try:
                st = p.stat()
            except OSError:
                continue
            signature.append((str(p), shipped, st.st_mtime_ns, st.st_size))
        with self._lock:
            if self._cards_signature != signature:
                cards, problems = [], {}
                for p, shipped, _, _ in signature:
                    try:
                        c = _read_card(Path(p), shipped=shipped)
                    except CardError as exc:
                        problems[p] = str(exc)
                        if p not in self.problems:
                            log.warning("%s", exc)
                        continue
                    if c is not None:
                        cards.append(c)
                self._cards, self.problems = cards, problems
                self._cards_signature = signature
            found = self._cards
        return [c for c in found if task is None or c.task == task]

    def card(self, key: str) -> ModelCard:
        for c in self.cards():
            if c.key == key or (c.shipped and c.name == key):
                return c
        bad = "".join(f" {m}." for m in self.problems.values())
        raise ModelNotFoundError(f"No model called “{key}” is installed.{bad}")

    def default(self, task: str) -> ModelCard | None:
        """The shipped model for a task marked ``"default": true`` (else the first shipped one)."""
        cs = [c for c in self.cards(task) if c.shipped]
        for c in cs:
            if c.default:
                return c
        return cs[0] if cs else None

    def verify(self, card: ModelCard) -> None:
        _check_file(card, card.file, card.sha256, "weights file")

    def onnx_file(self, card: ModelCard) -> Path | None:
        """The card's ONNX export (``"onnx": {"file", "sha256"}``), verified; None when it has none."""
        path = card.onnx_path
        if path is None or card.onnx is None:
            return None
        _check_file(card, path, card.onnx.sha256, "ONNX file")
        return path

    def load(self, key: str) -> Any:
        """Verify sha256 and load the model once (Keras, or a ``.npz`` feature model); later calls return the
        cached model. The cache is keyed by the card's key, file and sha256: when the models folder changes
        (FPSTATION_MODELS_DIR) or a model is retrained under the same name, the new weights are loaded."""
        with self._lock:
            card = self.card(key)
            ck = f"{card.key}|{card.file}|{card.sha256}"
            if ck in self._cache:
                return self._cache[ck]
            self.verify(card)
            if card.runtime == "dlib":  # dlib network, not Keras (ml/face/dlib_models.py)
                from fpstation.ml.face import dlib_models

                self._cache[ck] = dlib_models.resnet(card.sha256)
                return self._cache[ck]
            if card.is_texture:  # classical texture PAD (.npz, no Keras)
                from fpstation.ml.classifiers.pad_local import LocalPadModel
                from fpstation.ml.classifiers.patches import LinearModel

                local = card.architecture == "pad_local_texture"
                try:
                    model = LocalPadModel.load(card.file) if local else LinearModel.load(card.file)
                except Exception as exc:  # noqa: BLE001
                    raise ModelError(f"Model “{card.name}” could not be loaded: {exc}", path=str(card.file)) from exc
                self._cache[ck] = model
                return model
            try:
                if card.file.suffix == ".npz":  # a numpy feature model (gender v2), no Keras
                    from fpstation.ml.classifiers.gender_features import FeatureModel

                    model = FeatureModel.load(card.file)
                else:
                    keras = _keras_or_explain(card)
                    model = keras.models.load_model(card.file, compile=False, safe_mode=False)
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise ModelError(f"Model “{card.name}” could not be loaded: {exc}", path=str(card.file)) from exc
            self._cache[ck] = model
            return model

    def unregister(self, card: ModelCard) -> None:
        """Remove a user-trained version (e.g. a stopped run the user chose not to keep).
        Shipped models are never removed."""
        if card.shipped:
            raise ValueError(f"{card.key} is a shipped model and cannot be removed")
        folder = Path(card.file).parent.resolve()
        if self.user_dir.resolve() not in folder.parents:
            raise ValueError(f"{card.key} is not inside the user models folder")
        shutil.rmtree(folder)

    def register(self, card_data: dict[str, Any], weights: str | Path, onnx: str | Path | None = None) -> ModelCard:
        """Copy a freshly trained model into the user models dir as the next version of its name.

        ``onnx``: its checked ONNX export (``card_data["onnx"]`` describes it), copied beside the
        weights as ``model.onnx``."""
        parse_card(card_data, strict=False)  # a malformed card is refused before anything is copied
        name = card_data["name"]
        base = self.user_dir / name
        base.mkdir(parents=True, exist_ok=True)
        versions = [int(p.name[1:]) for p in base.glob("v*") if p.name[1:].isdigit()]
        version = max(versions, default=0) + 1
        dest = base / f"v{version}"
        dest.mkdir()
        weights = Path(weights)
        target = dest / ("model" + "".join(weights.suffixes))
        shutil.copy2(weights, target)
        data = dict(card_data)
        data.update(file=target.name, sha256=sha256_file(target), version=str(version))
        if onnx is not None:
            onnx_target = dest / "model.onnx"
            shutil.copy2(onnx, onnx_target)
            data["onnx"] = {**(data.get("onnx") or {}), "file": onnx_target.name, "sha256": sha256_file(onnx_target)}
        data.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
        (dest / "card.json").write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        card = _read_card(dest / "card.json", shipped=False)
        if card is None:
            raise CardError(f"The card of “{name}” names no task.", path=str(dest / "card.json"))
        return card


def _keras_or_explain(card: ModelCard) -> Any:
    """``keras``, or a :class:`ModelError` saying how to install it (the ``train`` extra)."""
    try:
        import keras
    except ImportError as exc:
        what = "has no ONNX export, so it needs its Keras weights" if card.onnx is None else "needs its Keras weights here"
        raise ModelError(f"Model “{card.name}” {what}, which need TensorFlow: install the training extra, "
                         "pip install 'fpstation[train]'.", path=str(card.file)) from exc
    return keras


def _check_file(card: ModelCard, path: Path, expected: str | None, what: str) -> None:
    """Refuse a file of ``card`` that is missing or whose sha256 is not the one its card records."""
    if not path.is_file():
        raise ModelNotFoundError(f"The {what} of model “{card.name}” is missing ({path.name}).")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"Model “{card.name}” was refused: its {what} does not match its model card "
            "(sha256 differs). The file may be damaged or replaced.",
            path=str(path), detail=f"expected {expected}, got {actual}")


_default: Registry | None = None


def get_registry() -> Registry:
    global _default
    if _default is None:
        _default = Registry()
    return _default


def cards_by_name(registry: Registry | None = None) -> dict[str, dict]:
    """Model card data keyed by ``name`` and by ``name@version`` (for reports: thresholds, error
    rates and each model's validated domain). Reads card files only, no weights."""
    out: dict[str, dict] = {}
    for c in (registry or get_registry()).cards():
        out.setdefault(c.name, dict(c.data))
        out[f"{c.name}@{c.data.get('version', '')}"] = dict(c.data)
    return out
