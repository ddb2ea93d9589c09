"""The Models dialog's details pane (fpstation.gui.models_dialog.card_details)."""

from __future__ import annotations

from types import SimpleNamespace


def _card(**data):
    base = {"split": {"n_train_subjects": 300, "n_val_subjects": 80}, "metrics": {"bpcer": 0.009},
            "training": {"command": "python training/train_pad.py --members 2"}}
    return SimpleNamespace(display="pad-socofing v3", key="pad-socofing@3", file="pad-socofing.keras",
                           sha256="ab" * 32, data={**base, **data})


def test_details_say_an_ensemble_and_the_cross_validated_figures():
    from fpstation.gui.models_dialog import card_details

    text = card_details(_card(ensemble={"members": 2, "members_asked": 2, "model_seeds": [0, 1]},
                              cross_validation={"note": "z-cut 2.9 % in 5 folds"}))
    assert "Ensemble: 2 networks trained on this split (model seeds 0, 1)" in text
    assert "Stop ended" not in text
    assert "Cross-validated recipe: z-cut 2.9 % in 5 folds" in text
    assert "Split: 300 train / 80 validation subjects" in text
    cut = card_details(_card(ensemble={"members": 2, "members_asked": 3, "model_seeds": [0, 1]}))
    assert "(3 asked; Stop ended the run before the others)" in cut
    plain = card_details(_card())
    assert "Ensemble" not in plain and "Cross-validated" not in plain


def test_details_say_a_cross_fitted_model_and_where_its_figures_come_from():
    from fpstation.gui.models_dialog import card_details

    text = card_details(_card(split={"cross_fit": 5, "train_subjects": [str(i) for i in range(480)],
                                     "val_subjects": []},
                              ensemble={"members": 5, "members_asked": 5, "cross_fit": 5, "model_seeds": [0, 1, 2, 3, 4]}))
    assert "Split: cross-fitted, 480 subjects in 5 parts" in text
    assert "Ensemble: 5 cross-fitted networks (of 5)" in text and "calibrated logits" in text
    assert "Out of fold: " in text and "Validation: " not in text
