# The same composition without compose(): build each plugin's Options, parse
# them, and attach what makeService returns to a zoo root. Useful when a .tac
# adds services of its own beside the zoo's.
#
#     twistd -ny docs/examples/by-hand.tac
from twisted.application import service

import zoo
from zoo.tap import lancelot

application = service.Application("by-hand")
root = zoo.root(application)

for args in (["--port", "1070"], ["--port", "1071", "--book", "zen", "--idle-timeout", "30"]):
    options = lancelot.Options()
    options.parseOptions(args)
    lancelot.makeService(options).setServiceParent(root)
