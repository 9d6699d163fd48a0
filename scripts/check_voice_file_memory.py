"""Peak memory of `mirage-cli voice --input-file` on a long recording: bounded, whatever the length.

    .venv/bin/python scripts/check_voice_file_memory.py [--minutes 60] [--converter passthrough]

Builds a FLAC of a repeating 441 Hz tone (44.1 kHz mono; an hour is ~40 MB: a periodic tone
compresses well), converts it with the real CLI under an address-space limit (RLIMIT_AS), and reads
the child's peak resident memory (VmHWM from /proc while it runs, and getrusage's ru_maxrss after).
The same is done for a 1-minute file: streaming means the two peaks differ by little (the check fails
if the long one is more than ``--slack-mb`` above the short one). Loading the hour whole, as the
converter once did, would need 635 MB for the float32 input alone and ~1.4 GB more to resample it.
Takes about a minute per hour of audio with the passthrough converter on two busy cores.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / ".venv" / "bin" / "mirage-cli"
RATE = 44100


def make_tone_flac(path: Path, minutes: float) -> None:
    t = np.arange(RATE) / RATE
    second = (0.3 * np.sin(2 * np.pi * 441 * t)).astype(np.float32)  # 441 whole periods: seamless
    with sf.SoundFile(path, "w", RATE, 1, "PCM_16", format="FLAC") as f:
        for _ in range(round(minutes * 60)):
            f.write(second)


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def convert(src: Path, out: Path, converter: str, limit_bytes: int) -> tuple[int, float, int, str]:
    """(exit code, seconds, peak RSS in kB, stderr) of one conversion under RLIMIT_AS."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.Popen(
        [str(CLI), "voice", "--input-file", str(src), "--output-file", str(out), "--converter", converter],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _vm_hwm_kb(proc.pid))
        time.sleep(0.25)
    _, err = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of all children is a running maximum: it only tells when this child set a new high
    peak = max(peak, after if after > before else 0)
    return proc.returncode, time.monotonic() - started, peak, err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="length of the long recording (default 60)"
    )
    parser.add_argument("--converter", default="passthrough", help="voice converter (default passthrough)")
    parser.add_argument("--limit-gb", type=float, default=3.0, help="RLIMIT_AS for the child (default 3 GB)")
    parser.add_argument("--slack-mb", type=float, default=64.0, help="allowed growth over the 1-minute peak")
    args = parser.parse_args(argv)
    limit = int(args.limit_gb * 1e9)
    with tempfile.TemporaryDirectory(prefix="mirage-voice-mem-") as tmp:
        folder = Path(tmp)
        rows = []
        for minutes in (1.0, args.minutes):
            src = folder / f"tone-{minutes:g}min.flac"
            made = time.monotonic()
            make_tone_flac(src, minutes)
            built_s = time.monotonic() - made
            out = folder / f"out-{minutes:g}min.flac"
            rc, seconds, peak_kb, err = convert(src, out, args.converter, limit)
            frames = sf.info(out).frames if rc == 0 and out.is_file() else 0
            rows.append((minutes, src.stat().st_size, built_s, rc, seconds, peak_kb, frames, err))
            out.unlink(missing_ok=True)
            src.unlink(missing_ok=True)
    print(
        f"voice --input-file, converter {args.converter}, RLIMIT_AS {args.limit_gb:g} GB, 44.1 kHz mono FLAC"
    )
    print(
        f"{'minutes':>8} {'input MB':>9} {'exit':>5} {'wall s':>7} {'x real':>7} "
        f"{'peak RSS MB':>12} {'out frames':>11}"
    )
    for minutes, size, _built, rc, seconds, peak_kb, frames, _ in rows:
        print(
            f"{minutes:8g} {size / 1e6:9.1f} {rc:5d} {seconds:7.1f} {seconds / (minutes * 60):7.3f} "
            f"{peak_kb / 1024:12.1f} {frames:11d}"
        )
    short, long_ = rows[0], rows[-1]
    ok = all(r[3] == 0 and r[6] == round(r[0] * 60) * RATE for r in rows)
    growth = (long_[5] - short[5]) / 1024
    print(f"peak growth from 1 to {args.minutes:g} minutes: {growth:+.1f} MB (allowed {args.slack_mb:g} MB)")
    if not ok:
        for row in rows:
            if row[3] != 0:
                print(f"--- {row[0]:g} min failed (exit {row[3]}):\n{row[7][-2000:]}", file=sys.stderr)
        print("FAILED: a conversion failed or its length is wrong")
        return 1
    if growth > args.slack_mb:
        print("FAILED: memory grows with the recording's length")
        return 1
    print("OK: memory bounded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
