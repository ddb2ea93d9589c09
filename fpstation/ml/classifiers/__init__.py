"""PAD (presentation attack) and gender classifiers: preprocessing, calibrated inference, heat maps.

The models are small CNNs (ml/architectures.py), a classical texture model or a numpy feature model,
each with one logit. Their model cards hold

- ``input``: ``{"shape": [H, W, 1], "dpi": <dpi the model expects, or null>}``;
- ``calibration``: ``{"a", "b"}``: calibrated logit = a·logit + b (Platt scaling on validation);
- PAD only: ``threshold`` (operating point on the calibrated attack score), the validation ROC
  (``roc``: threshold / tpr = 1-APCER / fpr = BPCER) so any operator threshold can be shown with
  the APCER/BPCER it gives, and ``attack_types_seen``.

This package only re-exports; the code lives in

- :mod:`.preprocess`: fitting a print to the input, patches, the card's domain check;
- :mod:`.loading`: loading a model once and its raw logits;
- :mod:`.pad`: attack scores, verdicts, APCER/BPCER at a threshold;
- :mod:`.explain`: heat maps of what drove an attack score;
- :mod:`.gender`: P(female) per print and per person.
"""

from fpstation.ml.classifiers.explain import pad_explain
from fpstation.ml.classifiers.gender import (
    gender_combined,
    gender_label,
    gender_logits,
    gender_predict,
    gender_scores,
)
from fpstation.ml.classifiers.loading import load_classifier, model_logits
from fpstation.ml.classifiers.loading import model_logits as _model_logits  # noqa: F401 - old name, kept for open branches
from fpstation.ml.classifiers.pad import (
    pad_model_keys,
    pad_predict,
    pad_predict_all,
    pad_rates_at,
    pad_scores,
    pad_verdict,
)
from fpstation.ml.classifiers.preprocess import (
    DEFAULT_SHAPE,
    domain_check,
    fit_to_input,
    is_patch_model,
    is_texture_model,
    prepare,
    print_patches,
)

__all__ = [
    "DEFAULT_SHAPE",
    "domain_check",
    "fit_to_input",
    "gender_combined",
    "gender_label",
    "gender_logits",
    "gender_predict",
    "gender_scores",
    "is_patch_model",
    "is_texture_model",
    "load_classifier",
    "model_logits",
    "pad_explain",
    "pad_model_keys",
    "pad_predict",
    "pad_predict_all",
    "pad_rates_at",
    "pad_scores",
    "pad_verdict",
    "prepare",
    "print_patches",
]
