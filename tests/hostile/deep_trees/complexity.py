"""Hostile: leaves folder chains 5,000 levels deep (names too long for any path) in its own
writable folder (model 0) and in /tmp (model 1), and a symbolic link to /etc/passwd and a
FIFO in its folder; the run must go on and clean up after it.
"""
import os


def _chain(base, depth=5000):
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


def complexity(model, dataset, program_dir, model_id):
    if model_id == "0":
        _chain(program_dir)
        os.symlink("/etc/passwd", os.path.join(program_dir, "passwd-link"))
        os.mkfifo(os.path.join(program_dir, "fifo"))
    elif model_id == "1":
        os.mkdir("/tmp/deep")
        _chain("/tmp/deep")
    return float(len(model.layers))
