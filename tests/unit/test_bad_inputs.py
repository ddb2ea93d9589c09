"""Robustness of batch and watch against a generated corpus of broken files (real decoders)."""

import os

import pytest

from fpstation.core import errors
from fpstation.core.batch import fake_analyzers, run_batch
from fpstation.core.imageio import encode_image
from fpstation.core.store import CaseStore
from fpstation.core.watch import FolderWatcher, watch_folder
from tests.unit.bad_corpus import good_files, make_corpus, ridge_image

READ_ERRORS = {c.__name__ for c in (errors.ImageReadError, *errors.ImageReadError.__subclasses__())}


def _rows_by_name(rows):
    out = {}
    for it in rows:
        out.setdefault(os.path.basename(it.row["path"]), []).append(it.row)
    return out


def test_every_file_gets_one_clear_row(tmp_path):
    expected = make_corpus(tmp_path / "corpus")
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch(tmp_path / "corpus", st, fake_analyzers(), partial=rows.append)
        by_name = _rows_by_name(rows)
        assert set(by_name) == set(expected)  # nothing lost
        for name, exp in expected.items():
            (row,) = by_name[name]  # exactly one row each
            if exp == "ok":
                assert row["status"] == "done", (name, row["error"])
                assert row["pad_verdict"] in ("LIVE", "ATTACK")
                assert row["sha256"]
            else:
                assert row["status"] == "bad file", name
                etype, _, msg = row["error"].partition(": ")
                assert etype in READ_ERRORS, (name, row["error"])
                if exp != "ImageReadError":
                    assert etype == exp, (name, row["error"])
                assert msg
                assert "Traceback" not in msg
        n_ok = sum(v == "ok" for v in expected.values())
        assert s.prints_analysed == n_ok
        assert s.bad_files == len(expected) - n_ok
        assert st.counts()["prints"] == n_ok
        # 16-bit and RGBA inputs were converted, not refused
        assert by_name["sixteen_bit.tif"][0]["format"] == "TIFF"


def test_unreadable_file_is_an_error_row(tmp_path, monkeypatch):
    # root ignores chmod, so permission denial is simulated where the batch opens the file
    folder = tmp_path / "in"
    folder.mkdir()
    files = good_files(folder, 3)
    locked = str(files[1])
    import fpstation.core.batch as batch

    real = batch.sha256_file

    def guarded(path):
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(batch, "sha256_file", guarded)
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch(folder, st, fake_analyzers(), partial=rows.append)
    assert s.prints_analysed == 2
    assert s.bad_files == 1
    bad = [r.row for r in rows if r.row["status"] == "bad file"]
    assert bad[0]["path"] == locked
    assert "Permission denied" in bad[0]["error"]
    assert bad[0]["error"].startswith("FileAccessError")


@pytest.mark.parametrize("prefetch", [0, 3])
def test_file_deleted_during_batch(tmp_path, prefetch):
    folder = tmp_path / "in"
    folder.mkdir()
    files = good_files(folder, 6)
    victim = files[-1]
    analysed = []
    base = fake_analyzers()

    def pad(im):
        analysed.append(im.source)
        if len(analysed) == 1:
            victim.unlink()  # deleted while the batch is running, after the folder was listed
        return base.pad(im)

    rows = []
    base.pad = pad
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch(folder, st, base, partial=rows.append, prefetch=prefetch)
        by_name = _rows_by_name(rows)
        assert set(by_name) == {f.name for f in files}
        assert s.prints_analysed + s.bad_files == 6
        if by_name[victim.name][0]["status"] == "bad file":  # prefetch may have read it before deletion
            assert "FileAccessError" in by_name[victim.name][0]["error"]
        if prefetch == 0:
            assert by_name[victim.name][0]["status"] == "bad file"


def test_half_written_file_in_watched_folder_waits_until_complete(tmp_path):
    folder = tmp_path / "scanner"
    folder.mkdir()
    data = encode_image(ridge_image(seed=42), "PNG", dpi=500)
    target = folder / "scan_0001.png"
    t = [0.0]
    w = FolderWatcher(folder, clock=lambda: t[0], undecodable_after=5.0)
    target.write_bytes(data[: len(data) // 2])  # the scanner has written half
    for k in range(1, 4):  # polls while the writer is stalled — within the timeout: no error row
        t[0] = k
        assert w.poll() == []
    with open(target, "ab") as fh:  # writer finishes
        fh.write(data[len(data) // 2:])
    t[0] = 4
    assert w.poll() == []  # size changed: wait one more poll
    t[0] = 5
    (item,) = w.poll()
    assert item.error is None
    assert item.prints
    assert item.prints[0].width == 103


def test_watch_job_on_real_files_records_error_only_for_broken(tmp_path):
    folder = tmp_path / "scanner"
    folder.mkdir()
    good_files(folder, 2)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = watch_folder(folder, st, fake_analyzers(), partial=rows.append, poll_interval=0.01,
                         undecodable_after=0.0, max_polls=3)
    assert s.prints_analysed == 2
    assert s.bad_files == 1
    assert sorted(r.row["status"] for r in rows) == ["bad file", "done", "done"]


def test_fifo_does_not_block_the_batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good_files(folder, 1)
    os.mkfifo(folder / "pipe.png")
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch(folder, st, fake_analyzers(), partial=rows.append)
    assert s.prints_analysed == 1
    assert s.bad_files == 1
    assert "not a regular file" in next(r.row["error"] for r in rows if r.row["status"] == "bad file")
