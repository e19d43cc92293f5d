"""The figures of each variant (medians, ratios, targets) and the one table that shows them."""

from __future__ import annotations

import statistics

from benchmarks.scenarios import Group, Target, Variant


def median(variant: Variant, key: str) -> float | None:
    values = [run[key] for run in variant.runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def peak(variant: Variant) -> float | None:
    values = [run["peak_rss_mb"] for run in variant.runs if run.get("peak_rss_mb")]
    return max(values) if values else None


def judge(target: Target, variant: Variant, reference: Variant) -> tuple[float | None, bool | None]:
    """(the measured ratio or MB, whether the target is met); None when not measured."""
    if target.kind == "rss_mb":
        value = peak(variant)
    elif target.kind == "rss":
        mine, theirs = peak(variant), peak(reference)
        value = mine / theirs if mine and theirs else None
    else:
        mine, theirs = median(variant, "seconds"), median(reference, "seconds")
        value = mine / theirs if mine and theirs else None
    return value, None if value is None else value <= target.limit


def summary(group: Group, variant: Variant) -> dict:
    """One row of the results: the variant's medians, its ratio to its reference, its targets."""
    reference = group.reference_of(variant)
    seconds, reference_seconds = median(variant, "seconds"), median(reference, "seconds")
    targets = []
    for target in variant.targets:
        value, met = judge(target, variant, reference)
        targets.append(
            {
                "target": target.describe(reference.name),
                "value": None if value is None else round(value, 2),
                "met": met,
            }
        )
    return {
        "scenario": group.scenario,
        "variant": variant.name,
        "rows": variant.rows,
        "runs": len(variant.runs),
        "seconds_median": None if seconds is None else round(seconds, 2),
        "seconds_all": [run["seconds"] for run in variant.runs],
        "rows_per_second": round(variant.rows / seconds) if seconds and variant.rows else None,
        "peak_rss_mb": peak(variant),
        "ratio": round(seconds / reference_seconds, 2)
        if seconds and reference_seconds and variant is not reference
        else None,
        "ratio_to": None if variant is reference else reference.name,
        "ratio_to_first": reference is group.variants[0],
        "cpu_seconds_median": median(variant, "cpu_seconds"),
        "load_average": median(variant, "load_average"),
        "targets": targets,
        "note": variant.note,
        "details": [
            {k: v for k, v in run.items() if k not in ("seconds", "cpu_seconds", "peak_rss_mb")}
            for run in variant.runs
        ],
    }


def _show(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _verdicts(row: dict) -> str:
    return "; ".join(
        f"{t['target']}: "
        + (
            "not measured"
            if t["met"] is None
            else f"{t['value']:g} {'met' if t['met'] else 'NOT met'}"
        )
        for t in row["targets"]
    )


def render(report: dict) -> str:
    """The results as one markdown table, with the machine and the load beside."""
    m = report["machine"]
    lines = [
        f"machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"command: {report['command']}; {report.get('total_seconds', '?')} s in all; "
        f"load average {report['load_average']['start']} at the start, "
        f"{report['load_average'].get('end', '?')} at the end",
        "",
        "| scenario | variant | rows | runs | wall s (median) | rows/s | peak RSS MB | ratio "
        "(wall) | CPU s (median) | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["results"]:
        name = r["variant"] + (f" ({r['note']})" if r["note"] else "")
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        if r["ratio"] is not None and not r["ratio_to_first"]:
            ratio += f" {r['ratio_to']}"
        lines.append(
            f"| {r['scenario']} | {name} | {_show(r['rows'] or None, ',')} | {r['runs']} | "
            f"{_show(r['seconds_median'], '.2f')} | {_show(r['rows_per_second'], ',')} | "
            f"{_show(r['peak_rss_mb'], '.0f')} | {ratio} | "
            f"{_show(r['cpu_seconds_median'], '.2f')} | {_verdicts(r)} |"
        )
    if report["settings"].get("quick"):
        lines.append(
            "\n--quick: small sizes, a smoke run; the targets are set for the default sizes."
        )
    lines.append(
        "\nidentical tables (rows compared): "
        + "; ".join(f"{k}: {v}" for k, v in report["equivalence"].items())
    )
    lines += [f"ERROR {error}" for error in report["errors"]]
    return "\n".join(lines)
