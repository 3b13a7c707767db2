"""zoo-http's fixed documents: the sample HTML, XML and JSON, forms, robots.txt, images.

The shapes follow httpbin's (a slideshow in JSON and XML, an HTML page, a form
that posts to C{/post}); the words are the zoo's own.
"""

from __future__ import annotations

import struct
import zlib

ROBOTS = b"User-agent: *\nDisallow: /deny\n"

DENY = b"""
      .-----.
     / x   x \\
    |    ^    |     This page is listed in /robots.txt as off limits.
     \\  ---  /      A polite robot would not have come here.
      '-----'
"""

SLIDESHOW = {
    "slideshow": {
        "author": "The zoo",
        "date": "date of publication",
        "slides": [
            {"title": "Hello, Lancelot", "type": "all"},
            {
                "items": [
                    "Why <em>every</em> book's client needs a server",
                    "Who <em>runs</em> the zoo",
                ],
                "title": "A tour",
                "type": "all",
            },
        ],
        "title": "Sample Slide Show",
    }
}

XML = b"""<?xml version='1.0' encoding='us-ascii'?>

<!--  A sample slide show, in XML  -->

<slideshow
    title="Sample Slide Show"
    date="date of publication"
    author="The zoo"
    >

    <!-- TITLE SLIDE -->
    <slide type="all">
      <title>Hello, Lancelot</title>
    </slide>

    <!-- TOUR -->
    <slide type="all">
        <title>A tour</title>
        <item>Why <em>every</em> book's client needs a server</item>
        <item/>
        <item>Who <em>runs</em> the zoo</item>
    </slide>

</slideshow>
"""

HTML = b"""<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>zoo-http sample page</title></head>
  <body>
    <h1>What is your quest?</h1>
    <p>The bridgekeeper asked three questions. The first two were easy: a name and a
    quest. The third depended on who was crossing, and on how well they knew the
    airspeed of an unladen swallow. This page is here so that an HTTP client has
    some ordinary HTML to fetch, parse and scrape: a heading, a paragraph, a list
    and a link.</p>
    <ul>
      <li>Sir Lancelot: to seek the Holy Grail.</li>
      <li>Sir Robin: the same, more or less.</li>
      <li>Sir Galahad: the same, and his favourite colour is blue.</li>
    </ul>
    <p><a href="/forms/post">A form to fill in</a></p>
  </body>
</html>
"""

UTF8 = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>UTF-8 sample</title></head>
<body><pre>
UTF-8 sample text for HTTP clients that decode bodies.

Latin-1 supplement:   àéîõü ÀÉÎÕÜ ß ñ ç ø å æ
Greek:                Καλημέρα κόσμε
Cyrillic:             Здравствуй, мир
Hebrew and Arabic:    שלום עולם  مرحبا بالعالم
CJK:                  你好，世界  こんにちは世界  안녕하세요
Mathematics:          ∀x ∈ ℝ: x² ≥ 0,  ∑ 1/n² = π²/6,  ∮ E·dA = Q/ε₀
Arrows and boxes:     ← ↑ → ↓ ↔  ┌─┬─┐ │ │ │ └─┴─┘
Emoji (outside BMP):  🐍 🦆 🐘 🦒
</pre></body></html>
""".encode()

FORM = b"""<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>An order form</title></head>
  <body>
    <form method="post" action="/post">
      <p><label>Name: <input name="custname"></label></p>
      <p><label>Telephone: <input type="tel" name="custtel"></label></p>
      <p><label>E-mail: <input type="email" name="custemail"></label></p>
      <fieldset>
        <legend>Size</legend>
        <p><label><input type="radio" name="size" value="small"> Small</label></p>
        <p><label><input type="radio" name="size" value="medium"> Medium</label></p>
        <p><label><input type="radio" name="size" value="large"> Large</label></p>
      </fieldset>
      <fieldset>
        <legend>Toppings</legend>
        <p><label><input type="checkbox" name="topping" value="bacon"> Bacon</label></p>
        <p><label><input type="checkbox" name="topping" value="cheese"> Cheese</label></p>
        <p><label><input type="checkbox" name="topping" value="onion"> Onion</label></p>
      </fieldset>
      <p><label>Delivery time: <input type="time" name="delivery"></label></p>
      <p><label>Instructions: <textarea name="comments"></textarea></label></p>
      <p><button>Submit order</button></p>
    </form>
  </body>
</html>
"""

#: FOPNP's weather form (2nd edition, "POST And Forms"): it posts to /zipcity.php.
ZIPCITY_FORM = b"""<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>Forecast by city</title></head>
  <body>
    <form name="getForecast" method="post" action="/zipcity.php">
      <label>City, St <input type="text" id="zipcity" name="inputstring" size="9"
        value="City, St"></label>
      <input type="submit" name="Go2" value="Go">
    </form>
  </body>
</html>
"""

INDEX = b"""<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>zoo-http</title></head>
  <body>
    <h1>zoo-http: an HTTP test service</h1>
    <p>httpbin's endpoints on twisted.web. Try <a href="/get">/get</a>,
    <a href="/ip">/ip</a>, <a href="/headers">/headers</a>,
    <a href="/status/418">/status/418</a>, <a href="/redirect/3">/redirect/3</a>,
    <a href="/cookies/set?flavour=oatmeal">/cookies/set</a>,
    <a href="/basic-auth/user/passwd">/basic-auth/user/passwd</a>,
    <a href="/gzip">/gzip</a>, <a href="/stream/5">/stream/5</a>,
    <a href="/bytes/64">/bytes/64</a>, <a href="/delay/1">/delay/1</a>,
    <a href="/drip">/drip</a>, <a href="/range/64">/range/64</a>,
    <a href="/json">/json</a>, <a href="/html">/html</a>, <a href="/xml">/xml</a>,
    <a href="/forms/post">/forms/post</a> and the book's form at
    <a href="/forms/zipcity">/forms/zipcity</a>.</p>
    <p>The whole list is in the zoo's documentation (docs/protocols/http.rst).</p>
  </body>
</html>
"""

SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" viewBox="0 0 100 100">
  <rect width="100" height="100" fill="#f4f1e8"/>
  <circle cx="50" cy="50" r="36" fill="#3b6ea5"/>
  <text x="50" y="58" font-size="22" text-anchor="middle" fill="#ffffff">zoo</text>
</svg>
"""


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(width: int = 16, height: int = 16) -> bytes:
    """A small PNG: a blue square on a light ground, built with zlib alone."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type: none
        for x in range(width):
            inside = width // 4 <= x < 3 * width // 4 and height // 4 <= y < 3 * height // 4
            row += b"\x3b\x6e\xa5" if inside else b"\xf4\xf1\xe8"
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _png_chunk(b"IEND", b"")
    )


PNG = png()
