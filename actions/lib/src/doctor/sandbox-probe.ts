/**
 * Programs the doctor runs inside a real sandbox (the base image's Python, as the unprivileged sandbox
 * user). Each prints one JSON line per finding, so what was seen before a kill still arrives.
 */

/** Kernel, network, writable paths and the process limit. `argv[1]` is the nproc limit the sandbox was given. */
export const PROBE_PROGRAM = String.raw`
import errno, json, os, socket, subprocess, sys, time

def say(**kv):
    print(json.dumps(kv), flush=True)

try:
    dmesg = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=20).stdout
except Exception as e:
    dmesg = "dmesg failed: %s" % e
say(kernel={"release": os.uname().release, "dmesg": dmesg.splitlines()[:3]})

with open("/proc/net/dev") as f:
    interfaces = sorted(line.split(":")[0].strip() for line in f.read().splitlines()[2:] if ":" in line)
attempts = {}
for name, family, kind, address in [("tcp 192.0.2.1:80", socket.AF_INET, socket.SOCK_STREAM, ("192.0.2.1", 80)),
                                    ("udp 1.1.1.1:53", socket.AF_INET, socket.SOCK_DGRAM, ("1.1.1.1", 53))]:
    s = socket.socket(family, kind)
    s.settimeout(3)
    try:
        if kind == socket.SOCK_STREAM:
            s.connect(address)
        else:
            s.sendto(b"x", address)
        attempts[name] = "reached"
    except OSError as e:
        attempts[name] = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
say(network={"interfaces": interfaces, "attempts": attempts})

with open("/proc/mounts") as f:
    mounts = [line.split()[:3] for line in f if len(line.split()) >= 3]
candidates = sorted({m[1] for m in mounts} | {"/", "/etc", "/root", "/var/tmp", "/usr", "/experiment", "/output", "/tmp", "/dev/shm"})
writable = []
for path in candidates:
    if path.startswith(("/proc", "/sys")) or not os.path.isdir(path):
        continue
    probe = os.path.join(path, "doctor-probe" if path == "/output" else ".crucible-doctor-%d" % os.getpid())
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.write(fd, b"probe")
        os.close(fd)
        fstype = next((m[2] for m in mounts if m[1] == path), "?")
        writable.append({"path": path, "fstype": fstype})
        if path != "/output":
            os.unlink(probe)
    except OSError:
        pass
say(writable=writable)

limit = int(sys.argv[1])
children, error = [], None
for _ in range(limit * 4):
    try:
        pid = os.fork()
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e))
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
say(processes={"forked": len(children), "error": error})
`;

/** Allocates (and touches) memory in steps up to `argv[1]` MiB, saying how far it got after each step. */
export const MEMORY_PROGRAM = String.raw`
import json, sys
target, step, held = int(sys.argv[1]), 16, []
while len(held) * step < target:
    held.append(bytearray(b"x") * (step * 1024 * 1024))
    print(json.dumps({"allocatedMiB": len(held) * step}), flush=True)
print(json.dumps({"done": True}), flush=True)
`;
