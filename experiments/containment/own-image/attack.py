"""Containment attack: an image of its own that tries to override the sandbox's configuration.

The Dockerfile beside this file asks for USER root, a shell ENTRYPOINT that leaves a marker in /output,
WORKDIR /opt/attack, its own CRUCIBLE_OUTPUT and PYTHONPATH, and labels of another run. The sandbox
configuration must win: this program checks from inside which settings took effect, then tries to write
through the image's files (root-owned and its own) to the read-only root. Reports to techniques.jsonl.
"""
import os
import sys
import time

from crucible_attack import attempt, finish

CAT = "privilege"
started = time.monotonic()


def user():
    uid, gid = os.getuid(), os.getgid()
    return ("succeeded" if uid == 0 else "blocked", f"runs as uid {uid}, gid {gid} (the image asked for USER root)")


def entrypoint():
    marker = "/output/entrypoint-marker"
    return ("succeeded", f"{marker} exists: the image's ENTRYPOINT ran") if os.path.exists(marker) else ("blocked", "no marker: the image's ENTRYPOINT shell did not run")


def workdir():
    cwd = os.getcwd()
    return ("contained" if cwd == "/opt/attack" else "blocked", f"working directory {cwd} (the image asked for /opt/attack)")


def output_redirect():
    value = os.environ.get("CRUCIBLE_OUTPUT")
    return ("succeeded" if value != "/output" else "blocked", f"CRUCIBLE_OUTPUT={value} (the image set /tmp/not-the-output)")


def python_path():
    try:
        import crucible_attack_probe  # noqa: F401  (only importable through the image's PYTHONPATH)
        # The image's environment is the program's own business inside the sandbox: contained, not an escape.
        return ("contained", "the image's PYTHONPATH reached the program (inside the sandbox only)")
    except ImportError:
        return ("blocked", "the image's PYTHONPATH did not reach the program")


def write_root_owned():
    with open("/opt/attack/attack.py", "a") as f:
        f.write("# changed\n")
    return ("succeeded", "appended to the image's root-owned /opt/attack/attack.py")


def write_own_folder():
    path = "/opt/attack/shadow/written-by-the-sandbox"
    with open(path, "w") as f:
        f.write("x" * 1024 * 1024)
    return ("succeeded", f"wrote 1 MiB to {path} in the image's own folder (the root filesystem should be read-only)")


attempt(CAT, "image-user-root", user)
attempt(CAT, "image-entrypoint", entrypoint)
attempt(CAT, "image-workdir", workdir)
attempt(CAT, "image-output-redirect", output_redirect)
attempt(CAT, "image-pythonpath", python_path)
# Writing through the image's files is an attempt on the filesystem, whatever the image asked for.
attempt("filesystem", "image-write-root-owned-file", write_root_owned)
attempt("filesystem", "image-write-own-folder", write_own_folder)
finish("own-image", started)
sys.exit(0)
