"""Machine learning: the only package that imports TensorFlow/Keras, and only lazily.

Importing it keeps TensorFlow's native start-up chatter off the terminal (see :mod:`.quiet`).
"""

from fpstation.ml import quiet as _quiet

_quiet.install()
