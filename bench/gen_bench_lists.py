#!/usr/bin/env python3
"""The lists bench/run.sh screens with, the same for callscreen and Kamailio:
N numbers (bench/gen_list.py's, seeded) and 1 000 prefixes (+3110999000* to
+3110999999*: ten Rotterdam numbers each), written as
  DIR/scam-origins.txt  callscreen's list file (version VERSION)
  DIR/kamailio.db       SQLite: the numbers for htable, the prefixes for mtree
  DIR/listed.txt        1 000 listed callers (numbers and numbers under a prefix)
  DIR/sample.txt        listed, prefixed and clean callers with the verdict due
    python3 bench/gen_bench_lists.py N DIR [VERSION] [--no-db]"""
import os
import random
import sqlite3
import sys

n = int(sys.argv[1])
d = sys.argv[2]
version = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 2
no_db = "--no-db" in sys.argv
r = random.Random(42)
os.makedirs(d, exist_ok=True)
prefixes = ["+3110999%03d" % i for i in range(1000)]
numbers = []
with open(os.path.join(d, "scam-origins.txt"), "w") as f:
    f.write("# callscreen list v1 name=scam-origins version=%d\n" % version)
    for _ in range(n):
        num = "+316%08d" % r.randrange(100_000_000) if r.random() < .5 else "+31%09d" % (100_000_000 + r.randrange(500_000_000))
        numbers.append(num)
        f.write(num + "\n")
    for p in prefixes:
        f.write(p + "*\n")
with open(os.path.join(d, "listed.txt"), "w") as f:
    for i in range(900):
        f.write(numbers[(i * 7919) % len(numbers)] + "\n")
    for i in range(100):
        f.write(prefixes[(i * 37) % 1000] + "%d\n" % (i % 10))
with open(os.path.join(d, "sample.txt"), "w") as f:
    for i in range(100):
        f.write(numbers[(i * 104729) % len(numbers)] + " reject\n")
    for i in range(50):
        f.write(prefixes[(i * 13) % 1000] + "%d reject\n" % (i % 10))
    listed = set(numbers)
    for i in range(50):
        c = "+4420%08d" % (i * 7919)
        assert c not in listed
        f.write(c + " allow\n")
if not no_db:
    path = os.path.join(d, "kamailio.db")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE version (table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL);
        INSERT INTO version VALUES ('blocklist', 2), ('mtree', 1);
        CREATE TABLE blocklist (id INTEGER PRIMARY KEY NOT NULL, key_name VARCHAR(64) DEFAULT '' NOT NULL,
            key_type INTEGER DEFAULT 0 NOT NULL, value_type INTEGER DEFAULT 0 NOT NULL,
            key_value VARCHAR(128) DEFAULT '' NOT NULL, expires INTEGER DEFAULT 0 NOT NULL);
        CREATE TABLE mtree (id INTEGER PRIMARY KEY NOT NULL, tprefix VARCHAR(32) DEFAULT '' NOT NULL,
            tvalue VARCHAR(128) DEFAULT '' NOT NULL);
    """)
    db.executemany("INSERT INTO blocklist (key_name, key_value) VALUES (?, 'scam')", ((x,) for x in numbers))
    db.executemany("INSERT INTO mtree (tprefix, tvalue) VALUES (?, 'scam')", ((p,) for p in prefixes))
    db.commit()
    db.close()
