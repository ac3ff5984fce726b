"""Camera streams per node: how many checkpoint camera pairs one machine screens at the
detect rate (5 frames/s) without dropping frames, and the latency from a frame read to
its faces tracked, and from a passage's last frame to its decision stored.

Every stream plays the same recording of simulated travellers (real face photos from
../shared/data/faces composited into the road scene, radiometric thermal frames,
declarations and QR codes), each frame at its recorded moment, as a camera would send
it. Two ways, in the same run:

- ours: Ray + Serve (the whole application with `cluster/serve_config.yaml`'s options,
  or those of `--serve-config`, e.g. `cluster/serve_config.gpu.yaml` on a GPU machine):
  one `CameraStream` actor per stream, inference in the Serve deployments;
- peer: the same pipeline (`CameraRunner` + `CameraPipeline` + `ScreeningService`) as
  one plain Python process without Ray: the models in-process (ONNX Runtime with every
  core), the same Redis stores.

    .venv/bin/python bench/checkpoint.py [--streams 1,2,4,8] [--seconds 40]

Target: ≥ 8 streams per node at p95 frame→decision < 500 ms (2-core machine), and
≥ 200 streams per GPU when one is lent. Writes bench/results/checkpoint.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ROOT.parent / "shared" / "data" / "faces"
RESULTS = ROOT / "bench" / "results"

from dichte.domain.checkpoints import CameraConfig, CheckpointConfig  # noqa: E402
from dichte.domain.keys import load_signing_key  # noqa: E402
from dichte.domain.settings import Settings  # noqa: E402
from dichte.models.sources import open_frames  # noqa: E402
from dichte.models.thermal.simulator import SimConfig, write_scenes  # noqa: E402
from dichte.services.camera import CameraPipeline, CameraRunner  # noqa: E402
from dichte.services.declarations import DeclarationService  # noqa: E402
from dichte.services.simulation import SimulatedTravellers  # noqa: E402
from dichte.services.vision import screening_policy  # noqa: E402
from dichte.services.wiring import screening_service  # noqa: E402
from dichte.serving.embedded_redis import EmbeddedRedis  # noqa: E402
from dichte.store.checkpoints import CheckpointStore  # noqa: E402
from dichte.store.declarations import DeclarationStore  # noqa: E402

SETTLE_S = 5.0  # after the measurement, before the events are read: pending decisions land
SIM = {
    "seed": 21,
    "people": 60,  # about 4 minutes of road: longer than any run
    "arrivals_per_min": 30.0,
    "min_headway_s": 1.0,
    "febrile_fraction": 0.2,
    "returning_fraction": 0.4,
}


def record(settings: Settings, out: Path) -> SimConfig:
    """The recording every stream plays (declarations made through the service)."""
    store = DeclarationStore.of(settings)
    service = DeclarationService(
        store, load_signing_key(settings), timedelta(hours=settings.qr_token_ttl_hours)
    )
    travellers = SimulatedTravellers(service, "bench")
    loop = asyncio.new_event_loop()
    config = SimConfig(faces_dir=FACES, **SIM)  # type: ignore[arg-type]
    write_scenes(
        config,
        out,
        qr_text=lambda who: loop.run_until_complete(travellers.token(who)),
        empty_road=True,  # a camera streams at its rate whether anyone is in view or not
    )
    loop.run_until_complete(store.close())
    loop.close()
    return config


def checkpoint(cid: str, folder: Path, sim: SimConfig, streams: int) -> CheckpointConfig:
    cameras = []
    for lane in range(1, streams + 1):
        cameras += [
            CameraConfig(
                id=f"v{lane}", kind="visible", lane=lane, source=f"file://{folder}/visible/"
            ),
            CameraConfig(
                id=f"t{lane}",
                kind="thermal",
                lane=lane,
                source=f"file://{folder}/thermal/",
                pair_of=f"v{lane}",
                homography=sim.homography().tolist(),
                blackbody={"roi": sim.blackbody_roi, "set_point_c": sim.blackbody_set_point_c},
            ),
        ]
    return CheckpointConfig(
        id=cid, name="Benchmark", commune_code=19363, lanes=streams, cameras=cameras
    )


async def against_truth(
    settings: Settings, checkpoint_id: str, folder: Path, read: dict[str, int]
) -> dict[str, int]:
    """A run's events against the recording's truth, per camera (`read`: camera id →
    frames it had read when the run was measured; the events are read a few seconds
    later, so passages over by then have had time to be decided). Each event is the
    person in view during its frames. People: whose passage was over by then; one
    event each is right, none is missed, more is split; an event with no one in view
    is stray. Fever, by each such person's (first) event: febrile people caught
    (`fever` among the reasons), well people flagged, people with no reading."""
    stamps = sorted(p.stat().st_mtime for p in (folder / "visible").iterdir())
    persons = [
        (p["frames"][0]["t_s"], p["frames"][-1]["t_s"], p["fever"])
        for p in json.loads((folder / "truth.json").read_text())["persons"]
        if p["frames"]
    ]
    store = CheckpointStore.of(settings)
    events, since = [], None
    while page := await store.events(checkpoint_id, since, 500):
        events += [json.loads(raw) for _, raw in page]
        since = page[-1][0]
    await store.close()
    kinds = "people one_event missed split stray febrile caught well flagged no_reading"
    counts = dict.fromkeys(kinds.split(), 0)
    for camera, frames_read in read.items():
        played = stamps[min(frames_read, len(stamps)) - 1] - stamps[0] if frames_read else -1
        theirs: dict[int, list[dict[str, Any]]] = {}
        for e in (e for e in events if e["camera_id"] == camera):
            first, last = (stamps[i] - stamps[0] for i in e["frames"])
            who = next(
                (
                    i
                    for i, (a, b, _) in enumerate(persons)
                    if a - 0.01 <= last and first <= b + 0.01
                ),
                None,
            )
            if who is None:
                counts["stray"] += 1
            else:
                theirs.setdefault(who, []).append(e)
        for i, (_, end, febrile) in enumerate(persons):
            if end > played:
                continue  # still passing when measured
            counts["people"] += 1
            mine = theirs.get(i, [])
            counts["one_event" if len(mine) == 1 else "split" if mine else "missed"] += 1
            if not mine:
                continue
            if mine[0]["temperature"] is None:
                counts["no_reading"] += 1
            elif febrile:
                counts["febrile"] += 1
                counts["caught"] += "fever" in mine[0]["reasons"]
            else:
                counts["well"] += 1
                counts["flagged"] += "fever" in mine[0]["reasons"]
    return counts


def summarise(stats: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    def worst(key: str) -> float | None:
        values = [s[key] for s in stats if s.get(key) is not None]
        return round(max(values), 3) if values else None

    read = sum(s["frames_read"] for s in stats)
    dropped = sum(s["frames_dropped"] for s in stats)
    return {
        "streams": len(stats),
        "frames_read": read,
        "frames_processed": sum(s["frames_processed"] for s in stats),
        "processed_per_s": round(sum(s["frames_processed"] for s in stats) / seconds, 1),
        "dropped_pct": round(100 * dropped / max(read, 1), 1),
        "frame_p50_s": worst("frame_latency_p50_s"),
        "frame_p95_s": worst("frame_latency_p95_s"),
        "decision_p95_s": worst("decision_latency_p95_s"),
        "screening_p95_s": worst("screening_p95_s"),
        "events": sum(s["events"] for s in stats),
    }


# --- ours: Ray + Serve ---------------------------------------------------------------


def run_ray(
    settings: Settings,
    folder: Path,
    sim: SimConfig,
    counts: list[int],
    seconds: float,
    serve_config: Path,
) -> list[dict[str, Any]]:
    import ray
    from ray import serve

    from dichte.actors.checkpoints import NAMESPACE, SUPERVISOR_NAME, actor_name
    from dichte.serving.ingress import bind_ingress
    from dichte.serving.serve_config import deployment_options, with_actor_shares

    settings = with_actor_shares(settings.model_copy(update={"serve_config": serve_config}))
    ray.init(include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    serve.start(http_options={"host": "127.0.0.1", "port": 0})
    serve.run(
        bind_ingress(settings, deployment_options(serve_config)),
        name="dichte",
        route_prefix=None,
    )
    rows = []
    try:
        for n in counts:
            cid = f"bench-ray-{n}"
            asyncio.run(_save(settings, checkpoint(cid, folder, sim, n)))
            supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
            names = [actor_name(cid, f"v{lane}") for lane in range(1, n + 1)]
            _wait(partial(_streaming, supervisor, names, True))
            time.sleep(seconds)
            cameras = ray.get(supervisor.cameras.remote())
            stats = [cameras[x] for x in names]
            time.sleep(SETTLE_S)
            read = {f"v{lane}": s["frames_read"] for lane, s in enumerate(stats, 1)}
            truth = asyncio.run(against_truth(settings, cid, folder, read))
            rows.append({"way": "ours", **summarise(stats, seconds), **truth})
            print(rows[-1], flush=True)
            asyncio.run(
                _save(settings, checkpoint(cid, folder, sim, n).model_copy(update={"cameras": []}))
            )
            _wait(partial(_streaming, supervisor, names, False))
    finally:
        serve.shutdown()
        ray.shutdown()
    return rows


def _streaming(supervisor: Any, names: list[str], expected: bool) -> bool:
    """Every one of the streams reads frames (expected) / none is left (not)."""
    import ray

    cameras = ray.get(supervisor.cameras.remote())
    if expected:
        return all(cameras.get(x, {}).get("frames_read") for x in names)
    return not any(x in cameras for x in names)


async def _save(settings: Settings, config: CheckpointConfig) -> None:
    store = CheckpointStore.of(settings)
    await store.save(config)
    await store.close()


def _wait(ready: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("streams did not start")
        time.sleep(0.5)


# --- peer: one plain process -----------------------------------------------------------


async def run_peer_once(
    settings: Settings, folder: Path, sim: SimConfig, n: int, seconds: float
) -> dict[str, Any]:
    from dichte.serving.local import LocalGallery, LocalInference

    inference = LocalInference(
        settings.data_dir / "models", settings.max_image_pixels, threads=os.cpu_count() or 1
    )
    store = DeclarationStore.of(settings)
    declarations = DeclarationService(
        store, load_signing_key(settings), timedelta(hours=settings.qr_token_ttl_hours)
    )
    gallery = await LocalGallery.of(settings)  # the runs before enrolled faces in Redis
    screening = screening_service(
        settings, inference=inference, gallery=gallery, declarations=declarations
    )
    config = checkpoint(f"bench-peer-{n}", folder, sim, n)
    runners = []
    for lane in range(1, n + 1):
        visible, thermal = config.cameras[2 * lane - 2], config.cameras[2 * lane - 1]
        pipeline = CameraPipeline(
            config,
            visible,
            thermal,
            inference=inference,
            screening=screening,
            policy=screening_policy(settings),
        )
        runner = CameraRunner(
            pipeline,
            lambda v=visible, t=thermal: open_frames(v.source, v.rate_fps, thermal_source=t.source),
            paced=True,
            finite=True,
            queued_limit=settings.camera_frames_queued,
        )
        runners.append(runner)
    tasks = [asyncio.create_task(r.read_forever()) for r in runners]
    tasks += [asyncio.create_task(r.work_forever()) for r in runners]
    await asyncio.sleep(seconds)
    stats = [r.stats() for r in runners]
    await asyncio.sleep(SETTLE_S)
    for t in tasks:
        t.cancel()
    # A task stuck in a store call must not hang the run: its counts are taken already.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    await store.close()
    read = {f"v{lane}": s["frames_read"] for lane, s in enumerate(stats, 1)}
    truth = await against_truth(settings, config.id, folder, read)
    return {"way": "peer", **summarise(stats, seconds), **truth}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--serve-config", type=Path, default=ROOT / "cluster" / "serve_config.yaml")
    parser.add_argument("--no-peer", action="store_true", help="only ours")
    parser.add_argument("--no-ours", action="store_true", help="only the peer")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the rows of bench/results/checkpoint.json this run does not measure",
    )
    args = parser.parse_args()
    counts = [int(x) for x in args.streams.split(",")]
    if not FACES.is_dir():
        sys.exit(f"needs the labelled face photos at {FACES}")
    data = Path(tempfile.mkdtemp(prefix="dichte-bench-cams-"))
    with EmbeddedRedis(data, append_only=False) as redis:
        settings = Settings(redis_url=redis.url, data_dir=data, simulated_checkpoint=False)
        sim = record(settings, data / "scene")
        rows = (
            []
            if args.no_ours
            else run_ray(settings, data / "scene", sim, counts, args.seconds, args.serve_config)
        )
        for n in [] if args.no_peer else counts:
            rows.append(asyncio.run(run_peer_once(settings, data / "scene", sim, n, args.seconds)))
            print(rows[-1], flush=True)
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average": os.getloadavg(),
        "seconds_per_run": args.seconds,
        "serve_config": str(args.serve_config.relative_to(ROOT))
        if args.serve_config.is_relative_to(ROOT)
        else str(args.serve_config),
        "recording": SIM,
    }
    if args.append and (RESULTS / "checkpoint.json").exists():
        measured = {(r["way"], r["streams"]) for r in rows}
        kept = json.loads((RESULTS / "checkpoint.json").read_text())["rows"]
        rows += [r for r in kept if (r["way"], r["streams"]) not in measured]
    write_results(rows, meta, args.seconds)


def write_results(rows: list[dict[str, Any]], meta: dict[str, Any], seconds: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "checkpoint.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"Camera streams at 5 frames/s, {os.cpu_count()} CPUs, {seconds:.0f} s a run, "
        f"{meta['when']}",
        "",
        "| way | streams | frames processed/s | dropped | frame p50 | frame p95 "
        "| decision p95 after last sighting | screening p95 | people: one event / passed "
        "| missed | split | stray events | fever caught | well flagged | no reading |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v * 1000:.0f} ms"

    for r in sorted(rows, key=lambda r: (r["streams"], r["way"])):
        lines.append(
            f"| {r['way']} | {r['streams']} | {r['processed_per_s']} | {r['dropped_pct']} % | "
            f"{ms(r['frame_p50_s'])} | {ms(r['frame_p95_s'])} | {ms(r['decision_p95_s'])} | "
            f"{ms(r['screening_p95_s'])} | {r['one_event']} / {r['people']} | {r['missed']} | "
            f"{r['split']} | {r['stray']} | {r['caught']} / {r['febrile']} | "
            f"{r['flagged']} / {r['well']} | {r['no_reading']} |"
        )
    (RESULTS / "checkpoint.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
