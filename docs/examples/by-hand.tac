# The same composition without compose(): build each plugin's Options, parse
# them, and attach what makeService returns. Useful when a .tac adds services
# of its own beside the zoo's.
#
#     twistd -ny docs/examples/by-hand.tac
import os

from twisted.application import service

from zoo.tap import lancelot
from zoo.tap._service import ZooRoot

application = service.Application("by-hand")
root = ZooRoot(ready_file=os.environ.get("ZOO_READY_FILE"), table=True)
root.setServiceParent(application)

for args in (["--port", "1070"], ["--port", "1071", "--book", "zen", "--idle-timeout", "30"]):
    options = lancelot.Options()
    options.parseOptions(args)
    lancelot.makeService(options).setServiceParent(root)
