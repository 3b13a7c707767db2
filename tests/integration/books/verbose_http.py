# FOPNP (2nd edition) verbose_http.py, Listing 9-1, ported to Python 3: httplib is
# http.client, urllib2 is urllib.request, StringIO is io.BytesIO, and the bytes on
# the wire are decoded for print(). Otherwise as printed: it shows each request and
# the head of each response.
import io, http.client, urllib.request

class VerboseHTTPResponse(http.client.HTTPResponse):
    def _read_status(self):
        s = self.fp.read()
        print('-' * 20, 'Response', '-' * 20)
        print(s.split(b'\r\n\r\n')[0].decode('latin-1'))
        self.fp = io.BytesIO(s)
        return http.client.HTTPResponse._read_status(self)

class VerboseHTTPConnection(http.client.HTTPConnection):
    response_class = VerboseHTTPResponse
    def send(self, s):
        print('-' * 50)
        print(s.strip().decode('latin-1'))
        http.client.HTTPConnection.send(self, s)

class VerboseHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(VerboseHTTPConnection, req)
