"""Batch machinery with an injected reader (format-independent); the real decoders are covered in
test_bad_inputs.py."""

import threading

import numpy as np
import pytest

from fpstation.core.batch import (
    fake_analyzers,
    list_images,
    normalise_extensions,
    run_batch,
)
from fpstation.core.errors import FileAccessError, TruncatedFileError
from fpstation.core.jobs import Cancelled, CancelToken
from fpstation.core.pipeline import Analyzers
from fpstation.core.store import CaseStore
from fpstation.core.types import FingerprintImage, PadResult


def toy_reader(path):
    """Files hold 'value[,value...]': one uniform 8×8 print per value; 'BAD' → truncated."""
    from fpstation.core.batch import sha256_file

    text = open(path, encoding="utf-8").read().strip()
    if text == "BAD":
        raise TruncatedFileError("The file is cut short.", path=path)
    sha, _ = sha256_file(path)
    return [FingerprintImage(np.full((8, 8), int(v), np.uint8), 500.0, path, sha, "TOY", i)
            for i, v in enumerate(text.split(","))]


def _folder(tmp_path, n=6):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for i in range(n):
        (d / ("sub" if i % 2 else "") / f"p{i:02d}.toy").write_text(str(10 * i))
    return d


def test_list_images_filters_and_recurses(tmp_path):
    d = _folder(tmp_path)
    (d / "notes.txt").write_text("x")
    (d / ".hidden.toy").write_text("1")
    files = list_images(d, ".TOY")
    assert len(files) == 6
    assert all(f.endswith(".toy") for f in files)
    assert len(list_images(d, ["toy"], recursive=False)) == 3
    assert normalise_extensions("bmp, .PNG,") == {".bmp", ".png"}
    with pytest.raises(FileAccessError):
        list_images(tmp_path / "missing", ".toy")


def test_batch_rows_bad_file_and_rerun_skips(tmp_path, fake_progress):
    d = _folder(tmp_path)
    (d / "zz_bad.toy").write_text("BAD")
    (d / "zz_multi.toy").write_text("1,2,3")
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch(d, st, fake_analyzers(), fake_progress, partial=rows.append, extensions=".toy",
                      reader=toy_reader)
        assert s.files == 8
        assert s.prints_analysed == 9
        assert s.bad_files == 1
        assert s.prints_skipped == 0
        statuses = [r.row["status"] for r in rows]
        assert statuses.count("bad file") == 1
        assert statuses.count("done") == 9
        bad = next(r.row for r in rows if r.row["status"] == "bad file")
        assert bad["path"].endswith("zz_bad.toy")
        assert "cut short" in bad["error"]
        assert rows[-1].done == 8
        assert rows[-1].total == 8
        assert fake_progress.last == 1.0
        assert "ETA" in fake_progress.calls[-1][1]
        assert st.counts()["prints"] == 9
        assert st.counts()["results"] == 18
        # second run: everything skipped by hash, nothing duplicated
        rows2 = []
        s2 = run_batch(d, st, fake_analyzers(), partial=rows2.append, extensions=".toy", reader=toy_reader)
        assert s2.prints_analysed == 0
        assert s2.prints_skipped == 9
        assert s2.bad_files == 1
        assert st.counts()["prints"] == 9
        assert st.counts()["results"] == 18
        assert st.counts()["file_errors"] == 1
        skipped = [r.row for r in rows2 if r.row["status"] == "skipped"]
        assert all(r["pad_verdict"] for r in skipped)


def test_identical_content_under_two_names_is_one_print(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.toy").write_text("7")
    (d / "b.toy").write_text("7")
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        run_batch(d, st, fake_analyzers(), partial=rows.append, extensions=".toy", reader=toy_reader, prefetch=0)
        assert st.counts()["prints"] == 1
    assert [r.row["status"] for r in rows] == ["done", "skipped"]
    assert rows[1].row["path"].endswith("b.toy")


def test_new_step_runs_only_the_missing_step(tmp_path):
    d = _folder(tmp_path, 2)
    calls = []
    full = fake_analyzers()
    only_gender = Analyzers(gender=full.gender)

    def pad(im):
        calls.append(im.source)
        return PadResult(0.1, 0.5, "LIVE")

    with CaseStore(tmp_path / "c.db") as st:
        run_batch(d, st, only_gender, extensions=".toy", reader=toy_reader)
        s = run_batch(d, st, Analyzers(pad=pad, gender=full.gender), extensions=".toy", reader=toy_reader)
        assert s.prints_analysed == 2
        assert len(calls) == 2
        assert st.counts()["results"] == 4


def test_failing_step_is_recorded_and_retried(tmp_path):
    d = _folder(tmp_path, 2)

    def broken(_im):
        raise RuntimeError("weights missing")

    with CaseStore(tmp_path / "c.db") as st:
        rows = []
        run_batch(d, st, Analyzers(pad=broken), partial=rows.append, extensions=".toy", reader=toy_reader)
        assert all(r.row["status"] == "error" and "weights missing" in r.row["error"] for r in rows)
        s = run_batch(d, st, fake_analyzers(), extensions=".toy", reader=toy_reader)
        assert s.prints_analysed == 2
        assert {st.print_row(p)["status"] for p in st.iter_print_ids()} == {"done"}
        assert st.counts()["results"] == 4


def test_file_deleted_mid_batch_is_an_error_row(tmp_path):
    d = _folder(tmp_path, 4)
    victim = sorted(d.rglob("*.toy"))[-1]
    seen = []

    def deleting_reader(path):
        seen.append(path)
        if len(seen) == 1 and victim.exists():
            victim.unlink()
        return toy_reader(path)

    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        s = run_batch(d, st, fake_analyzers(), partial=rows.append, extensions=".toy", reader=deleting_reader,
                      prefetch=0)
        assert s.bad_files == 1
        assert s.prints_analysed == 3
    bad = [r.row for r in rows if r.row["status"] == "bad file"]
    assert bad[0]["path"] == str(victim)
    assert "disappeared" in bad[0]["error"]


def test_cancel_keeps_what_is_done(tmp_path):
    d = _folder(tmp_path, 6)
    token = CancelToken()
    rows = []

    def on_row(item):
        rows.append(item)
        if len(rows) == 2:
            token.cancel()

    with CaseStore(tmp_path / "c.db") as st:
        with pytest.raises(Cancelled):
            run_batch(d, st, fake_analyzers(), cancel=token, partial=on_row, extensions=".toy", reader=toy_reader)
        assert st.counts()["prints"] == 2
        s = run_batch(d, st, fake_analyzers(), extensions=".toy", reader=toy_reader)
        assert s.prints_skipped == 2
        assert s.prints_analysed == 4
        assert st.counts()["prints"] == 6


def test_prefetch_decodes_on_another_thread(tmp_path):
    d = _folder(tmp_path, 3)
    threads = set()

    def reader(path):
        threads.add(threading.current_thread().name)
        return toy_reader(path)

    with CaseStore(tmp_path / "c.db") as st:
        run_batch(d, st, fake_analyzers(), extensions=".toy", reader=reader, prefetch=2)
    assert threads
    assert all(t.startswith("fp-prefetch") for t in threads)


def test_rows_do_not_keep_pixels(tmp_path):
    d = _folder(tmp_path, 3)
    rows = []
    with CaseStore(tmp_path / "c.db") as st:
        run_batch(d, st, fake_analyzers(), partial=rows.append, extensions=".toy", reader=toy_reader)
    assert all(r.image is None and r.result is None for r in rows)
    assert not any(isinstance(v, np.ndarray) for r in rows for v in r.row.values())
