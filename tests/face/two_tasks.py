"""Helper run in a subprocess by test_face.py: two inference-pool tasks in a row, each computing a
face descriptor (the second one used to hang inside dlib; see ml/face/dlib_models.on_dlib_thread)."""

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fpstation import paths
from fpstation.workers import Pools, Task


def job(name, *, progress, cancel):
    from fpstation.core.imageio import read_print
    from fpstation.ml.face.embed import get_embedder

    return float(get_embedder().embed(read_print(paths.samples_dir() / "faces" / name).pixels).vector[0])


app = QApplication(sys.argv)
pools = Pools()
tasks = [pools.start("inference", Task(job, "orl_s1_1.png"))]


def poll():
    if tasks[-1].done.is_set():
        if len(tasks) == 2:
            print("both done", flush=True)
            app.quit()
            return
        tasks.append(pools.start("inference", Task(job, "orl_s1_2.png")))
    QTimer.singleShot(50, poll)


QTimer.singleShot(0, poll)
app.exec()
pools.drain(5000)
