"""Benchmark zoo-ssh against OpenSSH's sshd on loopback, in the same run.

Measures, with OpenSSH's own clients (pinned to CPU 1; servers pinned to CPU 0):

- SFTP download and upload throughput of one large file (``sftp -b``, to /dev/null and
  from a page-cached file), login included;
- ``ssh HOST true`` round trips per second: sequential, each a new connection with key
  exchange, public-key authentication and one exec.

Servers: zoo-ssh (twistd) and a private ``sshd`` (own config, host key and port in a
temporary folder; needs root, as sshd does). The sshd runs are repeated with the client
forced to zoo's cipher and MAC (aes128-ctr + hmac-sha2-256) for a like-for-like figure.
Rounds are interleaved; medians are reported with ratios against sshd and the client's
CPU use (user+system of the client processes / wall time).

    sudo .venv/bin/python bench/ssh.py [--size-mib 512] [--rounds 3] [--exec-seconds 5]

Standard library only. The machine is shared and noisy: read the ratios, not the digits.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import harness

CLIENT_CPU = harness.LOADGEN_CPU  # servers run on harness.SERVER_CPU
SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
LIKE_ZOO = ["-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha2-256"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process and its reaped children (sshd's per-connection processes).

    harness.cpu_ticks counts the process alone, which misses all of sshd's work.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / harness.CLOCK_TICKS


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Target:
    """A running server (harness.RunningServer) and how its clients connect."""

    name: str
    running: harness.RunningServer
    client_opts: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def pid(self) -> int:
        return self.running.pid


def start_zoo(tmp: Path, pub: Path, user: str) -> harness.RunningServer:
    root = tmp / "zoo-roots"
    (root / user).mkdir(parents=True)
    os.link(tmp / "big.bin", root / user / "big.bin")
    server = harness.twistd_plugin(
        "zoo-ssh", "zoo-ssh", "--port", "0", "--root", str(root),
        "--authorized-keys", f"{user}:{pub}",
    )  # fmt: skip
    server = replace(server, env={**server.env, "ZOO_STATE_DIR": str(tmp / "zoo-state")})
    return harness.RunningServer(server, "ssh-zoo")


def start_sshd(tmp: Path, pub: Path) -> harness.RunningServer:
    port = free_port()
    key = tmp / "sshd_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile none\n"
        f"AuthorizedKeysFile {pub}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        f"PermitRootLogin prohibit-password\nSubsystem sftp {SFTP_SERVER}\n"
        "MaxStartups 100\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation folder
    server = harness.Server("sshd", [SSHD, "-D", "-e", "-f", str(config)], port=port)
    return harness.RunningServer(server, "ssh-sshd")


def client_opts(server: Target, key: Path, tmp: Path) -> list[str]:
    return [
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", f"UserKnownHostsFile={tmp / 'known_hosts'}", "-o", "LogLevel=ERROR",
        "-o", "IdentitiesOnly=yes", "-i", str(key), *server.client_opts,
    ]  # fmt: skip


def timed(argv: list[str], input: bytes | None = None) -> tuple[float, float]:
    """Run a client pinned to CLIENT_CPU: (wall seconds, client CPU seconds)."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    r = subprocess.run(harness.pinned(CLIENT_CPU, argv), input=input, capture_output=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.decode(errors='replace')}")
    return wall, cpu


def sftp_run(
    server: Target, key: Path, tmp: Path, batch: str, user: str
) -> tuple[float, float, float]:
    argv = [
        "sftp",
        *client_opts(server, key, tmp),
        "-P",
        str(server.port),
        "-b",
        "-",
        f"{user}@127.0.0.1",
    ]
    cpu0 = proc_cpu(server.pid)
    wall, cpu = timed(argv, batch.encode())
    return wall, cpu, proc_cpu(server.pid) - cpu0


def measure(server: Target, key: Path, tmp: Path, user: str, size: int, seconds: float) -> dict:
    out: dict[str, float] = {}
    remote = "big.bin" if server.name.startswith("zoo") else str(tmp / "big.bin")
    upload = "up.bin" if server.name.startswith("zoo") else str(tmp / "up.bin")
    for label, batch in (
        ("get", f"get {remote} /dev/null\n"),
        ("put", f"put {tmp / 'big.bin'} {upload}\n"),
    ):
        wall, cpu, server_cpu = sftp_run(server, key, tmp, batch, user)
        out[f"{label} MB/s"] = size / wall / 1e6
        out[f"{label} client CPU"] = cpu / wall
        out[f"{label} server CPU"] = server_cpu / wall
    argv = [
        "ssh",
        *client_opts(server, key, tmp),
        "-p",
        str(server.port),
        f"{user}@127.0.0.1",
        "true",
    ]
    n, cpu_total, server0 = 0, 0.0, proc_cpu(server.pid)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        cpu_total += timed(argv)[1]
        n += 1
    wall = time.perf_counter() - start
    out["exec/s"] = n / wall
    out["exec client CPU"] = cpu_total / wall
    out["exec server CPU"] = (proc_cpu(server.pid) - server0) / wall
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--exec-seconds", type=float, default=5.0)
    parser.add_argument(
        "--json", help="also write the medians and every round here ({medians, runs})"
    )
    args = parser.parse_args()
    for tool in ("ssh", "sftp", "ssh-keygen", "taskset", SSHD):
        if not shutil.which(tool):
            raise SystemExit(
                f"{tool} not found: apt-get install openssh-client openssh-server util-linux"
            )
    user = getpass.getuser()
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="zoo-bench-ssh-") as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)
        key = tmp / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        pub = key.with_suffix(".pub")
        with open(tmp / "big.bin", "wb") as f:
            block = os.urandom(1024 * 1024)
            for _ in range(args.size_mib):
                f.write(block)
        zoo_proc, sshd_proc = start_zoo(tmp, pub, user), start_sshd(tmp, pub)
        sshd = Target("OpenSSH sshd", sshd_proc)
        sshd_like = Target("OpenSSH sshd, aes128-ctr + hmac-sha2-256", sshd_proc, LIKE_ZOO)
        zoo = Target("zoo-ssh (twistd)", zoo_proc)
        servers = [sshd, sshd_like, zoo]
        results: dict[str, list[dict]] = {s.name: [] for s in servers}
        try:
            for round_ in range(args.rounds):
                for s in servers:
                    results[s.name].append(measure(s, key, tmp, user, size, args.exec_seconds))
                    print(f"round {round_ + 1} {s.name}: {results[s.name][-1]}", file=sys.stderr)
        finally:
            zoo_proc.stop()
            sshd_proc.stop()
    medians = {
        name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        for name, rounds in results.items()
    }
    base = medians[sshd.name]
    print("\n" + harness.environment_note())
    print(
        f"\n{args.rounds} interleaved rounds, medians; {args.size_mib} MiB file; "
        f"ratio = server / OpenSSH sshd (default algorithms)\n"
    )
    print(
        "| server | sftp get MB/s | client CPU | sftp put MB/s | client CPU | ssh true/s | client CPU |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, m in medians.items():
        cells = [name]
        for k in ("get MB/s", "put MB/s", "exec/s"):
            cpu_key = k.split()[0].removesuffix("/s") + " client CPU"
            cells.append(f"{m[k]:,.1f} ({m[k] / base[k]:.2f})")
            cells.append(f"{m[cpu_key] * 100:.0f}%")
        print("| " + " | ".join(cells) + " |")
    print(
        "\nserver CPU (share of one core): "
        + "; ".join(
            f"{n}: get {m['get server CPU'] * 100:.0f}%, put {m['put server CPU'] * 100:.0f}%, "
            f"exec {m['exec server CPU'] * 100:.0f}%"
            for n, m in medians.items()
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"medians": medians, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
