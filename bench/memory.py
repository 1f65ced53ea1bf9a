"""``python -m bench.memory``: peak memory of ``clearcutout serve`` under 16 clients,
with and without allocator tuning (``CLEARCUTOUT_TUNE_ALLOCATOR``).

Each run starts a fresh server on the embedded default (SQLite, ``file://`` storage) with
U²-Netp, lets ``--clients`` threads each send ``--per-client`` images to
``/v1.0/removebg`` (processed in the request; ``removebg.max_concurrent`` at a time) and
reads the server's peak resident memory (``VmHWM`` of ``/proc/<pid>/status``) at the end.
Run it with ``nice`` on a shared machine; the README quotes its output.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from clearcutout.engine.sample import sample_photo

CLI = str(Path(sys.executable).parent / "clearcutout")


def _photo(width: int, height: int) -> bytes:
    image = Image.open(io.BytesIO(sample_photo())).convert("RGB").resize((width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([CLI, *args], env=env, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def run(tune: bool, clients: int, per_client: int, photo: bytes) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="cc-mem-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCUTOUT_")}
        env.update(
            {
                "CLEARCUTOUT_DATA_DIR": folder,
                "CLEARCUTOUT_DEFAULT_MODEL": "u2netp",
                "CLEARCUTOUT_TUNE_ALLOCATOR": "true" if tune else "false",
                "CLEARCUTOUT_ARGON2_TIME_COST": "1",
                "CLEARCUTOUT_ARGON2_MEMORY_KIB": "1024",
                "CLEARCUTOUT_REMOVEBG__RATE_LIMIT_PER_MINUTE": "100000",
                "CLEARCUTOUT_REMOVEBG__MONTHLY_CREDITS": "100000",
            }
        )
        _cli(env, "db", "upgrade")
        _cli(
            env,
            "users",
            "create",
            "m@example.org",
            "--name",
            "M",
            "--password-stdin",
            stdin="a long enough password 123\n",
        )
        key = _cli(env, "apikeys", "create", "m@example.org", "--scope", "images").strip()
        port = _port()
        server = subprocess.Popen(
            [CLI, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.2)
            idle = _peak_kib(server.pid)
            statuses: list[int] = []
            lock = threading.Lock()

            def client() -> None:
                with httpx.Client(timeout=600) as http:
                    for _ in range(per_client):
                        answer = http.post(
                            f"{base}/v1.0/removebg",
                            headers={"X-Api-Key": key},
                            files={"image_file": ("p.jpg", photo, "image/jpeg")},
                        )
                        with lock:
                            statuses.append(answer.status_code)

            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - started
            peak = _peak_kib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "tune_allocator": tune,
        "clients": clients,
        "images": len(statuses),
        "ok": statuses.count(200),
        "seconds": round(seconds, 1),
        "idle_rss_mib": round(idle / 1024),
        "peak_rss_mib": round(peak / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=3)
    parser.add_argument("--size", default="1600x1067", help="image size, WxH")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    photo = _photo(width, height)
    for _ in range(args.repeat):
        for tune in (True, False):
            print(json.dumps(run(tune, args.clients, args.per_client, photo)), flush=True)


if __name__ == "__main__":
    main()
