"""Hostile: prints 8 MiB on every model, then ends its worker (so that every model starts a
new one); the logs must stay within the run's caps, cut with a marker."""
import os
import sys


def complexity(model, dataset, model_id):
    line = ("flood " * 170 + "\n").encode()
    for _ in range((8 << 20) // len(line)):
        sys.stdout.buffer.write(line)
    sys.stdout.flush()
    os._exit(7)
