"""Face identification: who is this person, from a gallery of known faces (issue #14).

Modules (dlib and TensorFlow are imported lazily, only when a face is actually processed):

- :mod:`.dlib_models` — locates the dlib weight files inside the ``face-recognition-models`` pip
  package with importlib (its ``__init__`` imports ``pkg_resources``, so it is never imported) and
  loads the HOG detector, the 5-point shape predictor and the ResNet embedding once. The 68-point
  model in that package is non-commercial and is never used.
- :mod:`.detect` — face detection (HOG) and alignment (5 points) into a 150×150 chip; a small
  pre-cropped image in which the detector finds nothing is used whole, and the result says so.
- :mod:`.modality` — the face-vs-fingerprint check (so fingerprint models never judge faces and the
  face panel never "identifies" a fingerprint).
- :mod:`.embed` — embedders: ``dlib-resnet`` (shipped default, 128-d) and the small MobileNet-style
  CNN trained here (``face-mobilenet``); both give L2-normalised vectors, compared by cosine similarity.
- :mod:`.gallery` — enrol a folder with one sub-folder per person into a case store; search.
- :mod:`.identify` — open-set identification of one image against a gallery.
- :mod:`.evaluate` — rank-1 / rank-5 / CMC and open-set FNIR / FPIR of a gallery + probes folder.
- :mod:`.task` — the training-dialog / ``fpstation train face`` task for the small CNN.
"""
