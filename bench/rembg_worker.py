"""Runs inside ``bench/.venv-rembg`` (rembg is not a dependency of ClearCutout).

A tiny line protocol on stdin/stdout, one JSON object per line, so the benchmark can
alternate between our engine and rembg in one run without paying rembg's start-up per
image:

- ``{"cmd": "masks", "paths": [...], "out": DIR}`` → rembg's mask (``only_mask=True``,
  its defaults otherwise) written as ``DIR/NAME.png``; answers ``{"ok": true}``.
- ``{"cmd": "time", "path": P, "reps": N}`` → N timings of ``rembg.remove(bytes)``
  (bytes in, PNG bytes out); answers ``{"seconds": [...]}``.
- ``{"cmd": "rss"}`` → this process's peak RSS in KiB.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    model = sys.argv[1]
    model_path = sys.argv[2] if len(sys.argv) > 2 else ""
    from PIL import Image
    from rembg import new_session, remove

    # u2net/u2netp: rembg finds MODEL.onnx in U2NET_HOME (md5-checked); anything else
    # goes through rembg's generic ISNet session, pointed at our file.
    session = new_session("dis_custom", model_path=model_path) if model_path else new_session(model)
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request["cmd"]
        if cmd == "masks":
            out = Path(request["out"])
            for path in request["paths"]:
                with Image.open(path) as image:
                    mask = remove(image.convert("RGB"), session=session, only_mask=True)
                mask.save(out / (Path(path).stem + ".png"))
            reply: dict[str, object] = {"ok": True}
        elif cmd == "time":
            data = Path(request["path"]).read_bytes()
            seconds = []
            for _ in range(int(request["reps"])):
                started = time.perf_counter()
                remove(data, session=session)
                seconds.append(time.perf_counter() - started)
            reply = {"seconds": seconds}
        elif cmd == "rss":
            reply = {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        else:
            reply = {"error": f"unknown command {cmd}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
