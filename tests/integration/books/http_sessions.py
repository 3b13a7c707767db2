# FOPNP (2nd edition), chapter 9 "HTTP": the chapter's interactive sessions, in the
# book's order, as one Python 3 script against zoo-http. The book talks to
# www.ietf.org, www.python.org, forecast.weather.gov, www.google.com and
# news.google.com; here every URL is on ZOO_HTTP (default http://127.0.0.1:8000),
# and the documents are zoo-http's (/html for rfc2616.txt, /get for /about/).
# Python 3 names: urllib2 -> urllib.request, urllib.urlencode -> urllib.parse.urlencode
# (with .encode(), since a POST body is bytes), httplib -> http.client, cookielib ->
# http.cookiejar, StringIO -> io.BytesIO. The Basic auth realm is httpbin's
# 'Fake Realm' (the book's is 'voetbal', the realm of its example site).
import gzip, http.client, http.cookiejar, io, os, sys
import urllib.parse, urllib.request
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verbose_http import VerboseHTTPHandler

base = os.environ.get('ZOO_HTTP', 'http://127.0.0.1:8000')
host, port = urlsplit(base).hostname, urlsplit(base).port

print('== The GET method and the Host header')
opener = urllib.request.build_opener(VerboseHTTPHandler)
info = opener.open(base + '/html')
print(info.code)
print(info.msg)
print(sorted(k.lower() for k in info.headers.keys()))
print(info.headers['Content-Type'])
print(info.read().strip().decode().splitlines()[0])

print('== Payloads and persistent connections')
c = http.client.HTTPConnection(host, port)
c.request('GET', '/')
original_sock = c.sock
content = c.getresponse().read() # get the whole page
c.request('GET', '/get')
print(c.sock is original_sock)
c.getresponse().read()

c = http.client.HTTPConnection(host, port)
c.request('GET', '/', headers={'Connection': 'close'})
original_sock = c.sock
content = c.getresponse().read()
c.request('GET', '/get')
print(c.sock is original_sock)
c.getresponse().read()

print('== POST and forms')
form = urllib.parse.urlencode({'inputstring': 'Atlanta, GA'})
response = opener.open(base + '/zipcity.php', form.encode())
print(response.code, response.geturl().replace(base, ''))

print('== Identifying user agents')
url = base + '/user-agent'
print(urllib.request.urlopen(url).read().decode().strip())
agent = 'Mozilla/5.0 (Windows; U; MSIE 7.0; Windows NT 6.0; en-US)'
request = urllib.request.Request(url)
request.add_header('User-Agent', agent)
print(urllib.request.urlopen(request).read().decode().strip())

print('== Compression')
request = urllib.request.Request(base + '/gzip')
request.add_header('Accept-Encoding', 'gzip')
request.add_header('User-Agent', 'Mozilla/5.0')
info = opener.open(request)
print(info.headers['Content-Encoding'] == 'gzip')
print(gzip.GzipFile(fileobj=io.BytesIO(info.read())).read().decode().count('"gzipped": true'))

print('== The HEAD method')
class HeadRequest(urllib.request.Request):
    def get_method(self):
        return 'HEAD'

info = urllib.request.urlopen(HeadRequest(base + '/html'))
print(repr(info.read()))

print('== HTTP authentication')
auth_handler = urllib.request.HTTPBasicAuthHandler()
auth_handler.add_password(realm='Fake Realm', uri=base + '/',
                          user='guido', passwd='van0ranje!')
auth_opener = urllib.request.build_opener(auth_handler)
print(auth_opener.open(base + '/basic-auth/guido/van0ranje!').read().decode().strip())
try:
    urllib.request.urlopen(base + '/basic-auth/guido/van0ranje!')
except urllib.error.HTTPError as e:
    print(e.code, e.msg)

print('== Cookies')
cj = http.cookiejar.CookieJar()
cookie_opener = urllib.request.build_opener(VerboseHTTPHandler,
    urllib.request.HTTPCookieProcessor(cj))
response = cookie_opener.open(base + '/cookies/set?PREF=ID%3D94381994af6d5c77')
print(sorted(cookie.name for cookie in cj))
print(response.read().decode().strip())
