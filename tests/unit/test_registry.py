import json

import pytest

from fpstation.core.errors import ModelIntegrityError, ModelNotFoundError
from fpstation.ml.registry import Registry, sha256_file


def _card(dirpath, name="m", task="pad", payload=b"weights", default=False):
    w = dirpath / f"{name}.bin"
    w.write_bytes(payload)
    card = {"name": name, "task": task, "file": w.name, "sha256": sha256_file(w), "version": "1"}
    if default:
        card["default"] = True
    (dirpath / f"{name}.json").write_text(json.dumps(card))
    return w


def test_lists_and_defaults(tmp_path):
    shipped, user = tmp_path / "s", tmp_path / "u"
    shipped.mkdir()
    _card(shipped, "a", "pad")
    _card(shipped, "b", "pad", default=True)
    _card(shipped, "c", "gender")
    reg = Registry(shipped, user)
    assert [c.name for c in reg.cards("pad")] == ["a", "b"]
    assert reg.default("pad").name == "b"
    assert reg.default("gender").name == "c"
    assert reg.default("restoration") is None
    with pytest.raises(ModelNotFoundError):
        reg.card("nope")


def test_tampered_weights_refused(tmp_path):
    shipped = tmp_path / "s"
    shipped.mkdir()
    w = _card(shipped, "a")
    reg = Registry(shipped, tmp_path / "u")
    reg.verify(reg.card("a"))
    w.write_bytes(b"weightz")
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        reg.load("a")


def test_register_versions(tmp_path):
    reg = Registry(tmp_path / "s", tmp_path / "u")
    src = tmp_path / "ckpt.keras"
    src.write_bytes(b"one")
    c1 = reg.register({"name": "pad-mine", "task": "pad"}, src)
    src.write_bytes(b"two")
    c2 = reg.register({"name": "pad-mine", "task": "pad"}, src)
    assert (c1.version, c2.version) == ("1", "2")
    assert c1.key == "pad-mine@v1"
    assert c2.key == "pad-mine@v2"
    assert not c1.shipped
    assert {c.key for c in reg.cards("pad")} == {"pad-mine@v1", "pad-mine@v2"}
    reg.verify(reg.card("pad-mine@v1"))
    assert c2.file.read_bytes() == b"two"
