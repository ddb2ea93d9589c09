import os

import pytest

from fpstation.core.batch import fake_analyzers
from fpstation.core.errors import FileAccessError
from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.core.store import CaseStore
from fpstation.core.watch import FolderWatcher, watch_folder
from tests.unit.test_batch import toy_reader


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _touch(path, text, mtime):
    path.write_text(text)
    os.utime(path, ns=(mtime, mtime))


def test_file_processed_only_when_stable_and_decodable(tmp_path):
    clock = Clock()
    w = FolderWatcher(tmp_path, extensions=".toy", reader=toy_reader, clock=clock, undecodable_after=5)
    f = tmp_path / "scan.toy"
    _touch(f, "BAD", 1_000)  # half-written: does not decode yet
    assert w.poll() == []  # first sight
    clock.t = 1
    assert w.poll() == []  # stable but undecodable, not yet timed out: no error row
    clock.t = 2
    _touch(f, "12", 2_000)  # writer finished
    assert w.poll() == []  # changed: wait for stability again
    clock.t = 3
    got = w.poll()
    assert [g.path for g in got] == [str(f)]
    assert got[0].prints
    assert got[0].error is None
    clock.t = 4
    assert w.poll() == []  # handed out once


def test_growing_file_never_errors_then_broken_file_does(tmp_path):
    clock = Clock()
    w = FolderWatcher(tmp_path, extensions=".toy", reader=toy_reader, clock=clock, undecodable_after=5)
    f = tmp_path / "slow.toy"
    for k in range(8):  # size changes every poll, well past undecodable_after
        f.write_text("BAD" + " " * k)
        clock.t = k
        assert w.poll() == []
    # now it stops changing but stays broken: error row only after 5 s of stability
    clock.t = 9
    assert w.poll() == []
    clock.t = 12
    got = w.poll()
    assert len(got) == 1
    assert got[0].error is not None
    assert "cut short" in got[0].error.user_message


def test_arrival_order_is_mtime_then_name(tmp_path):
    clock = Clock()
    w = FolderWatcher(tmp_path, extensions=".toy", reader=toy_reader, clock=clock)
    _touch(tmp_path / "c.toy", "3", 5_000)
    _touch(tmp_path / "a.toy", "1", 9_000)
    _touch(tmp_path / "b.toy", "2", 5_000)
    w.poll()
    clock.t = 1
    assert [os.path.basename(g.path) for g in w.poll()] == ["b.toy", "c.toy", "a.toy"]


def test_watch_job_analyses_into_store_and_cancels(tmp_path):
    d = tmp_path / "scanner"
    d.mkdir()
    (d / "one.toy").write_text("100")
    (d / "broken.toy").write_text("BAD")
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = watch_folder(d, st, fake_analyzers(), partial=rows.append, poll_interval=0.01,
                         undecodable_after=0.0, extensions=".toy", reader=toy_reader, max_polls=3)
        assert s.prints_analysed == 1
        assert s.bad_files == 1
        good = next(r for r in rows if r.row["status"] == "done")
        assert good.image is not None
        assert good.result is not None
        assert good.result.pad is not None
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            watch_folder(d, st, fake_analyzers(), cancel=token, extensions=".toy", reader=toy_reader)
        # a restart of the watch does not analyse the same print twice
        rows.clear()
        s = watch_folder(d, st, fake_analyzers(), partial=rows.append, poll_interval=0.01,
                         undecodable_after=0.0, extensions=".toy", reader=toy_reader, max_polls=3)
        assert s.prints_analysed == 0
        assert st.counts()["prints"] == 1
        assert st.counts()["file_errors"] == 1


def test_missing_folder():
    with pytest.raises(FileAccessError):
        FolderWatcher("/nonexistent/folder/xyz")


def test_watch_files_hands_out_loaded_items_then_analyse_loaded(tmp_path):
    from fpstation.core.watch import analyse_loaded, watch_files

    d = tmp_path / "scanner"
    d.mkdir()
    (d / "a.toy").write_text("5,6")
    got = []
    with CaseStore(tmp_path / "c.db") as st:
        n = watch_files(d, partial=got.append, store=st, poll_interval=0.0, extensions=".toy", reader=toy_reader,
                        max_polls=2, steps=frozenset({"pad", "gender"}))
        assert n == 1
        assert got[0].prints
        assert len(got[0].prints) == 2
        items = analyse_loaded(got[0], st, fake_analyzers)
        assert [i.row["status"] for i in items] == ["done", "done"]
        assert items[0].image is not None
        assert st.file_done(got[0].sha256, {"pad", "gender"})
