# Serve your own functions over XML-RPC and JSON-RPC with the zoo's options and
# policies, beside the books' server.
#
#     twistd -ny docs/examples/xmlrpc-own-functions.tac
#     python3 -c "import xmlrpc.client as x; print(x.ServerProxy('http://127.0.0.1:7003').greet('you'))"
from twisted.application import service

import zoo
from zoo.tap import xmlrpc as xmlrpc_tap
from zoo.xmlrpc import Methods, make_site

application = service.Application("rpc")
root = zoo.root(application)

# 1. The books' server, exactly as `twistd zoo-xmlrpc --port 7002` runs it.
options = xmlrpc_tap.Options()
options.parseOptions(["--port", "7002"])
xmlrpc_tap.makeService(options).setServiceParent(root)

# 2. A server of your own functions.
methods = Methods()


@methods.register
def greet(name):
    """Say hello to name."""
    return f"Hello, {name}"


@methods.register(name="math.hypot")
def hypot(a, b):
    """The hypotenuse of a right triangle with sides a and b."""
    return (a * a + b * b) ** 0.5


options = xmlrpc_tap.Options()
options.parseOptions(["--port", "7003", "--max-body", "65536"])
zoo.serve(root, options, make_site(methods, max_body=options["max-body"]))
