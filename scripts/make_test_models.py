"""Write stand-in face models with the real models' exact inputs/outputs into a folder.

    .venv/bin/python scripts/make_test_models.py OUT_DIR [--swapper identity|visible|cost] [--flops]
        [--enhancers [--enhancer-kind identity|sharpen|cost]] [--hyperswap [--hyperswap-kind ...]]

Writes OUT_DIR/det_10g.onnx (engineer A's template-matching SCRFD stand-in; ``--flops`` adds det_10g's
~10 GFLOPs), OUT_DIR/w600k_r50.onnx (ArcFace I/O; ``--flops`` gives it ResNet-50's 6.3 G multiply-adds)
and OUT_DIR/inswapper_128.onnx (``identity`` returns the face unchanged, ``visible`` paints an
identity-dependent pattern over it, ``cost`` costs --swap-gmacs per face).

``--enhancers`` adds the face enhancers FaceFusion ships, with their exact I/O: OUT_DIR/gfpgan_1.4.onnx,
gpen_bfr_256.onnx, gpen_bfr_512.onnx and codeformer.onnx (which also takes the fidelity ``weight``).
``--enhancer-kind sharpen`` (default) applies a visible unsharp mask + contrast (for CodeFormer scaled
by 1 − weight), ``identity`` returns the face unchanged, ``cost`` costs each real model's
multiply-adds. ``--hyperswap`` adds OUT_DIR/hyperswap_1a_256.onnx (``source`` embedding + 256² ``target``
→ ``output`` + ``mask``; ``--hyperswap-kind`` identity|visible|cost, default visible).

Then register each with

    mirage-cli models add OUT_DIR/det_10g.onnx --allow-unverified   (and the same for the others)

They are for trying the app and the pipeline without the real (non-commercial, large) weights:
they find faces by template matching and do not produce real face swaps or real enhancement.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mirage_desktop.testmodels import arcface, enhancers, hyperswap, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, build_scrfd_flops, obama_template

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--swapper", choices=("identity", "visible", "cost"), default="visible")
    parser.add_argument("--swap-gmacs", type=float, default=inswapper.INSWAPPER_GFLOPS)
    parser.add_argument(
        "--flops", action="store_true", help="give detector and ArcFace their real models' cost"
    )
    parser.add_argument(
        "--testdata", type=Path, default=TESTDATA, help="folder with faces/obama.jpg (template)"
    )
    parser.add_argument("--enhancers", action="store_true", help="also write the four face enhancers")
    parser.add_argument("--enhancer-kind", choices=("identity", "sharpen", "cost"), default="sharpen")
    parser.add_argument("--hyperswap", action="store_true", help="also write hyperswap_1a_256.onnx")
    parser.add_argument("--hyperswap-kind", choices=("identity", "visible", "cost"), default="visible")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    template = obama_template(args.testdata) if (args.testdata / "faces" / "obama.jpg").is_file() else None
    det = (build_scrfd_flops if args.flops else build_scrfd)(out / "det_10g.onnx", template)
    arc = arcface.build_arcface(
        out / "w600k_r50.onnx", gmacs=arcface.ARCFACE_R50_GMACS if args.flops else 0.0
    )
    swap_path = out / "inswapper_128.onnx"
    if args.swapper == "identity":
        swap = inswapper.build_identity(swap_path)
    elif args.swapper == "visible":
        swap = inswapper.build_visible(swap_path)
    else:
        swap, _ = inswapper.build_cost(swap_path, gmacs=args.swap_gmacs)
    written = [det, arc, swap]
    if args.enhancers:
        written += enhancers.build_enhancer_set(out, kind=args.enhancer_kind)
    if args.hyperswap:
        written.append(hyperswap.build_hyperswap(out / "hyperswap_1a_256.onnx", kind=args.hyperswap_kind))
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"next: mirage-cli models add {out}/<file> --allow-unverified, for each file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
