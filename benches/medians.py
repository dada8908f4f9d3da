#!/usr/bin/env python3
"""Median throughput of criterion benchmarks, from criterion's saved estimates.

criterion prints throughput from its slope/mean estimate, in MiB/s. The figures in
docs/performance.md are input bytes (or elements) divided by the *median* time per
iteration: MB/s (10^6 bytes per second) or elements per second. Usage, after a
`cargo bench -p PACKAGE`:

    python3 benches/medians.py "${CARGO_TARGET_DIR:-target}" [GROUP ...]

Without groups, the HL7 v2 parser groups are listed.
"""

import json
import pathlib
import sys

PARSER_GROUPS = ("hl7v2_parse_only", "hl7v2_parse_read5", "hl7v2_batch_1000")


def fmt_time(ns: float) -> str:
    return f"{ns / 1e3:.2f} µs" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def main() -> None:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
    groups = sys.argv[2:] or PARSER_GROUPS
    print(f"| {'benchmark':<44} | median time | per second (median) | 95% CI of median |")
    print(f"|{'-' * 46}|-------------|---------------------|------------------|")
    for group in groups:
        for est in sorted((root / group).glob("**/new/estimates.json")):
            bench = json.loads((est.parent / "benchmark.json").read_text())
            throughput = bench.get("throughput") or {}
            if "Bytes" in throughput:
                size, unit, scale = throughput["Bytes"], "MB", 1e3
            elif "Elements" in throughput:
                size, unit, scale = throughput["Elements"], "", 1e9
            else:
                continue
            median = json.loads(est.read_text())["median"]
            ns = median["point_estimate"]
            lo = median["confidence_interval"]["lower_bound"]
            hi = median["confidence_interval"]["upper_bound"]
            rate = lambda t: f"{size / t * scale:,.1f} {unit}".rstrip()  # noqa: E731
            print(
                f"| {bench['full_id']:<44} | {fmt_time(ns):>11} | {rate(ns):>19} "
                f"| {rate(hi)} – {rate(lo)} |"
            )


if __name__ == "__main__":
    main()
