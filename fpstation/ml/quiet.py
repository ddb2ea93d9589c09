"""Keep TensorFlow's native start-up chatter off the analyst's terminal.

TensorFlow's C++ libraries write lines such as "All log messages before absl::InitializeLog() ...",
"oneDNN custom operations are on ..." and the CPU-feature notice straight to file descriptor 2
when they are loaded, before ``TF_CPP_MIN_LOG_LEVEL`` can take effect (it does not silence them in
the TensorFlow this app ships). :func:`quiet_native_stderr` captures fd 2 while the libraries load,
drops those known lines, writes anything else back to the real stderr (nothing is swallowed) and
logs the captured text at DEBUG. :func:`install` wraps the first ``import tensorflow`` with it.
Set ``FPSTATION_TF_VERBOSE=1`` to see the output as TensorFlow writes it. No TensorFlow import here.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: the start-up lines that say nothing to an analyst (all else is passed through)
NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS|cpu_feature_guard|"
    r"This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning|computation_placer|cuda_dnn|cuda_fft|"
    r"cuda_blas|Could not find cuda drivers|cuInit|gpu_device\.cc")
_lock = threading.Lock()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Capture fd 2 for the duration; re-emit every line that is not known TensorFlow noise."""
    if os.environ.get("FPSTATION_TF_VERBOSE") or not hasattr(os, "dup2"):
        yield
        return
    with _lock:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                text = tmp.read().decode("utf-8", errors="replace")
                if text:
                    log.debug("TensorFlow native start-up output:\n%s", text.rstrip())
                    keep = [ln for ln in text.splitlines() if ln.strip() and not NOISE.search(ln)]
                    if keep:
                        try:
                            sys.stderr.write("\n".join(keep) + "\n")
                            sys.stderr.flush()
                        except (AttributeError, OSError, ValueError):
                            pass


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec):  # noqa: ANN001 - importlib protocol
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:  # noqa: ANN001
        with quiet_native_stderr():
            self.inner.exec_module(module)


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the top-level ``tensorflow`` package (its import loads the libraries)."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _TensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowFinder())


__all__ = ["NOISE", "install", "quiet_native_stderr"]
