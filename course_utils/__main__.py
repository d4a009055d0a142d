"""Command line: ``python -m course_utils doctor [--offline]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="check this environment: [OK]/[WARN]/[FAIL] per requirement")
    doctor.add_argument("--offline", action="store_true", help="skip the network check")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from course_utils.doctor import main as doctor_main

        return doctor_main(network=not args.offline)
    return 2  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
