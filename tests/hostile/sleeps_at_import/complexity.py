"""Hostile: sleeps at import time for much longer than any time limit."""
import time

time.sleep(3600)


def complexity(model, dataset):
    return 0.0
