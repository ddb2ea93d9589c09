"""The words beside each restorer (issue #20): default or not, why, and its effect on matching,
read from the model card."""

from __future__ import annotations

import json

import pytest


def _card(tmp_path, **extra):
    card = {"name": "restore-unet", "task": "restoration", "architecture": "unet", "file": "restore-unet.keras",
            "sha256": "0" * 64, "version": "3", **extra}
    (tmp_path / "restore-unet.json").write_text(json.dumps(card), encoding="utf-8")
    from fpstation.ml.registry import Registry

    return Registry(shipped_dir=tmp_path, user_dir=tmp_path / "user")


def test_default_restorer_says_it_is_the_default_and_why(tmp_path):
    from fpstation.ml.restoration.notes import restorer_note

    reg = _card(tmp_path, default=True, why_default="It beats pyfing on unseen scanners.",
                matching_note="raises EER on natural prints (+0.4 points).")
    note = restorer_note("unet", reg)
    assert note.startswith("restore-unet v3 — the default restorer.")
    assert "It beats pyfing on unseen scanners." in note
    assert "Matching: raises EER on natural prints" in note


def test_a_restorer_that_is_not_the_default_does_not_claim_it(tmp_path):
    from fpstation.ml.restoration.notes import restorer_note

    note = restorer_note("unet", _card(tmp_path, default=False))
    assert "default" not in note


def test_missing_restorer_note_is_the_models_error(tmp_path):
    from fpstation.ml.restoration.notes import restorer_note

    assert "No trained encoder-decoder restorer" in restorer_note("autoencoder", _card(tmp_path))


def test_classical_note_needs_no_card():
    from fpstation.ml.restoration.notes import CLASSICAL_NOTE, restorer_note

    assert restorer_note("classical") == CLASSICAL_NOTE


def test_card_refuses_a_why_that_is_not_text():
    from fpstation.ml.cards import CardError, parse_card

    with pytest.raises(CardError, match="why_default"):
        parse_card({"name": "r", "task": "restoration", "file": "r.keras", "sha256": "0", "why_default": 3})
