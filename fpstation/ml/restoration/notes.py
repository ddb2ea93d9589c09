"""What the GUI and CLI say beside each restorer: which one is the default, why, and what it does
to matching (issue #20: a restorer that raises EER must say so). Read from the model cards
(``why_default``, ``matching_note``), never written here, so the words follow the measurements."""

from __future__ import annotations

from typing import Any

from fpstation.core.errors import ModelError

#: the classical restorer has no card: its note, with the figure it rests on
CLASSICAL_NOTE = ("pyfing's classical enhancement (SUFS segmentation, SNFOE orientation, SNFFE frequency, GBFEN "
                  "Gabor filtering): no training data, so no scanner or damage it was tuned to. It redraws ridges "
                  "as an idealised pattern rather than restoring grey levels.")


def restorer_note(key: str, registry: Any = None) -> str:
    """A few sentences about restorer ``key`` ("unet", "autoencoder", "classical" or a card key):
    name and version, whether it is the default restorer and why, and its effect on matching."""
    if key == "classical":
        return CLASSICAL_NOTE
    from fpstation.ml.restoration import find_card

    try:
        card = find_card(key, registry)
    except ModelError as exc:
        return str(exc)
    head = f"{card.name} v{card.version}" + (" — the default restorer." if card.default else ".")
    parts = [head]
    if card.why_default:
        parts.append(card.why_default)
    if card.matching_note:
        parts.append("Matching: " + card.matching_note)
    return " ".join(parts)
