"""The public surface: exported names, the composition API and the reactor it leaves alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from twisted.application.service import Application, IServiceCollection, MultiService
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

import zoo
import zoo.service
import zoo.testing
from zoo.tap import all as runner
from zoo.tap import lancelot as lancelot_tap
from zoo.tap._service import ListenerGroup, ZooRoot, build

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


class ExportTests(SynchronousTestCase):
    def test_exported_names(self) -> None:
        """The public modules export exactly these names, and each one resolves."""
        expected = {
            zoo: ["Bound", "ZooRoot", "__version__", "compose", "root", "run", "serve"],
            zoo.service: ["Bound", "ZooRoot", "compose", "root", "serve"],
            zoo.testing: [
                "End",
                "Network",
                "TLSPair",
                "TWISTD",
                "TwistdError",
                "TwistdProcess",
                "Wire",
                "connected",
                "dev_ca",
                "issue",
                "run_twistd",
                "tls_pair",
            ],
        }
        for module, names in expected.items():
            self.assertEqual(sorted(module.__all__), names, module.__name__)
            for name in names:
                self.assertIsNotNone(getattr(module, name), f"{module.__name__}.{name}")

    def test_top_level_is_the_service_module(self) -> None:
        """zoo.compose and friends are the very objects zoo.service defines."""
        self.assertIs(zoo.compose, zoo.service.compose)
        self.assertIs(zoo.ZooRoot, zoo.service.ZooRoot)
        with self.assertRaises(AttributeError):
            zoo.no_such_name  # noqa: B018

    def test_import_zoo_is_light(self) -> None:
        """Importing zoo loads neither the composition API nor a reactor."""
        code = (
            "import sys, zoo, zoo.echo; "
            "print(sorted(m for m in ('zoo.service', 'twisted.internet.reactor') "
            "if m in sys.modules))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "[]", out.stderr)

    def test_examples_use_public_names_only(self) -> None:
        """No example .tac imports a private zoo module (zoo._x or zoo.tap._x)."""
        tacs = sorted(EXAMPLES.glob("*.tac"))
        self.assertTrue(tacs)
        for tac in tacs:
            private = re.findall(r"^\s*(?:from|import) (zoo[\w.]*\._\w+)", tac.read_text(), re.M)
            self.assertEqual(private, [], tac.name)


def _tuned(reactor: EPollReactor) -> bool:
    """Whether the reactor's poll loop was replaced on the instance."""
    return "doPoll" in vars(reactor)


def _root_with_group(root: ZooRoot, reactor: object) -> ZooRoot:
    ListenerGroup("demo", Factory.forProtocol(Protocol), reactor=reactor).setServiceParent(root)
    return root


class ComposeTests(SynchronousTestCase):
    def test_build_returns_the_root(self) -> None:
        """build() returns the ZooRoot itself, outermost, holding the plugin's listeners."""
        options = lancelot_tap.Options()
        options.parseOptions(["--port", "1060"])
        root = build(options, Factory.forProtocol(Protocol), reactor=MemoryReactorClock())
        self.assertIsInstance(root, ZooRoot)
        self.assertIsNone(root.parent)
        self.assertTrue(root.outermost)

    def test_outermost_looks_through_plain_services(self) -> None:
        """A root under a plain MultiService under a root is not the outermost."""
        top = ZooRoot()
        middle = MultiService()
        middle.setServiceParent(top)
        inner = ZooRoot()
        inner.setServiceParent(middle)
        self.assertTrue(top.outermost)
        self.assertFalse(inner.outermost)

    def test_compose_attaches_parsed_services(self) -> None:
        """compose() parses each spec with its plugin's options and attaches one root."""
        application = Application("test")
        made = zoo.compose(application, ["lancelot --port 1060", "echo --port 7007 --upper"])
        self.assertEqual(list(IServiceCollection(application)), [made])
        self.assertEqual([type(s) for s in made], [ZooRoot, ZooRoot])
        self.assertFalse(any(s.outermost for s in made))
        self.assertFalse(made.lean_poll)

    def test_compose_ready_file_from_environment(self) -> None:
        """compose() and root() default the ready file to $ZOO_READY_FILE."""
        self.patch(os, "environ", {**os.environ, "ZOO_READY_FILE": "/tmp/x.json"})
        self.assertEqual(zoo.root().ready_file, "/tmp/x.json")
        self.assertEqual(zoo.root(ready_file="/tmp/y.json").ready_file, "/tmp/y.json")

    def test_user_root_leaves_reactor_alone(self) -> None:
        """A .tac's root leaves its reactor's poll loop alone, even around a plugin's root."""
        reactor = EPollReactor()
        outer = zoo.root(table=False)
        _root_with_group(ZooRoot(lean_poll=True), reactor).setServiceParent(outer)
        outer.privilegedStartService()
        self.assertFalse(_tuned(reactor))

    def test_lean_poll_when_asked(self) -> None:
        """root(lean_poll=True) gives Twisted's epoll reactor the lean poll loop."""
        env = {k: v for k, v in os.environ.items() if k != "ZOO_TWISTED_POLL"}
        self.patch(os, "environ", env)  # no opt-out from the caller's environment
        reactor = EPollReactor()
        _root_with_group(zoo.root(table=False, lean_poll=True), reactor).privilegedStartService()
        self.assertTrue(_tuned(reactor))

    def test_runner_asks_for_the_lean_loop(self) -> None:
        """The twistd zoo runner's root asks for the lean poll loop; compose's does not."""
        options = runner.Options()
        options.parseOptions(["--with", "lancelot --port 1060"])
        self.assertTrue(runner.makeService(options).lean_poll)
        self.assertFalse(zoo.compose(Application("t"), ["lancelot --port 1060"]).lean_poll)

    def test_serve_twice_with_one_options_class(self) -> None:
        """serve() with the same plugin options twice under one root listens twice."""
        reactor = MemoryReactorClock()
        made = zoo.root(table=False)
        for port in ("1070", "1071"):
            options = lancelot_tap.Options()
            options.parseOptions(["--port", port])
            zoo.serve(made, options, Factory.forProtocol(Protocol), reactor=reactor)
        made.privilegedStartService()
        self.assertEqual([p for p, *_ in reactor.tcpServers], [1070, 1071])
        self.assertEqual([b.service for b in made.bound()], ["lancelot", "lancelot"])
