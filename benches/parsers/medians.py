#!/usr/bin/env python3
"""Median throughput of the parser benchmarks, from criterion's saved estimates.

criterion prints throughput from its slope/mean estimate, in MiB/s. The figures in
docs/performance.md are input bytes divided by the *median* time per iteration,
in MB/s (10^6 bytes per second). Usage, after `cargo bench -p caresync-bench-parsers`:

    python3 benches/parsers/medians.py "${CARGO_TARGET_DIR:-target}"
"""

import json
import pathlib
import sys

GROUPS = ("hl7v2_parse_only", "hl7v2_parse_read5", "hl7v2_batch_1000")


def main() -> None:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
    print(f"| {'benchmark':<40} | median time | MB/s (median) | 95% CI of median, MB/s |")
    print(f"|{'-' * 42}|-------------|---------------|------------------------|")
    for group in GROUPS:
        for est in sorted((root / group).glob("**/new/estimates.json")):
            bench = json.loads((est.parent / "benchmark.json").read_text())
            size = (bench.get("throughput") or {}).get("Bytes")
            if not size:
                continue
            median = json.loads(est.read_text())["median"]
            ns = median["point_estimate"]
            lo = median["confidence_interval"]["lower_bound"]
            hi = median["confidence_interval"]["upper_bound"]
            t = f"{ns / 1e3:.2f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms"
            print(
                f"| {bench['full_id']:<40} | {t:>11} | {size / ns * 1e3:>13.1f} "
                f"| {size / hi * 1e3:.1f} – {size / lo * 1e3:.1f} |"
            )


if __name__ == "__main__":
    main()
