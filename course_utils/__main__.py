"""Command line: ``python -m course_utils doctor | finetune | predict`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import sys

from course_utils.cli import commands
from course_utils.cli.doctor import main as doctor_main

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="check this environment: [OK]/[WARN]/[FAIL] per requirement")
    doctor.add_argument("--offline", action="store_true", help="skip the network check")
    commands.add_finetune_arguments(sub.add_parser(
        "finetune", help="fine-tune ResNet-50 on a folder of your images (torchrun-ready)"))
    commands.add_predict_arguments(sub.add_parser(
        "predict", help="classify images with a model saved by finetune"))
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor_main(network=not args.offline)
    return commands.run(args.command, args)


if __name__ == "__main__":
    sys.exit(main())
