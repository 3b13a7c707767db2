# Two Lancelot servers in one process: the 2nd edition's answers on 1060 and the
# 3rd edition's Zen-of-Python aphorisms on 1061.
#
#     twistd -ny docs/examples/lancelot-pair.tac
#
# compose() parses each line exactly as `twistd zoo --with '...'` does, with the
# plugins' own Options and makeService, so everything a plugin accepts works here.
from twisted.application import service

from zoo import compose

application = service.Application("lancelot-pair")
compose(application, [
    "lancelot --port 1060",
    "lancelot --port 1061 --book zen",
])
