"""A benchmark script's command line: whole-number options from one table of defaults and help."""
from __future__ import annotations

import argparse


def number_options(doc: str, options: dict[str, tuple[int, str | None]]) -> argparse.Namespace:
    """Parse ``--NAME N`` for each ``NAME: (default, help)``; the docstring's first line
    describes the script."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, (default, text) in options.items():
        parser.add_argument(f"--{name}", type=int, default=default, help=text)
    return parser.parse_args()
