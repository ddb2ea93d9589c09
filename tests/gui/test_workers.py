import threading

import pytest

from fpstation.core.errors import ImageReadError
from fpstation.workers import Pools, Task


def _job(n, progress, cancel, partial):
    for i in range(n):
        cancel.raise_if_cancelled()
        partial(i)
        progress((i + 1) / n, f"item {i}")
    return threading.current_thread().name


def test_task_runs_off_gui_thread_and_reports(qtbot):
    pools = Pools()
    task = Task(_job, 3, with_partial=True)
    partials, progress = [], []
    task.signals.partial.connect(partials.append)
    task.signals.progress.connect(lambda f, m: progress.append(f))
    with qtbot.waitSignal(task.signals.result, timeout=5000) as blocker:
        pools.start("io", task)
    qtbot.waitUntil(lambda: len(partials) == 3)
    assert blocker.args[0] != threading.current_thread().name
    assert progress[-1] == pytest.approx(1.0)
    assert pools.drain(2000)


def test_task_cancel_and_error(qtbot):
    ev = threading.Event()

    def slow(progress, cancel):
        while not cancel.cancelled:
            ev.wait(0.01)
        cancel.raise_if_cancelled()

    pools = Pools()
    t = Task(slow)
    with qtbot.waitSignal(t.signals.cancelled, timeout=5000):
        pools.start("inference", t)
        t.cancel()

    def bad(progress, cancel):
        raise ImageReadError("file is damaged")

    t2 = Task(bad)
    with qtbot.waitSignal(t2.signals.error, timeout=5000) as blocker:
        pools.start("io", t2)
    assert isinstance(blocker.args[0], ImageReadError)
    assert pools.drain(2000)


def test_sync_pools_fixture(sync_pools):
    out = []
    t = Task(lambda progress, cancel: 42)
    t.signals.result.connect(out.append)
    sync_pools.start("io", t)
    assert out == [42]
