"""``python -m bench --model u2netp``: quality and speed side by side with rembg.

``python -m bench --presets`` (``make bench``): the quality presets beside rembg with
U²-Net and with ISNet, quality and seconds per photo, plus leave-one-scene-out figures
(:mod:`bench.presets`); the table goes to ``bench/results/presets-*.md``.

Prints Markdown tables and writes everything (per image too) as JSON under
``bench/results/``. See the README's "Benchmarks" section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import presets, quality, speed
from bench.rembg_env import RembgWorker, ensure_venv, rembg_version
from clearcutout import Remover

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DATA = BENCH_DIR.parent.parent / "shared" / "eval" / "dev"


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def quality_tables(results: dict[str, dict[str, Any]], model: str) -> str:
    methods = list(results)
    lines = [
        f"Quality, {model}: mean over images (min scene = worst per-scene mean IoU)",
        "",
        "| method | IoU | MAE | boundary F | min scene IoU | SAD | grad |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        o = results[method]["overall"]
        lines.append(
            f"| {method} | {_f(o['iou'])} | {_f(o['mae'], 4)} | {_f(o['boundary_f'])} | "
            f"{_f(o['min_scene_iou'])} | {_f(o.get('sad'), 1)} | {_f(o.get('grad'), 1)} |"
        )
    lines += ["", f"Per scene, {model} (IoU / boundary F)", ""]
    lines.append("| scene | " + " | ".join(methods) + " |")
    lines.append("|---" * (len(methods) + 1) + "|")
    for scene in results[methods[0]]["per_scene"]:
        cells = [
            f"{_f(results[m]['per_scene'][scene]['iou'])} / "
            f"{_f(results[m]['per_scene'][scene]['boundary_f'])}"
            for m in methods
        ]
        lines.append(f"| {scene.split('_', 1)[-1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_table(results: dict[str, dict[str, float]], model: str) -> str:
    lines = [
        f"Latency, {model} (seconds; bytes in → PNG bytes out; ours/pure: median of paired runs)",
        "",
        "| size | pure ORT | ours p50 | ours p90 | rembg p50 | rembg p90 | ours/pure"
        " | ours/rembg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        size = f"{label} MP ({int(r['width'])}×{int(r['height'])})"
        lines.append(
            f"| {size} | {_f(r['pure_p50'])} | {_f(r['ours_p50'])} | {_f(r['ours_p90'])} | "
            f"{_f(r['rembg_p50'])} | {_f(r['rembg_p90'])} | "
            f"{_f(r['ours_over_pure_paired_p50'], 2)}× | "
            f"{_f(r['ours_over_rembg'], 2)}× |"
        )
    return "\n".join(lines)


def batch_table(results: dict[str, dict[str, Any]], model: str) -> str:
    lines = [
        f"Batch, {model}: {speed.BATCH_FILES} files at {speed.BATCH_MP:g} MP, one process each",
        "",
        "| command | seconds | images/s | peak RSS (MiB) |",
        "|---|---|---|---|",
    ]
    for label, r in results.items():
        if label != "summary":
            lines.append(
                f"| {label} | {_f(r['seconds'], 1)} | {_f(r['images_per_s'], 2)} | "
                f"{_f(r['peak_rss_mib'], 0)} |"
            )
    s = results["summary"]
    lines += [
        "",
        f"Best ours ({s['best']}) / rembg p: throughput "
        f"{s['ours_over_rembg']:.2f}×, peak RSS {s['rss_ours_over_rembg']:.2f}×",
    ]
    if s.get("lean") is not None:
        lines.append(
            f"Fastest ours within rembg's peak RSS ({s['lean']}) / rembg p: throughput "
            f"{s['lean_over_rembg']:.2f}×, peak RSS {s['lean_rss_over_rembg']:.2f}×"
        )
    else:
        lines.append("No setting of ours stayed within rembg's peak RSS.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", default="u2netp", help="u2netp, u2net or isnet-general-use")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="images/ + masks/")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-batch", action="store_true", help="no batch throughput")
    parser.add_argument("--skip-latency", action="store_true", help="no latency")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument(
        "--presets", action="store_true", help="the quality presets beside rembg (one run)"
    )
    parser.add_argument(
        "--every", type=int, default=1, help="presets: every N-th photo only (a quick look)"
    )
    args = parser.parse_args(argv)
    if args.presets:
        run_presets(args.data, args.out, every=args.every)
        return

    started = time.perf_counter()
    ensure_venv()
    remover = Remover(args.model).load()
    model_path = remover.runner.path
    models_dir = model_path.parent
    report: dict[str, Any] = {
        "model": args.model,
        "model_file": str(model_path),
        "rembg": rembg_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_at_start": os.getloadavg(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    sections: list[str] = []
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{args.model}-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save() -> None:  # after every section, so a late failure keeps what was measured
        report["machine"]["load_now"] = os.getloadavg()
        report["seconds"] = time.perf_counter() - started
        target.write_text(json.dumps(report, indent=2))

    with RembgWorker(args.model, model_path, models_dir) as rembg:
        if not args.skip_quality:
            print(f"quality on {args.data} …", file=sys.stderr)
            report["quality"] = quality.run(args.model, args.data, rembg=rembg, remover=remover)
            sections.append(quality_tables(report["quality"], args.model))
            save()
            print(sections[-1], file=sys.stderr)
        if not args.skip_speed:
            photos = quality.find_pairs(args.data)
            with tempfile.TemporaryDirectory(prefix="clearcutout-bench-") as tmp:
                plan = speed.PLANS.get(args.model, speed.DEFAULT_PLAN)
                if not args.skip_latency:
                    print("latency …", file=sys.stderr)
                    report["latency"] = speed.latency(
                        remover, rembg, [p.image for p in photos[::12]], Path(tmp), plan
                    )
                    sections.append(latency_table(report["latency"], args.model))
                    save()
                if not args.skip_batch:
                    print("batch throughput …", file=sys.stderr)
                    report["batch"] = speed.throughput(
                        args.model,
                        model_path,
                        models_dir,
                        [p.image for p in photos],
                        Path(tmp),
                        plan,
                    )
                    sections.append(batch_table(report["batch"], args.model))
    save()
    load = report["machine"]
    footer = (
        f"rembg {report['rembg']}, same ONNX file ({model_path.name}); "
        f"{load['cpus']} CPUs, load average at start/end "
        f"{load['load_at_start'][0]:.2f}/{load['load_now'][0]:.2f}; "
        f"took {report['seconds'] / 60:.1f} min; JSON: {target}"
    )
    print("\n\n".join([*sections, footer]))


def run_presets(data: Path, out: Path, *, every: int) -> None:
    started = time.perf_counter()
    ensure_venv()
    store = Remover().store
    paths = {name: store.ensure(name) for name in ("u2net", "isnet-general-use")}
    load_at_start = os.getloadavg()
    with (
        RembgWorker("u2net", paths["u2net"], paths["u2net"].parent) as rembg_u2net,
        RembgWorker(
            "isnet-general-use", paths["isnet-general-use"], paths["isnet-general-use"].parent
        ) as rembg_isnet,
    ):
        result = presets.run(data, rembg_u2net=rembg_u2net, rembg_isnet=rembg_isnet, every=every)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_at_start": load_at_start,
        "load_now": os.getloadavg(),
    }
    result["rembg"] = rembg_version()
    result["seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"presets-{stamp}.json").write_text(json.dumps(result, indent=2))
    machine = result["machine"]
    text = presets.table(result) + (
        f"\n\nrembg {result['rembg']}; {machine['cpus']} CPUs, load average at start/end "
        f"{machine['load_at_start'][0]:.2f}/{machine['load_now'][0]:.2f}; "
        f"took {result['seconds'] / 60:.1f} min"
    )
    (out / f"presets-{stamp}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
