"""``fpstation face enroll DIR --case CASE`` / ``face identify IMAGE --case CASE [--top 5] [--json OUT]``
/ ``face list --case CASE`` / ``face remove NAME --case CASE``.

enroll: DIR holds one sub-folder per person (its name is the identity); every image is embedded
with the face model (default: the shipped dlib ResNet) and stored in the case. Files that cannot
be used are listed and skipped. identify: ranks the case gallery's identities for one image and
says "not in the gallery" when the best similarity is below the model's open-set threshold.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("face", help="face gallery: enroll a folder of people, identify a face image",
                       description=__doc__)
    fsub = p.add_subparsers(dest="face_command", metavar="ACTION")
    e = fsub.add_parser("enroll", help="enrol DIR (one sub-folder per person) into the case's face gallery")
    e.add_argument("dir", type=Path, metavar="DIR")
    e.add_argument("--case", required=True, type=Path, metavar="CASE.db")
    e.add_argument("--model", default="", help="face model registry key (default: the shipped default)")
    e.set_defaults(func=run_enroll)
    i = fsub.add_parser("identify", help="rank the case gallery's identities for one face image")
    i.add_argument("image", type=Path, metavar="IMAGE")
    i.add_argument("--case", required=True, type=Path, metavar="CASE.db")
    i.add_argument("--top", type=int, default=5)
    i.add_argument("--json", type=Path, metavar="OUT", help="also write the result as JSON")
    i.add_argument("--model", default="", help="face model registry key (default: the shipped default)")
    i.set_defaults(func=run_identify)
    ls = fsub.add_parser("list", help="list the people in the case's face gallery")
    ls.add_argument("--case", required=True, type=Path, metavar="CASE.db")
    ls.set_defaults(func=run_list)
    rm = fsub.add_parser("remove", help="remove a person from the case's face gallery")
    rm.add_argument("name")
    rm.add_argument("--case", required=True, type=Path, metavar="CASE.db")
    rm.set_defaults(func=run_remove)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _existing_case(path: Path):
    from fpstation.core.errors import CaseStoreError
    from fpstation.core.store import CaseStore

    if not path.is_file():
        raise CaseStoreError(f"The case “{path}” does not exist. Enrol a gallery into it first "
                             "(fpstation face enroll DIR --case CASE).", path=str(path))
    return CaseStore(path)


def run_enroll(args) -> int:
    from fpstation.cli import TextProgress
    from fpstation.core.store import CaseStore
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import enroll_folder

    emb = get_embedder(args.model or None)
    with CaseStore(args.case) as store:
        rep = enroll_folder(args.dir, store, emb, progress=TextProgress())
        total = store.face_identities(emb.key)
    for path, why in rep.skipped:
        print(f"skipped {path}: {why}")
    print(f"enrolled {rep.templates} image(s) of {rep.identities} person(s) with {rep.model} "
          f"({rep.whole_image} small image(s) with no detected face used whole); "
          f"the gallery of {args.case} now holds {len(total)} person(s)")
    return 0 if rep.templates else 2


def run_identify(args) -> int:
    from fpstation.core.imageio import read_print
    from fpstation.ml.face.embed import get_embedder
    from fpstation.ml.face.gallery import load_gallery
    from fpstation.ml.face.identify import identify

    emb = get_embedder(args.model or None)
    with _existing_case(args.case) as store:
        gallery = load_gallery(store, emb)
    if not len(gallery):
        from fpstation.core.errors import FpError

        raise FpError(f"The case “{args.case}” has no face gallery for model {emb.key}. "
                      "Enrol one with: fpstation face enroll DIR --case CASE")
    im = read_print(args.image)
    res = identify(im.pixels, gallery, emb, top=args.top, source=str(args.image))
    b = res.box
    print(f"{args.image}: face {b.width}×{b.height} at ({b.left}, {b.top}) [{b.method}]")
    for note in res.notes:
        print(f"  note: {note}")
    for k, (name, sim) in enumerate(res.candidates, 1):
        print(f"  {k}. {name:20s} similarity {sim:.4f}")
    thr = "none" if res.threshold is None else f"{res.threshold:.4f}"
    print(f"result: {res.verdict}  (threshold {thr}, gallery of {res.gallery_size}, model {res.model}, "
          f"{res.seconds['total'] * 1000:.0f} ms)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res.to_dict(), indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def run_list(args) -> int:
    with _existing_case(args.case) as store:
        ids = store.face_identities()
    for name, n in sorted(ids.items()):
        print(f"{name}\t{n} template(s)")
    print(f"{len(ids)} person(s)")
    return 0


def run_remove(args) -> int:
    with _existing_case(args.case) as store:
        n = store.remove_face_identity(args.name)
    if not n:
        from fpstation.core.errors import FpError

        raise FpError(f"“{args.name}” is not in the face gallery of {args.case}.")
    print(f"removed {args.name} ({n} template(s))")
    return 0
