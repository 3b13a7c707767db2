"""imaptest's stress rate (commands/s) against zoo-imap and against Dovecot, on one Maildir.

    python bench/imap.py                          # 10 clients, 60 s each, zoo then dovecot
    python bench/imap.py --secs 10 --clients 5 --rounds 3 --out imap.md
    python bench/imap.py --check                  # start and stop both servers, one login each

Each server serves the same Maildir, one after the other: the zoo's state dir's
C{mail/bench@example.com} (INBOX and Maildir++ folders, as zoo-smtp delivers). Dovecot is
Debian's dovecot-imapd, started privately: its own config, base and state dirs in a
temporary directory, a loopback port, no system service touched; it is stopped by its
PID. As root it drops to Debian's dovecot/dovenull users (and owns the Maildir while it
runs); otherwise it runs as the calling user. zoo-imap runs under twistd with
C{--accept-any-login}. The server is pinned to CPU 0 and imaptest to CPU 1 (taskset).

imaptest (built by scripts/imaptest-build) runs its default stress mix (SELECT,
FETCH, STORE, SEARCH, APPEND, COPY, EXPUNGE, ... with state tracking) with C{clients}
connections for C{secs} seconds; the rate is the commands it counted per second. Its
error lines are counted and reported: a server with errors has no valid figure.
"""

from __future__ import annotations

import argparse
import getpass
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
USER = "bench@example.com"
PASSWORD = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {deadline} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server by its PID: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if shutil.which("taskset") else argv


@contextmanager
def zoo_imap(state: Path) -> Iterator[int]:
    """zoo-imap on a free loopback port over C{state}/mail."""
    port = free_port()
    twistd = str(Path(sys.executable).parent / "twistd")
    argv = [twistd, "-n", "--pidfile=", "zoo-imap", "--port", str(port), "--state-dir", str(state)]
    argv += ["--accept-any-login", "--allow-plaintext-auth", "--transcripts", "off"]
    log = open(state / "zoo-imap.log", "wb")
    proc = subprocess.Popen(pinned("0", argv), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc)
        yield port
    finally:
        stop(proc)
        log.close()


DOVECOT_CONF = """\
base_dir = {run}
state_dir = {run}/state
log_path = {run}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{maildir}
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
first_valid_gid = {gid}
{user_line}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  {chroot}
}}
service anvil {{
  {chroot}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
"""


@contextmanager
def dovecot(maildir: Path, tmp: Path) -> Iterator[int]:
    """Debian's Dovecot, private: own config and dirs under C{tmp}, a loopback port."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        raise SystemExit("dovecot not found: install dovecot-imapd (.ci/apt/imap.txt)")
    port = free_port()
    run = tmp / "dovecot" / "run"  # Dovecot links base_dir/dovecot.conf to the config
    (run / "state").mkdir(parents=True, exist_ok=True)
    root = os.getuid() == 0
    me = getpass.getuser()
    owner = pwd.getpwnam("dovecot") if root else pwd.getpwnam(me)
    if root:  # Dovecot will not run mail processes as root: give the Maildir to its user
        for p in [maildir, *maildir.rglob("*")]:
            os.chown(p, owner.pw_uid, owner.pw_gid)
        for parent in maildir.parents:  # the bench's own temporary dirs: let it through
            if parent == tmp.parent:
                break
            os.chmod(parent, 0o711)
    conf = tmp / "dovecot" / "private.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            run=run,
            maildir=maildir,
            internal="dovecot" if root else me,
            login="dovenull" if root else me,
            user_line="" if root else f"default_user = {me}",
            port=port,
            chroot="" if root else "chroot =",
            password=PASSWORD,
            uid=owner.pw_uid,
            gid=owner.pw_gid,
            home=maildir.parent,
        )
    )
    proc = subprocess.Popen(
        pinned("0", [binary, "-F", "-c", str(conf)]),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "dovecot" / "stderr.log", "wb"),
    )
    try:
        wait_port(port, proc)
        yield port
    finally:
        stop(proc)
        if root:
            for p in [maildir, *maildir.rglob("*")]:
                os.chown(p, 0, 0)


def imaptest_binary(given: str | None) -> Path:
    if given:
        return Path(given)
    done = subprocess.run(
        [str(REPO / "scripts" / "imaptest-build")], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"imaptest could not be built:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def stress(imaptest: Path, port: int, clients: int, secs: int) -> tuple[float, int, str]:
    """Run imaptest's default mix; return (commands/s, error lines, its output)."""
    mbox = imaptest.parent.parent / "tests" / "default.mbox"
    argv = [str(imaptest), "host=127.0.0.1", f"port={port}", f"user={USER}"]
    argv += [f"pass={PASSWORD}", f"mbox={mbox}", f"clients={clients}", f"secs={secs}"]
    done = subprocess.run(pinned("1", argv), capture_output=True, text=True, timeout=secs + 120)
    out = done.stdout + done.stderr
    errors = sum(1 for line in out.splitlines() if "Error:" in line)
    return commands_per_second(out, secs), errors, out


def commands_per_second(out: str, secs: int) -> float:
    """imaptest prints a header of command names and, each second, a row of counts.

    The total line (after the run) repeats the header with the totals; the rate is
    the sum of the total counts over the run's seconds.
    """
    lines = [ln for ln in out.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].lstrip().startswith("Totals:"):
            # Totals:, the command names, one or two rows of percentages, the counts.
            for row in lines[i + 2 :]:
                if "%" not in row and re.fullmatch(r"[\d\s]+", row.strip()):
                    return sum(int(x) for x in row.split()) / secs
            return 0.0
    rows = [ln for ln in lines if re.fullmatch(r"[\d\s/%]+", ln.strip())]
    counts = [sum(int(x) for x in re.findall(r"\d+", r.split("/")[0])) for r in rows]
    return sum(counts) / secs if counts else 0.0


def seed(state: Path) -> Path:
    """The bench user's Maildir (INBOX) with a few messages, as zoo-smtp would leave it."""
    sys.path.insert(0, str(REPO))
    from zoo.mail.maildir import MaildirStore, mailbox_name

    store = MaildirStore(state / "mail", fsync=False)
    name = mailbox_name(USER)
    for i in range(20):
        store.write([name], b"From: a@x\r\nSubject: seed %d\r\n\r\nbody %d\r\n" % (i, i))
    return store.path(name)


def check(state: Path, tmp: Path) -> None:
    """Start each server, log in, select INBOX, append once, stop it."""
    maildir = seed(state)
    for name, server in (
        ("zoo", lambda: zoo_imap(state)),
        ("dovecot", lambda: dovecot(maildir, tmp)),
    ):
        with server() as port:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            c.login(USER, PASSWORD)
            typ, data = c.select("INBOX")
            c.append("INBOX", None, None, b"Subject: check\r\n\r\nx\r\n")
            typ2, found = c.search(None, "SUBJECT", "check")
            c.logout()
            print(
                f"{name}: port {port}, INBOX {data[0].decode()} messages, SEARCH found {found[0].decode()}"
            )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--secs", type=int, default=60)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--servers", default="zoo,dovecot")
    p.add_argument("--imaptest", help="the imaptest binary (default: scripts/imaptest-build)")
    p.add_argument("--out", help="write the Markdown table here too")
    p.add_argument("--check", action="store_true", help="only start, use and stop each server")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zoo-bench-imap-"))
    os.chmod(tmp, 0o755)  # Dovecot's own users reach its base dir
    state = tmp / "state"
    state.mkdir(mode=0o700)
    try:
        if args.check:
            check(state, tmp)
            return
        imaptest = imaptest_binary(args.imaptest)
        maildir = seed(state)
        servers = {"zoo": lambda: zoo_imap(state), "dovecot": lambda: dovecot(maildir, tmp)}
        rates: dict[str, list[float]] = {s: [] for s in args.servers.split(",")}
        for _ in range(args.rounds):
            for name in rates:
                with servers[name]() as port:
                    rate, errors, out = stress(imaptest, port, args.clients, args.secs)
                (tmp / f"{name}.out").write_text(out)
                print(f"{name}: {rate:.0f} commands/s, {errors} error lines", flush=True)
                for line in [ln for ln in out.splitlines() if "Error:" in ln][:5]:
                    print(f"  {name}: {line.strip()}", file=sys.stderr, flush=True)
                rates[name].append(rate if errors == 0 else float("nan"))
        table = ["| server | commands/s (median) | vs dovecot |", "|---|---:|---:|"]
        base = statistics.median(rates["dovecot"]) if rates.get("dovecot") else None
        for name, values in rates.items():
            median = statistics.median(values)
            ratio = f"{median / base:.2f}" if base else "-"
            table.append(f"| {name} | {median:.0f} | {ratio} |")
        note = (
            f"imaptest default mix, {args.clients} clients, {args.secs} s, {args.rounds} round(s)"
        )
        text = note + "\n\n" + "\n".join(table) + "\n"
        print(text)
        if args.out:
            Path(args.out).write_text(text)
    finally:
        if os.environ.get("ZOO_BENCH_KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
