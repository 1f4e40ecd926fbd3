# The pyroute2 side of bench/tc.ts: add, list and delete N htb classes on a
# device of the network namespace this process runs in (`ip netns exec`),
# printing the seconds each phase took as JSON.
import json
import sys
import time

from pyroute2 import IPRoute

dev, count, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ipr = IPRoute()
idx = ipr.link_lookup(ifname=dev)[0]
results = []
for _ in range(rounds):
    ipr.tc("add", "htb", idx, 0x10000)
    t0 = time.perf_counter()
    for i in range(count):
        ipr.tc("add-class", "htb", idx, 0x10000 | (i + 1), parent=0x10000, rate="1mbit")
    t1 = time.perf_counter()
    classes = ipr.get_classes(index=idx)
    t2 = time.perf_counter()
    for i in range(count):
        ipr.tc("del-class", "htb", idx, 0x10000 | (i + 1))
    t3 = time.perf_counter()
    ipr.tc("del", "htb", idx, 0x10000)
    if len(classes) != count:
        raise SystemExit(f"listed {len(classes)} classes, expected {count}")
    results.append({"add": t1 - t0, "list": t2 - t1, "delete": t3 - t2})
ipr.close()
print(json.dumps(results))
