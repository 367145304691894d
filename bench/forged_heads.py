"""Forged heads against a running fleet (issue #28): driven by
bench/forged_heads.sh, which starts nats-server and three nodes.

A writer to NATS forges a head every INTERVAL seconds for DURATION seconds,
of every kind in turn: a real earlier version's head (its body and snapshot
real, their sha256 right) renumbered above the fleet's and unsealed, the
same keeping the old seal, the old head replayed as it was, a value that is
not JSON, a forged rollback, and a head for a list no node configures.
Meanwhile a prober calls every node from a number that only the real
versions block (608), and halfway through a real push goes through node 2.
Printed: probes answered 608 (the real list), 302 (a forged list served),
unanswered; the real push's answer and seconds; the version every node ends
on.  Usage: python forged_heads.py DURATION INTERVAL
"""
import asyncio, json, socket, sys, threading, time, urllib.request

import nats

DURATION, INTERVAL = float(sys.argv[1]), float(sys.argv[2])
TOKEN = "example-ops-token"
PROBE = "+31970000000123"   # in versions 3 and 4 only
SEED = "+31201234567,tech-support-scam,NOC-2026-0001\n+31852081234,microsoft-helpdesk-scam,NOC-2026-0002\n"


def body(version, probe):
    lines = [f"# callscreen list v1 name=scam-origins version={version}\n", SEED]
    lines += [f"+3197000{i:07d}\n" for i in range(1000, 2000)]
    if probe:
        lines.append(f"{PROBE}\n")
    if version >= 4:
        lines.append("+31970000000456\n")
    return "".join(lines).encode()


def api(node, method, path, data=None):
    r = urllib.request.Request(f"http://127.0.0.1:{18080 + node}{path}", data=data, method=method,
                               headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def serving(node):
    _, b = api(node, "GET", "/v1/lists")
    return next(l["version"] for l in json.loads(b)["lists"] if l["name"] == "scam-origins")


def push(node, version, probe):
    t0 = time.time()
    code, b = api(node, "PUT", "/v1/lists/scam-origins?allow_shrink=true", body(version, probe))
    return code, time.time() - t0, b


def wait_all(version, limit=60):
    t0 = time.time()
    while time.time() - t0 < limit:
        if all(serving(i) == version for i in (1, 2, 3)):
            return time.time() - t0
        time.sleep(0.05)
    sys.exit(f"not every node serves version {version} after {limit} s: {[serving(i) for i in (1, 2, 3)]}")


class Prober(threading.Thread):
    """Calls every node in turn from PROBE, every 10 ms, until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.codes, self.n = False, {}, 0
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.5)

    def ask(self, node):
        self.n += 1
        port, cid = self.s.getsockname()[1], f"forged-probe-{time.time_ns()}-{self.n}"
        msg = (f"INVITE sip:+31201234599@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{cid}\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:{PROBE}@example.net>;tag={self.n}\r\nTo: <sip:+31201234599@127.0.0.1>\r\n"
               f"Call-ID: {cid}\r\nX-Ingress-Trunk: kpn\r\nCSeq: 1 INVITE\r\nContact: <sip:{PROBE}@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n")
        self.s.sendto(msg.encode(), ("127.0.0.1", 15060 + node * 10))
        try:
            while True:
                r = self.s.recv(65535).decode(errors="replace")
                if cid in r:
                    return r.split(" ", 2)[1]
        except socket.timeout:
            return "none"

    def run(self):
        while not self.stop:
            for node in (1, 2, 3):
                c = self.ask(node)
                self.codes[(node, c)] = self.codes.get((node, c), 0) + 1
            time.sleep(0.01)


async def main():
    nc = await nats.connect("nats://127.0.0.1:14222")
    kv = await nc.jetstream().key_value("callscreen-heads")
    code, _, b = push(1, 2, False)
    assert code == 200, (code, b)
    wait_all(2)
    head2 = (await kv.get("scam-origins")).value
    code, _, b = push(1, 3, True)
    assert code == 200, (code, b)
    wait_all(3)
    real = json.loads((await kv.get("scam-origins")).value)
    old = json.loads(head2)

    def renumbered(k, seal):
        h = dict(old, version=100 + k, seq=real.get("seq", 0) + 1000 + k, node="intruder")
        if not seal:
            h.pop("seal", None)
        return json.dumps(h).encode()

    kinds = [
        ("renumbered, unsealed", lambda k: ("scam-origins", renumbered(k, False))),
        ("renumbered, old seal", lambda k: ("scam-origins", renumbered(k, True))),
        ("replayed as it was", lambda k: ("scam-origins", head2)),
        ("not JSON", lambda k: ("scam-origins", b"this is not a head")),
        ("forged rollback", lambda k: ("scam-origins", json.dumps(dict(old, rollback_of=real["version"], seq=real.get("seq", 0) + 5000 + k)).encode())),
        ("a list not configured", lambda k: ("not-configured-here", json.dumps(dict(old, list="not-configured-here")).encode())),
    ]
    prober = Prober()
    prober.start()
    t0, k, pushed, forged = time.time(), 0, None, {}
    while time.time() - t0 < DURATION:
        name, make = kinds[k % len(kinds)]
        key, value = make(k)
        await kv.put(key, value)
        forged[name] = forged.get(name, 0) + 1
        k += 1
        if pushed is None and time.time() - t0 >= DURATION / 2:
            # A real push while the head in the bucket is a forgery.
            code, secs, b = await asyncio.to_thread(push, 2, 4, True)
            conv = await asyncio.to_thread(wait_all, 4) if code == 200 else None
            pushed = (code, secs, conv, b[:200])
        await asyncio.sleep(INTERVAL)
    prober.stop = True
    prober.join()
    await nc.close()
    print(f"forgeries={k} " + " ".join(f"[{n}]={c}" for n, c in forged.items()))
    for node in (1, 2, 3):
        got = {c: n for (i, c), n in prober.codes.items() if i == node}
        print(f"node-{node} probes={sum(got.values())} blocked_608={got.get('608', 0)} "
              f"forged_list_served_302={got.get('302', 0)} unanswered={got.get('none', 0)} "
              f"other={sum(n for c, n in got.items() if c not in ('608', '302', 'none'))} serving_version={serving(node)}")
    code, secs, conv, b = pushed
    print(f"real_push_during_attack http={code} answered_s={secs:.3f} all_nodes_s={conv if conv is None else round(conv, 3)}")
    if code != 200:
        print(b)

asyncio.run(main())
