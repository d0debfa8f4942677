"""Hostile: try to reach a server on the host's loopback (port in port.txt), by TCP and UDP.

Returns the number of attempts that got through (0 when the sandbox holds).
"""
import os
import socket


def complexity(model, dataset, program_dir, model_id):
    if model_id != "1":
        return float(len(model.layers))
    with open(os.path.join(program_dir, "port.txt")) as fh:
        port = int(fh.read())
    reached = 0
    for host in ("127.0.0.1", "localhost", socket.gethostname()):
        try:
            with socket.create_connection((host, port), timeout=2) as conn:
                conn.sendall(b"hostile submission was here\n")
                reached += 1
        except OSError as exc:
            print("tcp", host, exc)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(b"hostile", (host, port))  # "succeeds" even when nothing receives it:
                # the test's server on the host records whatever arrives
        except OSError as exc:
            print("udp", host, exc)
    return float(reached)
