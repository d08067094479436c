"""Runs a snippet in a fresh interpreter (clean RSS, fds and threads; signals of its own) and
returns what it printed as JSON on its last line."""

import json
import os
import subprocess
import sys
import textwrap

from conftest import BUILD

PRELUDE = """
import gc, json, os, sys, threading, time
import torch, numpy
import ringload, ringload.torch, ringload.numpy

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

def fds():
    return sorted(os.listdir("/proc/self/fd"))

def threads():
    return len(os.listdir("/proc/self/task"))

def maps_naming(path):
    return [line for line in open("/proc/self/maps") if line.rstrip().endswith(path)]
"""


def run(snippet, timeout=300, **env):
    code = PRELUDE + textwrap.dedent(snippet)
    environment = dict(os.environ, PYTHONPATH=str(BUILD / "python"), **{k: str(v) for k, v in env.items()})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=environment)
    assert done.returncode == 0, f"child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])
