"""What the benchmarks share: percentiles, the machine a figure was taken on and the section of
bench/RESULTS.md it goes in. (bench/*/run.py put this directory on sys.path.)"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return cpu


def table_machine() -> str:
    """The machine column of the results tables."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


def machine() -> str:
    cpu = cpu_model()
    nginx = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        nginx = (
            ", "
            + subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split(": ")[-1]
        )
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}{nginx}"


def now() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def record(heading: str, intro: str, entry: str) -> None:
    """Append `entry` to the section `heading` of RESULTS.md (made with `intro` the first time)."""
    _append(heading, intro, "\n\n" + entry.strip() + "\n")


def add_row(heading: str, intro: str, row: str) -> None:
    """Append a table row to the section `heading` (made with `intro`, ending in the table's header
    lines, the first time)."""
    _append(heading, intro, "\n" + row.strip() + "\n")


def _append(heading: str, intro: str, addition: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if heading not in text:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{intro.strip()}\n"
    start = text.index(heading)
    next_section = text.find("\n## ", start + len(heading))
    end = len(text) if next_section == -1 else next_section + 1
    section = text[start:end].rstrip("\n") + addition
    RESULTS.write_text(text[:start] + section + ("\n" + text[end:] if next_section != -1 else ""))
