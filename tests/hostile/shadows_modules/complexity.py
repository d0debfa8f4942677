"""Hostile: ships modules named like ones Python and the worker import before the submission
(``harness``, ``argparse``, ``sitecustomize``, ``encodings``, ...): each would leave a marker in
/tmp if it ever ran. The measure returns a bit mask of what it finds wrong with its own
privileges (0 when the sandbox holds):

1 a shadow module ran; 2 running as root; 4 a capability (any set, bounding included);
8 no no_new_privs; 16 no seccomp filter; 32 /proc/sys writable; 64 supplementary groups;
128 the current folder or the submission first on sys.path; 256 no process limit
(checked by the test only when the harness runs as root).
"""
import glob
import os
import resource
import sys


def _status():
    with open("/proc/self/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def complexity(model, dataset, program_dir):
    problems = 0
    if glob.glob("/tmp/shadow-ran-*") or glob.glob(os.path.join(program_dir, "shadow-ran-*")):
        problems |= 1
    if os.getuid() == 0 or os.geteuid() == 0:
        problems |= 2
    status = _status()
    if any(int(status[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
        problems |= 4
    if status.get("NoNewPrivs") != "1":
        problems |= 8
    if status.get("Seccomp") != "2":
        problems |= 16
    for knob in ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"):
        try:
            with open(knob, "w"):
                problems |= 32
        except OSError:
            pass
    if os.getgroups():
        problems |= 64
    first = [p for p in sys.path[:3]]
    if "" in first or os.getcwd() in first or program_dir in first:
        problems |= 128
    if resource.getrlimit(resource.RLIMIT_NPROC)[1] == resource.RLIM_INFINITY:
        problems |= 256
    if problems:
        print("hostile shadows_modules:", problems, status.get("Uid"), sys.path)
    return float(problems)
