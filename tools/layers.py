#!/usr/bin/env python3
"""The code's arrows point down only: a file includes its own folder's
headers and those of lower layers, never a layer above or beside it.

    apdu/ < drivers/ < daemon/ (base) < daemon/losslist/, daemon/outbox/, daemon/metrics/
          < daemon/readers/ < daemon/kiosk/ < daemon/web/ < daemon/ (front)

The front is sscardd.c (main, the loop's wiring) and control.c/.h (the
control socket, which serves every capability's verbs); every other file
at daemon/'s top is the base that all capabilities share. losslist/ and
outbox/ are one layer: neither may include the other; metrics/ (the
/metrics server) is on it too, and the front gives it what to say. Prints each upward
or sideways include with file and line; exit 1 if there is one."""
import os
import re
import sys

FRONT = {"daemon/sscardd.c", "daemon/control.c", "daemon/control.h"}
LAYER = {"apdu": 0, "drivers": 1, "daemon": 2, "daemon/losslist": 3, "daemon/outbox": 3,
         "daemon/metrics": 3, "daemon/readers": 4, "daemon/kiosk": 5, "daemon/web": 6, "front": 7}


def room(path):
    if path in FRONT:
        return "front"
    d = os.path.dirname(path)
    return d if d in LAYER else None


def main(root):
    bad = 0
    for top in ("apdu", "drivers", "daemon"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                src = room(path)
                if src is None:
                    print("%s: not in any layer (tools/layers.py lists the rooms)" % path)
                    bad += 1
                    continue
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                        if not m:
                            continue
                        dst = room(m.group(1))
                        if dst is None:
                            print('%s:%d: includes "%s", outside apdu/, drivers/ and daemon/'
                                  % (path, n, m.group(1)))
                            bad += 1
                        elif dst != src and LAYER[dst] >= LAYER[src]:
                            how = "beside" if LAYER[dst] == LAYER[src] else "above"
                            print('%s:%d: includes "%s", a layer %s it (%s → %s)'
                                  % (path, n, m.group(1), how, src, dst))
                            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
