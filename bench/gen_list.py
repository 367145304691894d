#!/usr/bin/env python3
"""A scam-origins list of N random Dutch mobile and geographic numbers
(version 2, seeded, so every run pushes the same list) on stdout:
    python3 bench/gen_list.py N > list.txt"""
import random
import sys

n = int(sys.argv[1])
r = random.Random(42)
out = sys.stdout
out.write("# callscreen list v1 name=scam-origins version=2\n")
for _ in range(n):
    out.write("+316%08d\n" % r.randrange(100_000_000) if r.random() < .5 else "+31%09d\n" % (100_000_000 + r.randrange(500_000_000)))
