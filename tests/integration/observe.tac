"""A zoo-smtp and a zoo-ftp observed with transcripts; the hub's events are dumped at stop.

Used by test_observe.py: ZOO_READY names the ready file, ZOO_DUMP where the events go
(JSON, one object per event) when twistd stops. A test-only window on the hub until
the control plane serves it.
"""

import json
import os

from twisted.application import service

from zoo.events import hub
from zoo.tap import ftp, smtp
from zoo.tap._service import ZooRoot


class DumpEvents(service.Service):
    def stopService(self):
        with open(os.environ["ZOO_DUMP"], "w") as f:
            json.dump([e.to_json() for e in hub.events()], f)
        return service.Service.stopService(self)


application = service.Application("zoo-observe-test")
hub.enable(transcripts=True)
root = ZooRoot(ready_file=os.environ["ZOO_READY"])
state = os.environ["ZOO_STATE_DIR"]
for module, args in (
    (smtp, ["--port", "0", "--state-dir", state]),
    (ftp, ["--port", "0", "--state-dir", state, "--user", "alice:hunter2"]),
):
    options = module.Options()
    options.parseOptions(args)
    module.makeService(options).setServiceParent(root)
root.setServiceParent(application)
DumpEvents().setServiceParent(application)
