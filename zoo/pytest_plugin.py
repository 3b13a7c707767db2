"""The pytest plugin: a fixture per zoo service, reset before each test, no Docker.

Registered through the C{pytest11} entry point, so installing zoo is enough. A
test asks for a service by its fixture and gets a L{zoo.launch.Service}::

    def test_invoice_is_mailed(zoo_smtp):
        send_invoice(host=zoo_smtp.host, port=zoo_smtp.port)
        message = zoo_smtp.wait_for_message(to="alice@example.com", timeout=5)
        assert "Invoice" in message["subject"]

How it works (see docs/testing-with-zoo.rst):

- one zoo per test session (per xdist worker: each starts its own, on port 0,
  with its own state directory), started at the first test that uses a fixture
  and holding every service the collected tests ask for: the C{zoo_*} fixtures
  they use, the C{zoo_services} ini option and the C{zoo} marker's names;
- tests whose C{zoo} marker gives service options or TLS get a zoo of their own,
  shared by every test asking for the same;
- each C{zoo_*} fixture resets its service (events, stored mail, files) before the
  test; the C{zoo} fixture resets the whole zoo;
- faults set with a handle's C{fault(SPEC)} (docs/faults.rst) are deleted when the
  test ends;
- a failing test's report has a section with the transcripts of the sessions its
  services saw.

Nothing starts, and nothing but the standard library and pytest is imported, until
a test uses a fixture: the plugin costs nothing to a suite that does not use it.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from zoo.launch import Service, Zoo

#: The per-service fixtures and the service each one is.
FIXTURES: dict[str, str] = {
    "zoo_smtp": "smtp",
    "zoo_pop3": "pop3",
    "zoo_imap": "imap",
    "zoo_ftp": "ftp",
    "zoo_sftp": "ssh",
    "zoo_pubsub": "pubsub",
    "zoo_xmlrpc": "xmlrpc",
    "zoo_tls": "tls",
    "zoo_lancelot": "lancelot",
    "zoo_echo": "echo",
    "zoo_blocks": "blocks",
    "zoo_time": "time",
    "zoo_exercises": "exercises",
    "zoo_dns": "dns",
    "zoo_http": "http",
    "zoo_telnet": "telnet",
    "zoo_memcached": "memcached",
}
#: Sessions shown per failing test, and characters shown per session.
REPORT_SESSIONS = 12
REPORT_CHARS = 4000
#: The report section's title.
SECTION = "zoo transcripts"

_MARKER_HELP = (
    "zoo(*services, tls=(), **options): start these zoo services too; per service, "
    "its plugin options (smtp='--require-auth'); tls: services served over TLS. "
    "Tests with options or TLS get a zoo of their own."
)

#: A zoo's configuration: per service its options (sorted), and the TLS services.
Key = tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]

_zoos_key = pytest.StashKey["Zoos"]()
_used_key = pytest.StashKey[list["Service"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "zoo_services",
        "zoo services every zoo starts, whatever the tests ask for (space separated)",
        type="args",
        default=[],
    )
    parser.addini(
        "zoo_options",
        "zoo service options, one 'NAME OPTIONS' per line (smtp --require-auth)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "zoo_tls",
        "zoo services served over TLS from the first byte (space separated)",
        type="args",
        default=[],
    )
    parser.addini("zoo_timeout", "seconds to wait for a zoo to start (default 30)", default="30")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    config.stash[_zoos_key] = Zoos(config)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    zoos = config.stash[_zoos_key]
    for item in items:
        zoos.plan(item)


# -- configuration ------------------------------------------------------------------------


def _options(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    raise pytest.UsageError(f"{where}: options must be a string or a list, not {value!r}")


def _names(value: Any, where: str) -> set[str]:
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, Iterable):
        return {str(v) for v in value}
    raise pytest.UsageError(f"{where}: give service names, not {value!r}")


class Zoos:
    """The zoos of one test session (of one xdist worker): planned at collection,
    started on first use, stopped at the end.

    A zoo is keyed by its configuration (service options and TLS); its services are
    the union of what the tests with that configuration ask for.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.always = set(config.getini("zoo_services"))
        self.base_options: dict[str, tuple[str, ...]] = {}
        for line in config.getini("zoo_options"):
            words = shlex.split(line)
            if words:
                self.base_options[words[0]] = self.base_options.get(words[0], ()) + tuple(words[1:])
        self.base_tls = set(config.getini("zoo_tls"))
        self.timeout = float(config.getini("zoo_timeout"))
        self.planned: dict[Key, set[str]] = {}
        self.running: dict[Key, list[Zoo]] = {}
        self.failed: dict[Key, str] = {}
        self.workdirs: Any = None

    def configuration(self, item: pytest.Item) -> tuple[Key, set[str]]:
        """The zoo configuration the item's markers ask for, and the services they name."""
        options = dict(self.base_options)
        tls = set(self.base_tls)
        services = set(self.always)
        # iter_markers gives the closest first: apply it last, so a function's marker
        # wins over its module's.
        for marker in reversed(list(item.iter_markers("zoo"))):
            where = f"{item.nodeid}: @pytest.mark.zoo"
            for arg in marker.args:
                services |= _names(arg, where)
            for name, value in marker.kwargs.items():
                if name == "tls":
                    named = _names(value, where)
                    tls |= named
                    services |= named
                elif name == "services":
                    services |= _names(value, where)
                else:
                    options[name] = _options(value, f"{where}({name}=...)")
                    services.add(name)
        key: Key = (tuple(sorted(options.items())), tuple(sorted(tls)))
        return key, services

    def plan(self, item: pytest.Item) -> None:
        used = [FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURES]
        if not used and "zoo" not in getattr(item, "fixturenames", ()):
            return
        key, services = self.configuration(item)
        self.planned.setdefault(key, set()).update(services, used)

    def zoo(self, item: pytest.Item, service: str | None) -> Zoo:
        """The started zoo for this item that runs C{service} (any, if C{None}).

        The first zoo of a configuration runs every service planned for it. A
        service that was not planned (asked with C{request.getfixturevalue}) gets
        a zoo of its own beside it, so the handles a test already holds stay good.
        """
        key, services = self.configuration(item)
        planned = self.planned.setdefault(key, set())
        planned |= services
        started = self.running.setdefault(key, [])
        if not started:
            wanted = planned | ({service} if service else set())
            if not wanted:
                raise pytest.UsageError(
                    "the zoo fixture needs services: name them in the zoo_services ini "
                    "option or in @pytest.mark.zoo('smtp', ...), or use a zoo_* fixture"
                )
            started.append(self._start(key, wanted))
        if service is None:
            return started[0]
        for made in started:
            if service in made.services:
                return made
        made = self._start(key, {service})
        started.append(made)
        return made

    def _start(self, key: Key, wanted: set[str]) -> Zoo:
        from zoo.launch import Zoo

        if key in self.failed:  # fail at once, not after a start timeout per test
            pytest.fail(self.failed[key], pytrace=False)
        # The ini's options and TLS apply to the services started, and start none.
        options = {k: v for k, v in key[0] if k in wanted}
        tls = [name for name in key[1] if name in wanted]
        workdir = self.workdirs.mktemp("zoo", numbered=True)
        made = Zoo(sorted(wanted), options, tls=tls, workdir=workdir, timeout=self.timeout)
        try:
            made.start()
        except Exception as e:
            self.failed[key] = f"zoo did not start: {e}"
            pytest.fail(self.failed[key], pytrace=False)
        return made

    def stop(self) -> None:
        for started in self.running.values():
            for made in started:
                made.stop()
        self.running.clear()


@pytest.fixture(scope="session")
def zoo_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Generator[Zoos, None, None]:
    """The session's zoos (started lazily by the fixtures, stopped at the end)."""
    zoos = request.config.stash[_zoos_key]
    zoos.workdirs = tmp_path_factory
    yield zoos
    zoos.stop()


def _handle(request: pytest.FixtureRequest, zoos: Zoos, service: str) -> Service:
    handle = zoos.zoo(request.node, service).service(service)
    handle.reset()
    request.node.stash.setdefault(_used_key, []).append(handle)
    request.addfinalizer(handle.clear_faults)  # faults set with handle.fault() end with the test
    return handle


@pytest.fixture
def zoo(request: pytest.FixtureRequest, zoo_session: Zoos) -> Zoo:
    """This test's zoo, every service reset (C{zoo.smtp}, C{zoo["ftp"]}, C{zoo.api})."""
    made = zoo_session.zoo(request.node, None)
    made.reset()
    handles = [made.service(n) for n in made.services]
    request.node.stash.setdefault(_used_key, []).extend(handles)
    for handle in handles:
        request.addfinalizer(handle.clear_faults)
    return made


def _fixture(name: str, service: str) -> Any:
    def fixture(request: pytest.FixtureRequest, zoo_session: Zoos) -> Service:
        return _handle(request, zoo_session, service)

    fixture.__name__ = name
    fixture.__doc__ = f"zoo's {service} service, reset before the test (a zoo.launch.Service)."
    return pytest.fixture(name=name)(fixture)


zoo_smtp = _fixture("zoo_smtp", "smtp")
zoo_pop3 = _fixture("zoo_pop3", "pop3")
zoo_imap = _fixture("zoo_imap", "imap")
zoo_ftp = _fixture("zoo_ftp", "ftp")
zoo_sftp = _fixture("zoo_sftp", "ssh")
zoo_pubsub = _fixture("zoo_pubsub", "pubsub")
zoo_xmlrpc = _fixture("zoo_xmlrpc", "xmlrpc")
zoo_tls = _fixture("zoo_tls", "tls")
zoo_lancelot = _fixture("zoo_lancelot", "lancelot")
zoo_echo = _fixture("zoo_echo", "echo")
zoo_blocks = _fixture("zoo_blocks", "blocks")
zoo_time = _fixture("zoo_time", "time")
zoo_exercises = _fixture("zoo_exercises", "exercises")
zoo_dns = _fixture("zoo_dns", "dns")
zoo_http = _fixture("zoo_http", "http")
zoo_telnet = _fixture("zoo_telnet", "telnet")
zoo_memcached = _fixture("zoo_memcached", "memcached")


# -- the failure report -------------------------------------------------------------------


def _clip(text: str, most: int = REPORT_CHARS) -> str:
    if len(text) <= most:
        return text
    half = most // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n... {cut} characters not shown ...\n{text[-half:]}"


def transcripts(handles: Iterable[Service]) -> str:
    """The transcripts of every session the services of C{handles} saw since their reset."""
    names: dict[str, Service] = {}
    for handle in handles:
        for name in handle.resets:
            names.setdefault(name, handle)
    if not names:
        return ""
    seen: list[tuple[Service, dict[str, Any]]] = []
    for name, handle in names.items():
        seen += [(handle, s) for s in handle.api.sessions(name)]
    seen.sort(key=lambda pair: pair[1].get("opened") or 0.0)
    parts = []
    if len(seen) > REPORT_SESSIONS:
        parts.append(f"({len(seen) - REPORT_SESSIONS} earlier sessions not shown)")
        seen = seen[-REPORT_SESSIONS:]
    for handle, record in seen:
        parts.append(_clip(handle.api.transcript_text(record["id"])))
    if not seen:
        parts.append(f"no sessions on {', '.join(names)} during the test")
    log = next(iter(names.values())).zoo.log_path
    if log is not None:
        parts.append(f"(the zoo's log: {log})")
    return "\n".join(parts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("call", "teardown"):
        handles = item.stash.get(_used_key, [])
        if handles:
            try:
                text = transcripts(handles)
            except Exception as e:  # the zoo may be what failed
                text = f"(no transcripts: the control plane did not answer: {e})"
            if text:
                report.sections.append((SECTION, text))
    return report
