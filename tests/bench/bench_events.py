#!/usr/bin/env python3
"""bench_events.py N PATH: the benchmarks' JSON-lines input (bench_file.sh,
bench_checkpoint.sh, bench_expr.sh): N events of ~85 bytes over 10,000
users, 1,000 events per second of event time, up to 50 ms of disorder;
seeded, so every run and every script reads the same events."""
import random
import sys

n, path = int(sys.argv[1]), sys.argv[2]
random.seed(7)
base = 1700000000000
with open(path, "w") as f:
    for i in range(n):
        f.write('{"user":"u%d","amount":%d,"ts":%d,"region":"eu-west","item":"sku-%04d"}\n'
                % (random.randrange(10000), random.randrange(1000), base + i // 1000 - random.randrange(50),
                   random.randrange(10000)))
