"""Generic Keras fit loop with progress, stop and best-checkpoint, shared by scripts, CLI and dialog.

``fit_keras`` adapts Keras callbacks to fpstation's job protocol: ``progress`` gets the overall
fraction, ``on_batch`` / ``on_epoch`` get loss/metric dicts as they come (the dialog plots them),
and the :class:`~fpstation.core.jobs.CancelToken` is checked after every batch. A *stop* requested
through the token ends the run after the current batch and keeps the best checkpoint so far: the
result says ``stopped=True``; the caller decides whether that is a usable model.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpstation.core.errors import DatasetError
from fpstation.core.jobs import NEVER_CANCELLED, Cancelled, CancelToken, Progress, null_progress

log = logging.getLogger(__name__)


@dataclass
class BatchLog:
    epoch: int  # 0-based
    batch: int  # 0-based within the epoch
    batches: int  # batches per epoch (0 if unknown)
    logs: dict[str, float]


@dataclass
class EpochLog:
    epoch: int  # 0-based
    epochs: int
    logs: dict[str, float]  # loss, val_loss, metrics
    seconds: float
    eta_seconds: float


@dataclass
class FitResult:
    checkpoint: Path | None  # best weights saved in Keras format (None if nothing was trained)
    best_epoch: int | None
    best_value: float | None
    monitor: str
    stopped: bool
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


class _StopFit(Exception):  # noqa: N818 - internal control flow, never leaves fit_keras
    """Raised by the callback adapter to leave ``model.fit`` right after a stopped batch."""


def _floats(logs: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def fit_keras(
    model: Any,
    train: Any,
    val: Any | None,
    *,
    epochs: int,
    checkpoint: str | Path,
    monitor: str = "val_loss",
    mode: str = "min",
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    class_weight: dict[int, float] | None = None,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    on_batch: Callable[[BatchLog], None] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    verbose: int = 0,
    initial_epoch: int = 0,
    best: float | None = None,
    callbacks: list[Any] | None = None,
) -> FitResult:
    """Train a compiled Keras model, saving the best epoch (by ``monitor``) to ``checkpoint``.

    Parameters
    ----------
    model : compiled ``keras.Model``.
    train, val : anything ``model.fit`` accepts (tf.data.Dataset, PyDataset, (x, y) tuple).
    checkpoint : path of the ``.keras`` file that receives the best model.
    initial_epoch, best : continue a resumed run: start at this (0-based) epoch, and only replace
        ``checkpoint`` when an epoch beats ``best`` (the previous runs' best value).
    callbacks : extra Keras callbacks (e.g. a periodic resume checkpoint), run after the adapter.
    """
    import keras

    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    resumed_best = best is not None and checkpoint.is_file()
    state: dict[str, Any] = {"best": best, "best_epoch": None, "stopped": False, "epochs_run": initial_epoch,
                             "t0": time.perf_counter(), "history": [], "saved": False}

    class Adapter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["epoch"] = epoch
            state["epoch_t0"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            batches = int(self.params.get("steps") or 0)
            if on_batch is not None:
                on_batch(BatchLog(state["epoch"], batch, batches, _floats(logs)))
            if batches:
                progress((state["epoch"] + (batch + 1) / batches) / epochs, f"epoch {state['epoch'] + 1}/{epochs}")
            if cancel.cancelled:
                state["stopped"] = True
                self.model.stop_training = True

        def on_test_begin(self, logs=None):
            if state["stopped"]:
                # Keras 3 runs validation even after stop_training: a stopped (partial) epoch's
                # numbers are never used, so end the fit here instead of paying a validation batch.
                self._end_stopped_epoch()
                raise _StopFit()

        def _end_stopped_epoch(self):
            state["epochs_run"] = state["epoch"] + 1
            if not state["saved"] and not resumed_best:  # nothing better yet: keep the partial model
                # rather than none (a resumed run keeps the previous runs' best instead)
                self.model.save(checkpoint)
                state["saved"] = True

        def on_test_batch_end(self, batch, logs=None):
            if cancel.cancelled:
                state["stopped"] = True
                # Keras 3 resets ``stop_evaluating`` at the start of every evaluate() and checks it
                # after each validation batch, so this ends validation after one batch. Setting
                # ``stop_training`` too stops fit() before it starts another training batch
                # (Stop pressed during validation would otherwise cost one more batch).
                self.model.stop_evaluating = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = _floats(logs)
            state["epochs_run"] = epoch + 1
            if state["stopped"]:
                # A stopped epoch is partial: do not let its (partial) numbers pick the checkpoint.
                self._end_stopped_epoch()
                return
            state["history"].append(logs)
            value = logs.get(monitor, logs.get("loss"))
            if value is not None and not math.isnan(value) and (state["best"] is None or better(value, state["best"])):
                state["best"], state["best_epoch"] = value, epoch
                self.model.save(checkpoint)
                state["saved"] = True
            elapsed = time.perf_counter() - state["t0"]
            eta = elapsed / (epoch + 1 - initial_epoch) * (epochs - epoch - 1)
            if on_epoch is not None:
                on_epoch(EpochLog(epoch, epochs, logs, time.perf_counter() - state["epoch_t0"], eta))
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs} done")

    if cancel.cancelled:
        return FitResult(None, None, None, monitor, True, 0)
    # A tf.data pipeline shuffles itself; Keras warns when asked to shuffle one again.
    shuffle = not hasattr(train, "element_spec")
    try:
        model.fit(train, validation_data=val, epochs=epochs, steps_per_epoch=steps_per_epoch,
                  validation_steps=validation_steps, class_weight=class_weight, verbose=verbose,
                  shuffle=shuffle, callbacks=[Adapter(), *(callbacks or [])], initial_epoch=initial_epoch)
    except _StopFit:
        pass
    return FitResult(checkpoint if state["saved"] or resumed_best else None, state["best_epoch"], state["best"], monitor,
                     state["stopped"], state["epochs_run"], state["history"])


# --------------------------------------------------------------------------------------------
# train(): the one orchestration shared by the training dialog, ``fpstation train`` and scripts
# --------------------------------------------------------------------------------------------

#: model-name prefix per task (user models are registered as ``<prefix>-<architecture>@vN``)
NAME_PREFIX = {"restoration": "restore"}


@dataclass
class TrainOutcome:
    """What :func:`train` produced: the registered model, its card and the fit details."""

    card: Any  # fpstation.ml.registry.ModelCard of the registered version
    card_path: Path  # card.json inside the user models dir
    checkpoint: Path  # the registered weights file
    metrics: dict[str, Any]
    fit: FitResult
    scan_summary: list[str]
    stopped: bool
    command: str
    seconds: float
    out_dir: Path | None = None  # copy of card + weights when ``out_dir`` was given


def model_name(task_name: str, hyper: Any) -> str:
    """Registry name of a user-trained model: ``hyper.extra["name"]`` or ``<prefix>-<architecture>``."""
    explicit = (getattr(hyper, "extra", None) or {}).get("name")
    if explicit:
        return str(explicit)
    prefix = NAME_PREFIX.get(task_name, task_name)
    arch = str(hyper.architecture)
    if arch.startswith(prefix + "_"):  # "pad_cnn" -> "pad-cnn", not "pad-pad_cnn"
        return prefix + "-" + arch[len(prefix) + 1:]
    return f"{prefix}-{arch}"


def cli_command(task_name: str, data_dir: str | Path, hyper: Any, out_dir: str | Path | None = None) -> str:
    """The ``python -m fpstation train ...`` command line that reproduces a run (for the card)."""
    import shlex

    parts = ["python", "-m", "fpstation", "train", task_name, "--data", str(data_dir),
             "--epochs", str(hyper.epochs), "--batch-size", str(hyper.batch_size),
             "--lr", f"{hyper.learning_rate:g}", "--arch", hyper.architecture,
             "--input-size", str(hyper.input_size), "--seed", str(hyper.seed),
             "--val-fraction", f"{hyper.val_fraction:g}"]
    if not hyper.augment:
        parts.append("--no-augment")
    extra = getattr(hyper, "extra", None) or {}
    dpi = extra.get("dpi")
    if dpi:
        parts += ["--dpi", f"{float(dpi):g}"]
    if extra.get("alter_map"):
        parts += ["--alter-map", f"{float(extra['alter_map']):g}"]
    asked = extra.get("mirror_asked", extra.get("mirror"))  # evaluation resolves "auto"; the command keeps it
    if asked:
        parts += ["--mirror", "auto" if asked == "auto" else "yes"]
    if int(extra.get("members") or 1) > 1:
        parts += ["--members", str(int(extra["members"]))]
    if int(extra.get("cross_fit") or 0) > 1:
        parts += ["--cross-fit", str(int(extra["cross_fit"]))]
    if out_dir is not None:
        parts += ["--out", str(out_dir)]
    return " ".join(shlex.quote(p) for p in parts)


def _jsonable(value: Any) -> Any:
    """Make task outputs (numpy scalars/arrays, sets, paths) JSON-serialisable for the card."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def load_task(task_name: str) -> Any:
    """:func:`fpstation.ml.tasks.get_task`, with a missing task module said in words."""
    from fpstation.core.errors import FpError
    from fpstation.ml.tasks import TASKS, get_task

    try:
        return get_task(task_name)
    except ImportError as exc:
        missing = TASKS.get(task_name, "").split(":")[0]
        if exc.name and missing and missing.startswith(exc.name):
            raise FpError(f"Training for “{task_name}” is not available in this installation "
                          f"(module {exc.name} is missing).") from exc
        raise


def _id_order(subject: str) -> tuple[int, int, str]:
    """Numeric subject ids in numeric order (2 before 10), others after, alphabetically."""
    s = str(subject)
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def _export_onnx(task_name: str, card: dict[str, Any], checkpoint: Path, out: Path) -> Path | None:
    """Export the checkpoint that is registered to ONNX, checked against its Keras outputs, so that
    analysis runs it on onnxruntime; the card gets the ``onnx`` entry (with the largest difference).

    A model the exporter cannot translate (a layer kind it does not know) or whose export differs
    from Keras is still registered, and its card says why (``onnx_export``); it then runs on
    TensorFlow, which needs the ``train`` extra.
    """
    import keras

    from fpstation.ml.export import export_checked

    try:
        model = keras.models.load_model(checkpoint, compile=False, safe_mode=False)
        card["onnx"] = export_checked(task_name, card, model, out)
    except Exception as exc:  # noqa: BLE001 - an export problem never loses the trained model
        log.warning("ONNX export of %s failed: %s", card.get("name"), exc)
        card["onnx_export"] = {"error": f"{type(exc).__name__}: {exc}",
                               "note": "runs on TensorFlow (the train extra) instead"}
        return None
    return out


def _check_scan(scan: Any) -> None:
    """Refuse datasets that cannot train a model, in words a person understands."""
    if not scan.items:
        raise DatasetError(f"No usable images were found in “{scan.root}”.", path=str(scan.root))
    empty = [k for k, v in scan.counts.items() if not v]
    if empty:
        raise DatasetError(f"The class “{empty[0]}” has no images in “{scan.root}”. Every class needs "
                           "images to train on.", path=str(scan.root))
    if not scan.train_items or not scan.val_items:
        raise DatasetError(
            f"The data in “{scan.root}” has {scan.subjects} subject(s): too few for a subject-disjoint "
            "train/validation split. Add prints of more people (or fingers).", path=str(scan.root))


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    text = str(exc)
    return name == "ResourceExhaustedError" or "OOM when allocating" in text or "out of memory" in text.lower()


def _friendly(exc: BaseException, hyper: Any) -> BaseException:
    """Translate TensorFlow/OS failures during a fit into FpError messages (others pass through)."""
    from fpstation.core.errors import DatasetError, FpError

    if isinstance(exc, FpError):
        return exc
    if _is_oom(exc):
        return FpError(f"Training ran out of memory (batch size {hyper.batch_size}, input size "
                       f"{hyper.input_size}). Try a smaller batch size or input size.",
                       detail=f"{type(exc).__name__}: {exc}")
    if type(exc).__name__ in {"InvalidArgumentError", "DataLossError", "NotFoundError"}:
        return DatasetError("Training stopped because an image could not be used (it may be damaged, "
                            "deleted during training, or of an unexpected size).",
                            detail=f"{type(exc).__name__}: {str(exc)[:2000]}")
    if isinstance(exc, OSError):
        return FpError(f"Training could not read or write a file: {exc.strerror or exc}",
                       path=getattr(exc, "filename", None), detail=str(exc))
    return exc



@contextlib.contextmanager
def _in_words(hyper: Any):
    """Re-raise an unexpected failure (memory, unreadable files) as an FpError in words;
    Cancelled and DatasetError pass through unchanged."""
    try:
        yield
    except (Cancelled, DatasetError):
        raise
    except Exception as exc:  # noqa: BLE001 - translated into words, re-raised
        friendly = _friendly(exc, hyper)
        if friendly is exc:
            raise
        raise friendly from exc

def members_of(task: Any, hyper: Any) -> int:
    """How many networks ``hyper.extra["members"]`` asks for (1 = one network). An ensemble is
    the mean of one-logit models: refused, in words, for a task or architecture without one."""
    n = (getattr(hyper, "extra", None) or {}).get("members")
    n = 1 if n is None else int(n)
    if n < 1 or n > 9:
        raise DatasetError(f"An ensemble has 1 to 9 members, not {n}.")
    if n > 1 and hyper.architecture not in ENSEMBLE_ARCHITECTURES:
        raise DatasetError(f"Only the print CNNs ({', '.join(sorted(ENSEMBLE_ARCHITECTURES))}) can be trained as an "
                           f"ensemble, not “{hyper.architecture}”.")
    return n


#: architectures whose models end in one logit (mean_logit_ensemble can average them)
ENSEMBLE_ARCHITECTURES = frozenset({"pad_cnn", "gender_cnn"})


def _shifted(callback: Callable[[Any], None] | None, offset: int, epochs: int | None = None):
    """``callback`` with each log's epoch moved on by ``offset`` (and its ``epochs`` set): an
    ensemble's members, one after the other, draw one continuous curve."""
    if callback is None or (offset == 0 and epochs is None):
        return callback
    from dataclasses import replace

    def shifted(log: Any) -> None:
        changes = {"epoch": log.epoch + offset}
        if epochs is not None and hasattr(log, "epochs"):
            changes["epochs"] = epochs
        callback(replace(log, **changes))

    return shifted


def ensemble_card(fits: list[tuple[int, Any]], asked: int, jsonable: Callable[[Any], Any] = lambda v: v) -> dict:
    """The card's ``ensemble`` entry: the members kept (model seed and fit of each) and how many were
    asked (a member that Stop cut short is left out)."""
    return {"members": len(fits), "members_asked": asked,
            "combine": "mean of the members' logits, one graph (fpstation.ml.architectures.mean_logit_ensemble); "
                       "calibration and threshold are the ensemble's",
            "model_seeds": [seed for seed, _ in fits],
            "member_training": [{"model_seed": seed, "epochs_run": f.epochs_run, "stopped": f.stopped,
                                 "best_epoch": None if f.best_epoch is None else f.best_epoch + 1,
                                 "best_value": jsonable(f.best_value), "history": jsonable(f.history)}
                                for seed, f in fits]}


def train(
    task_name: str,
    data_dir: str | Path,
    hyper: Any,
    progress: Progress = null_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    on_batch: Callable[[BatchLog], None] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_scan: Callable[[Any], None] | None = None,
    out_dir: str | Path | None = None,
    *,
    registry: Any = None,
) -> TrainOutcome:
    """Scan, build, fit, evaluate, write the model card and register the model as a new version.

    The dialog (thread or child process), ``fpstation train`` and training scripts all call this.

    Parameters
    ----------
    task_name : key of :data:`fpstation.ml.tasks.TASKS`.
    data_dir : the dataset folder; the task detects its layout.
    hyper : :class:`fpstation.ml.tasks.Hyper`.
    progress, cancel : job protocol. Scan 0–5 %, fit 5–90 %, evaluation and registration after.
    on_batch, on_epoch : live loss/metric callbacks (see :func:`fit_keras`).
    on_scan : receives the :class:`~fpstation.ml.tasks.DatasetScan` before the fit starts.
    out_dir : optional folder that also receives ``model.keras`` + ``card.json`` (CLI ``--out``).
    registry : the :class:`~fpstation.ml.registry.Registry` to register into (default: the app's).

    Returns
    -------
    TrainOutcome
        ``stopped=True`` when Stop ended the fit early: the best checkpoint so far was evaluated
        and registered (its card says ``"stopped": true``).

    Raises
    ------
    Cancelled
        When Stop came before any epoch produced a checkpoint (nothing worth keeping).
    DatasetError, FpError
        Unusable data, out of memory, unreadable files — with a message a person understands.
    """
    import shutil
    import tempfile
    from dataclasses import asdict
    from datetime import UTC, datetime

    from fpstation import __version__
    from fpstation.core.jobs import wrap_progress
    from fpstation.ml.registry import get_registry

    t0 = time.perf_counter()
    registry = registry or get_registry()
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"The dataset folder “{data_dir}” does not exist or is not a folder.", path=str(data_dir))
    task = load_task(task_name)
    if hyper.architecture not in task.architectures:
        raise DatasetError(f"Unknown architecture “{hyper.architecture}” for {task.title}. Choose one of: "
                           f"{', '.join(task.architectures)}.")
    if hyper.epochs < 1 or hyper.batch_size < 1 or not hyper.learning_rate > 0:
        raise DatasetError("Epochs and batch size must be at least 1 and the learning rate positive.")

    progress(0.0, "scanning the dataset")
    with _in_words(hyper):
        scan = task.scan(data_dir, hyper, wrap_progress(progress, 0.0, 0.05), cancel)
    _check_scan(scan)
    if on_scan is not None:
        on_scan(scan)
    cancel.raise_if_cancelled()

    name = model_name(task_name, hyper)
    # Checkpoints are staged in the system temp folder: a run killed from outside (out-of-memory
    # killer) leaves its partial files where the OS cleans up, never among the user's models.
    work = Path(tempfile.mkdtemp(prefix=f"fpstation-training-{name}-"))
    try:
        with _in_words(hyper):
            # hyper.extra["members"] = N > 1: N networks fitted on this one split (model seeds
            # seed, seed+1, ...), shipped as one graph of their mean logit. The live curves run on
            # across members (member m's epoch e is shown as m*epochs + e).
            # hyper.extra["cross_fit"] = K: the subjects in K parts, member m trained on the others and
            # validated and calibrated on part m (fpstation.ml.crossfit, docs/adr/0267).
            xfit = int(hyper.extra.get("cross_fit") or 0)
            if xfit:
                from fpstation.ml import crossfit

                crossfit.check(task, hyper, xfit)
                cut = crossfit.parts(scan, xfit, hyper.seed)
            n_members = xfit or members_of(task, hyper)
            split_seed, fits, nets = hyper.seed, [], []
            try:
                for m in range(n_members):
                    lo, hi = 0.05 + 0.85 * m / n_members, 0.05 + 0.85 * (m + 1) / n_members
                    progress(lo, "building the model" if n_members == 1 else
                             f"network {m + 1}/{n_members} (left out: part {m + 1}): building" if xfit else
                             f"member {m + 1}/{n_members}: building")
                    if m:
                        import keras

                        keras.utils.set_random_seed(split_seed + m)
                    hyper.seed = split_seed + m  # this member's initialisation, shuffling and augmentation
                    model = task.build_model(hyper)
                    data = task.datasets(crossfit.part_scan(scan, cut, m) if xfit else scan, hyper)
                    cancel.raise_if_cancelled()
                    off = m * hyper.epochs
                    fit = fit_keras(
                        model, data["train"], data.get("val"), epochs=hyper.epochs,
                        checkpoint=work / ("model.keras" if m == 0 else f"member{m}.keras"),
                        monitor=data.get("monitor", task.monitor), mode=task.monitor_mode,
                        steps_per_epoch=data.get("steps_per_epoch"),
                        validation_steps=data.get("validation_steps"), class_weight=data.get("class_weight"),
                        progress=wrap_progress(progress, lo, hi), cancel=cancel,
                        on_batch=_shifted(on_batch, off), on_epoch=_shifted(on_epoch, off, hyper.epochs * n_members))
                    if fit.checkpoint is None:
                        if not fits:
                            raise Cancelled()
                        break  # Stop before this member's first epoch: the finished members are kept
                    if fit.stopped and fits:
                        break  # a member cut short would weaken the finished ones: left out
                    # Evaluate the *best* epoch, not the last one: reload the checkpointed weights.
                    if fit.stopped or (fit.best_epoch is not None and fit.best_epoch != fit.epochs_run - 1):
                        model.load_weights(fit.checkpoint)
                    fits.append(fit)
                    nets.append(model)
                    if fit.stopped:
                        break
            finally:
                hyper.seed = split_seed  # the split's seed, as the card records it
            fit, model = fits[0], nets[0]  # (a member that Stop cut short is not among them)
            stopped = any(f.stopped for f in fits) or len(fits) < n_members
            scored = []
            if xfit:  # each network on the part it did not see; the model is their calibrated mean
                from fpstation.ml.architectures import logit_model

                progress(0.9, "scoring every part with the network that did not see it")
                ones = [logit_model(n) for n in nets]
                scored = [crossfit.score_part(task, n, crossfit.part_scan(scan, cut, i), hyper)
                          for i, n in enumerate(ones)]
                metrics = crossfit.evaluation(scored, hyper)
                model = crossfit.ensemble(ones, scored)
            else:
                if len(nets) > 1:
                    from fpstation.ml.architectures import logit_model, mean_logit_ensemble

                    model = mean_logit_ensemble([logit_model(n) for n in nets])
                progress(0.9, "stopped: evaluating the best checkpoint on the validation split" if stopped
                         else "evaluating on the validation split")
                # After Stop the user asked to end the fit, not to lose it: the short validation pass
                # that produces the card's metrics runs with its own (uncancelled) token.
                metrics = task.evaluate(model, scan, hyper, wrap_progress(progress, 0.9, 0.98),
                                        CancelToken() if stopped else cancel)

        metrics = _jsonable(metrics)
        extras = _jsonable(task.card_fields(scan, hyper))
        history = _jsonable(fit.history)
        command = cli_command(task_name, data_dir, hyper, out_dir)
        card: dict[str, Any] = {
            "name": name,
            "task": task_name,
            "architecture": hyper.architecture,
            "data": {"path": str(data_dir.resolve()), "layout": scan.layout,
                     "file_list_sha256": scan.file_list_sha256, "counts": _jsonable(scan.counts),
                     "subjects": scan.subjects, "items": len(scan.items),
                     "unreadable": len(scan.unreadable), "notes": list(scan.notes)},
            # Both id lists: `fpstation evaluate` excludes a model's training subjects with them.
            "split": {"method": "subject-disjoint (fpstation.ml.datasets.subject_split)",
                      "seed": hyper.seed, "val_fraction": hyper.val_fraction,
                      "train_subjects": sorted(scan.train_subjects, key=_id_order),
                      "val_subjects": sorted(scan.val_subjects, key=_id_order),
                      "n_train_subjects": len(scan.train_subjects), "n_val_subjects": len(scan.val_subjects),
                      "train_items": len(scan.train_items), "val_items": len(scan.val_items)},
            "hyper": _jsonable(asdict(hyper)),
            "metrics": metrics,
            "training": {"command": command, "epochs": hyper.epochs, "epochs_run": fit.epochs_run,
                         "best_epoch": None if fit.best_epoch is None else fit.best_epoch + 1,
                         "monitor": fit.monitor, "best_value": _jsonable(fit.best_value),
                         "stopped": stopped, "seconds": round(time.perf_counter() - t0, 1),
                         "history": history, "fpstation": __version__},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if n_members > 1:
            card["ensemble"] = ensemble_card(
                [(split_seed + i, f) for i, f in enumerate(fits)], n_members, _jsonable)
        for key in ("calibration", "threshold"):
            if isinstance(metrics, dict) and key in metrics:
                card[key] = metrics[key]
        # Task-specific entries complete the card; on a clash the orchestrator's value wins, and
        # dict entries are merged (e.g. the task's preprocessing notes join our "input"/"data").
        for k, v in extras.items():
            if k not in card:
                card[k] = v
            elif isinstance(card[k], dict) and isinstance(v, dict):
                card[k] = {**v, **card[k]}
        if xfit:  # after the task's entries: no trace of the one-split rule it would describe
            card["split"] = _jsonable(crossfit.card_split(cut, scored, split_seed, len(scan.items)))
            card["ensemble"] = _jsonable(crossfit.card_ensemble(card["ensemble"], xfit, scored))
        weights = fit.checkpoint
        from fpstation.ml.architectures import has_alter_map, logit_model

        if len(nets) > 1 or xfit:  # the ensemble graph (each member's map head, if any, already left out)
            weights = work / "model_ensemble.keras"
            model.save(weights)
        elif has_alter_map(model):  # PAD's alteration map is a training-only head: register the one-logit model
            weights = work / "model_logit.keras"
            logit_model(model).save(weights)
        progress(0.98, "exporting to ONNX and checking it against the Keras model")
        onnx_file = _export_onnx(task_name, card, weights, work / "model.onnx")
        progress(0.99, "registering the model")
        registered = registry.register(card, weights, onnx=onnx_file)
        card_path = registered.file.parent / "card.json"
        out_copy = None
        if out_dir is not None:
            out_copy = Path(out_dir)
            out_copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(registered.file, out_copy / registered.file.name)
            if registered.onnx_path is not None:
                shutil.copy2(registered.onnx_path, out_copy / registered.onnx_path.name)
            (out_copy / "card.json").write_text(card_path.read_text(encoding="utf-8"), encoding="utf-8")
        progress(1.0, "stopped — best checkpoint registered" if stopped else "done")
        return TrainOutcome(card=registered, card_path=card_path, checkpoint=registered.file,
                            metrics=registered.data.get("metrics", {}), fit=fit, scan_summary=scan.summary(),
                            stopped=stopped, command=command, seconds=time.perf_counter() - t0,
                            out_dir=out_copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Child-process entry point: the dialog may run train() in a 'spawn'ed process (no Qt there)
# --------------------------------------------------------------------------------------------

class _EventToken(CancelToken):
    """A CancelToken that is also cancelled by a ``multiprocessing.Event`` set in the parent."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self._mp_event = event

    @property
    def cancelled(self) -> bool:  # type: ignore[override]
        return self._mp_event.is_set() or super().cancelled

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


def _picklable_error(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else an FpError carrying its text."""
    import pickle

    from fpstation.core.errors import FpError

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - anything unpicklable is re-expressed as text
        return FpError(f"Training failed: {type(exc).__name__}: {exc}", detail=repr(exc))


def run_in_child(request: dict[str, Any], queue: Any, stop_event: Any) -> None:
    """Run :func:`train` in a child process, streaming events to ``queue``.

    Events are tuples ``(kind, payload)``: ``("scan", DatasetScan)``, ``("progress", (f, msg))``,
    ``("batch", BatchLog)``, ``("epoch", EpochLog)`` and exactly one terminal event:
    ``("done", TrainOutcome)``, ``("cancelled", None)`` or ``("error", exception)``.

    Parameters
    ----------
    request : ``task``, ``task_spec`` (the ``TASKS`` entry, so tasks registered at run time in the
        parent — tests, plug-ins — resolve in the child too), ``data_dir``, ``hyper``, ``out_dir``,
        ``shipped_dir``, ``user_dir`` and ``nice`` (priority drop so the GUI process stays smooth).
    stop_event : ``multiprocessing.Event``; set by the parent's Stop.
    """
    import os

    from fpstation.ml import tasks
    from fpstation.ml.registry import Registry

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the child has no console worth flooding
    if request.get("nice") and hasattr(os, "nice"):
        try:
            os.nice(int(request["nice"]))
        except OSError:
            pass
    if request.get("task_spec"):
        tasks.TASKS[request["task"]] = request["task_spec"]
    last = {"f": -1.0, "m": None}

    def progress(fraction: float, message: str = "") -> None:
        # Throttled: a queue message per 0.2 % is plenty for a progress bar.
        if abs(fraction - last["f"]) >= 0.002 or message != last["m"] or fraction >= 1.0:
            last["f"], last["m"] = fraction, message
            queue.put(("progress", (float(fraction), str(message))))

    try:
        outcome = train(request["task"], request["data_dir"], request["hyper"], progress, _EventToken(stop_event),
                        on_batch=lambda b: queue.put(("batch", b)), on_epoch=lambda e: queue.put(("epoch", e)),
                        on_scan=lambda s: queue.put(("scan", s)), out_dir=request.get("out_dir"),
                        registry=Registry(request.get("shipped_dir"), request.get("user_dir")))
    except Cancelled:
        queue.put(("cancelled", None))
    except BaseException as exc:  # noqa: BLE001 - every failure reaches the parent as an event
        queue.put(("error", _picklable_error(exc)))
    else:
        queue.put(("done", outcome))
    finally:
        queue.close()
        queue.join_thread()  # flush the feeder thread before the process exits
