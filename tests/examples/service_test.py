#!/usr/bin/env python3
"""End-to-end checks of examples/service: ringload-service over its Unix socket (load, tensor,
list, stats, cancel, unload, errors, shutdown) and a one-repeat service-bench run.

Usage: service_test.py BUILD_DIR FIXTURES_DIR
Prints one line "service: N passed, M failed" last; exits non-zero on any failure."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

build, fixtures = sys.argv[1], sys.argv[2]
service_bin = os.path.join(build, "examples/service/ringload-service")
bench_bin = os.path.join(build, "examples/service/service-bench")
ringload = os.path.join(build, "tools/ringload/ringload")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name} {detail}", file=sys.stderr)


class Connection:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(60)  # a hang fails the check instead of CI
        self.sock.connect(path)
        self.file = self.sock.makefile("rw")

    def request(self, line):
        self.file.write(line + "\n")
        self.file.flush()
        return json.loads(self.file.readline())


def inspect(path):
    return json.loads(subprocess.run([ringload, "inspect", "--json", path], check=True,
                                     capture_output=True, text=True).stdout)


work = tempfile.mkdtemp(prefix="ringload-service-test.")
sock_path = os.path.join(work, "service.sock")
service = subprocess.Popen([service_bin, "--socket", sock_path], stderr=subprocess.DEVNULL)
for _ in range(500):
    if os.path.exists(sock_path):
        break
    time.sleep(0.02)
conn = Connection(sock_path)

fixture = os.path.join(fixtures, "ollama-llama-2-tiny-random.gguf")
have_fixture = os.path.exists(fixture)
model = os.path.join(work, "gen.safetensors")
subprocess.run([ringload, "gen", "-q", "--format", "safetensors", "--size", "8MiB", "--tensors", "24", model],
               check=True)
for path in [fixture, model] if have_fixture else [model]:
    want = inspect(path)
    r = conn.request(f'load m "{path}"')
    check(f"load {os.path.basename(path)}", r.get("ok") and r["tensors"] == len(want["tensors"])
          and r["bytes"] == sum(t["size"] for t in want["tensors"]) and r["mode"] == "async", r)
    first = want["tensors"][0]
    r = conn.request(f'tensor m {first["name"]}')
    check("tensor: waits for and describes a loaded tensor", r.get("ok") and r["bytes"] == first["size"]
          and r["dtype"] == first["dtype"] and r["shape"] == first["shape"] and r["on_device"] is False, r)
    r = conn.request("list")
    check("list: one ready model", r.get("ok") and [m["state"] for m in r["models"]] == ["ready"], r)
    r = conn.request("unload m")
    check("unload", r.get("ok") and r["unloaded"] == "m", r)

r = conn.request(f'load b "{model}" mode=blocking')
check("blocking mode runs the mmap baseline", r.get("ok") and r["strategy"] == "mmap" and r["mode"] == "blocking", r)
r = conn.request(f'load b "{model}"')
check("a second model under the same name is refused", not r["ok"] and r["kind"] == "invalid_argument"
      and "'b'" in r["error"], r)
r = conn.request("tensor b no.such.tensor")
check("an unknown tensor is not_found", not r["ok"] and r["kind"] == "not_found" and "no.such.tensor" in r["error"], r)
conn.request("unload b")

missing = os.path.join(work, "absent.safetensors")
r = conn.request(f'load x "{missing}"')
check("a missing file is not_found, named", not r["ok"] and r["kind"] == "not_found" and missing in r["error"], r)
bad = os.path.join(fixtures, "malformed", "ollama-test-truncated-6B.gguf")
if os.path.exists(bad):
    r = conn.request(f'load x "{bad}"')
    check("a corrupt header is an error naming the file", not r["ok"] and bad in r["error"]
          and r["kind"] not in ("cancelled", "invalid_argument"), r)
r = conn.request("load x")
check("a malformed request says how to use it", not r["ok"] and "usage" in r["error"], r)
r = conn.request("frobnicate")
check("an unknown command lists the commands", not r["ok"] and "unload NAME" in r["error"], r)
r = conn.request(f'load x "{model}" sink=floppy')
check("an unknown sink is invalid_argument", not r["ok"] and r["kind"] == "invalid_argument", r)
r = conn.request("list")
check("failed loads leave no model behind", r.get("ok") and r["models"] == [], r)

# Cancel from a second connection while the first waits for its load. Whichever wins the race,
# the two answers must agree: a cancelled load answers "cancelled", an unfinished cancel none.
big = os.path.join(work, "big.safetensors")
subprocess.run([ringload, "gen", "-q", "--format", "safetensors", "--size", "256MiB", big], check=True)
result = {}
loader = threading.Thread(target=lambda: result.update(conn.request(f'load big "{big}" sink=null')))
loader.start()
other = Connection(sock_path)
deadline = time.time() + 30
while time.time() < deadline:
    listed = other.request("list")["models"]
    if listed:
        break
cancelled = other.request("cancel big")
loader.join(60)
if cancelled.get("ok"):
    check("cancel: the load answers cancelled", not result.get("ok") and result.get("kind") == "cancelled", result)
else:
    check("cancel too late: the load had finished", result.get("ok") and "not loading" in cancelled["error"],
          (cancelled, result))
names = [m["name"] for m in other.request("list")["models"]]
check("a cancelled load leaves no model, a finished one stays", names == ([] if cancelled.get("ok") else ["big"]),
      names)
other.request("unload big")

r = conn.request("stats")
# At most one ring for the whole service; none at all when every load was a warm one into host
# memory (mmap-pipelined then copies page cache straight to the model, without staging).
check("stats: timer and loader figures", r.get("ok") and r["timer"]["ticks"] > 0 and r["timer"]["period_us"] == 1000
      and r["loader"]["rings_created"] <= 1 and r["loader"]["loads_in_flight"] == 0
      and (r["loader"]["rings_created"] == 1) == (r["loader"]["staging_bytes"] > 0), r)
r = conn.request("shutdown")
check("shutdown answers", r.get("ok"), r)
try:
    code = service.wait(20)
except subprocess.TimeoutExpired:
    service.kill()
    code = "hung"
check("the service exits 0 after shutdown", code == 0, code)
check("the socket file is removed", not os.path.exists(sock_path))

bench_json = os.path.join(work, "bench.json")
bench = subprocess.run([bench_bin, model, "--repeat", "1", "--idle-s", "0.2", "--json", bench_json],
                       capture_output=True, text=True, timeout=300)
check("service-bench runs", bench.returncode == 0, bench.stderr[-2000:])
if bench.returncode == 0:
    doc = json.load(open(bench_json))
    modes = [run["mode"] for run in doc["runs"]]
    check("service-bench: both modes, lateness figures", sorted(modes) == ["async", "blocking"]
          and all(run["timer"]["ticks"] >= 0 and "p99_us" in run["timer"] for run in doc["runs"])
          and doc["summary"]["blocking"]["strategy"] == "mmap", doc.get("summary"))
    check("service-bench prints the table", "target p99 < 1000 us" in bench.stdout, bench.stdout[-1000:])

subprocess.run(["rm", "-rf", work])
print(f"service: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
