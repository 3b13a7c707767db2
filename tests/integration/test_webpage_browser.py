"""The control plane's web page in a real browser: headless Debian Chromium, driven by Selenium.

One `twistd -n zoo` runs SMTP, FTP, SSH, pub-sub and XML-RPC; real clients (smtplib,
curl, paramiko, redis-cli and redis-py, xmlrpc.client) talk to it while the page is
open, and each test checks that its view shows their traffic without a reload.
Screenshots go to $ZOO_SCREENSHOTS (default: a folder under pytest's temporary
directory); the docs' pictures (docs/_static/webpage/) are taken by this file.
"""

from __future__ import annotations

import http.server
import json
import os
import smtplib
import ssl
import subprocess
import threading
import time
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from zoo.testing import TwistdProcess

pytestmark = pytest.mark.integration

PASSWORD = "s3same-open"
WIDE = (1280, 800)
NARROW = (400, 800)


class Beacon:
    """A loopback HTTP server that counts requests: the 'remote' images of a hostile mail."""

    def __init__(self) -> None:
        hits: list[str] = []
        self.hits = hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Zoo:
    """The running zoo: its ports, its token, and a small client of its API."""

    def __init__(self, process: TwistdProcess, workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.base, self.token = process.admin()
        self.state = Path(process.env["ZOO_STATE_DIR"])

    def port(self, service: str) -> int:
        return self.process.port(service)

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path,
            data,
            {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def wait(self, **filters: str) -> dict[str, Any]:
        """Wait (on the API) for an event matching C{filters}; match_X=v means match.X=v."""
        query = "&".join(f"{k.replace('match_', 'match.')}={v}" for k, v in filters.items())
        return self.api(f"/api/events/wait?timeout=20&{query}")["event"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    workdir = tmp_path_factory.mktemp("webpage")
    args = [
        "zoo",
        "--with", "smtp --port 0 --no-fsync",
        "--with", f"ftp --port 0 --user alice:{PASSWORD}",
        "--with", f"ssh --port 0 --user alice:{PASSWORD}",
        "--with", "pubsub --port 0",
        "--with", "xmlrpc --port 0",
    ]  # fmt: skip
    with TwistdProcess(args, workdir) as process:
        yield Zoo(process, workdir)
        assert process.proc is not None and process.proc.poll() is None, "the zoo died"
        assert "Traceback" not in process.output, process.output


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("ZOO_SCREENSHOTS")
    # a relative path is from where pytest was started (each test runs in its own folder)
    start = request.config.invocation_params.dir
    path = start / where if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = require_tool("chromium")
    driver_path = require_tool("chromedriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDE[0]},{WIDE[1]}", "--no-first-run",
                "--disable-background-networking"):  # fmt: skip
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.downloads = downloads
    driver.set_window_size(*WIDE)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The page open in the browser, logged in, with helpers to wait and look."""

    def __init__(self, driver: Any, zoo: Zoo, shots: Path) -> None:
        self.driver = driver
        self.zoo = zoo
        self.shots = shots

    def go(self, view: str) -> None:
        self.driver.get(f"{self.zoo.base}/#/{view}")
        self.until(lambda d: self.css(".view-title"), f"the {view} view")

    def css(self, selector: str) -> list[Any]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def one(self, selector: str) -> Any:
        return self.until(lambda d: (self.css(selector) or [None])[0], selector)

    def until(self, check: Callable[[Any], Any], what: str, timeout: float = 15) -> Any:
        try:
            return WebDriverWait(self.driver, timeout, 0.1).until(check)
        except TimeoutException:
            self.shot(f"failed-{what}".replace("/", "-")[:60])
            raise AssertionError(f"timed out waiting for {what}") from None

    def text_in(self, selector: str, text: str) -> Any:
        """Wait until an element matching C{selector} contains C{text}; return it."""

        def found(d: Any) -> Any:
            for el in self.css(selector):
                try:
                    if text in el.text:
                        return el
                except Exception:
                    pass
            return None

        return self.until(found, f"{text!r} in {selector}")

    def texts(self, selector: str) -> list[str]:
        """The text of each element matching C{selector} (one redrawn meanwhile is skipped)."""
        out = []
        for el in self.css(selector):
            try:
                out.append(el.text)
            except StaleElementReferenceException:
                pass
        return out

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def errors(self) -> list[str]:
        """The browser's console errors so far (CSP violations and script errors)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def page(browser: Any, zoo: Zoo, shots: Path) -> Page:
    browser.get(zoo.base + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(zoo.base + "/")
    p = Page(browser, zoo, shots)
    field = p.one("#token")
    assert field.is_displayed()
    field.send_keys(zoo.token, Keys.ENTER)
    p.until(lambda d: p.css("#services tr"), "the dashboard after login")
    return p


def send_mail(zoo: Zoo, message: EmailMessage, starttls: bool = False) -> None:
    with smtplib.SMTP("127.0.0.1", zoo.port("smtp"), timeout=10) as client:
        if starttls:
            context = ssl.create_default_context(cafile=str(zoo.state / "tls" / "ca.pem"))
            client.starttls(context=context)
        client.send_message(message)


def hostile_mail(beacon: Beacon) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "mallory@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Hostile HTML"
    msg.set_content("The text part of a hostile mail.")
    msg.add_alternative(
        "<html><head><title>inner</title>"
        "<script>document.title='pwned'; try { parent.pwned = 1; parent.document.title='pwned' }"
        " catch (e) {} window.pwned = 1;</script></head>"
        f'<body onload="document.title=\'pwned\'"><p id=x style="color: red">Hello!</p>'
        f'<img src="http://127.0.0.1:{beacon.port}/tracker.gif" alt=tracker>'
        "<img src=x onerror=\"document.title='pwned'; window.pwned = 1\">"
        '<form action="https://example.com/steal"><input name=q></form>'
        "</body></html>",
        subtype="html",
    )
    msg.add_attachment(b"id,total\n7,42\n", maintype="text", subtype="csv", filename="order.csv")
    return msg


# -- the page itself ---------------------------------------------------------------------


def test_page_is_served_without_token_with_a_strict_policy(zoo: Zoo) -> None:
    """/ and its assets need no token, hold no token, and carry a strict CSP; the API still needs it."""
    with urllib.request.urlopen(zoo.base + "/", timeout=10) as answer:
        body = answer.read().decode()
        policy = answer.headers["Content-Security-Policy"]
    assert zoo.token not in body and '<script type="module" src="/static/app.js">' in body
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    with urllib.request.urlopen(zoo.base + "/static/app.js", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/javascript")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(zoo.base + "/api/services", timeout=10)
    assert refused.value.code == 401


def test_token_is_asked_once_and_kept_in_the_tab(browser: Any, zoo: Zoo, shots: Path) -> None:
    """A wrong token is refused; the right one opens the page and survives a reload in the tab."""
    browser.get(zoo.base + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(zoo.base + "/")
    p = Page(browser, zoo, shots)
    p.one("#token").send_keys("wrong", Keys.ENTER)
    p.text_in("#login-error", "refused")
    p.shot("login")
    p.one("#token").send_keys(zoo.token, Keys.ENTER)
    p.until(lambda d: p.css("#services tr"), "the dashboard")
    assert browser.execute_script("return sessionStorage.getItem('zoo-token')") == zoo.token
    assert browser.execute_script("return localStorage.length") == 0
    browser.refresh()
    p.until(lambda d: p.css("#services tr"), "the dashboard after a reload")
    assert not p.one("#login").is_displayed()


# -- the views ---------------------------------------------------------------------------


def test_dashboard_shows_services_and_new_sessions_live(page: Page) -> None:
    """Every service is listed with its listener; an SMTP session raises its event count live."""
    page.go("dashboard")
    for name in ("smtp", "ftp", "ssh", "pubsub", "xmlrpc", "admin"):
        page.one(f"#services tr[data-service='{name}']")
    row = page.text_in("#services tr[data-service='xmlrpc']", str(page.zoo.port("xmlrpc")))
    assert "127.0.0.1" in row.text
    with smtplib.SMTP("127.0.0.1", page.zoo.port("smtp"), timeout=10) as client:
        client.noop()
        page.text_in("#services tr[data-service='smtp']", "session.opened")
    page.shot("dashboard")


def test_sessions_and_transcript_live(page: Page) -> None:
    """A STARTTLS SMTP session appears live; its transcript tells sides apart, explains, marks TLS."""
    page.go("sessions")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "bob@example.com", "carol@example.com", "Seen live"
    msg.set_content("hello from smtplib")
    send_mail(page.zoo, msg, starttls=True)
    stored = page.zoo.wait(service="smtp", kind="mail.stored", match_to="carol@example.com")
    session = stored["session"]
    link = page.text_in("#sessions a", session)
    page.shot("sessions")
    link.click()
    page.text_in("#transcript", "TLS started")
    lines = page.one("#transcript")
    text = lines.text
    assert "EHLO" in text and "greet the server and ask for its extensions" in text
    assert "service ready" in text and "start the message; end it with a lone dot" in text
    assert "hello from smtplib" in text
    clients = page.css("#transcript .chunk.in")
    servers = page.css("#transcript .chunk.out")
    assert clients and servers
    assert clients[0].value_of_css_property("background-color") != servers[0].value_of_css_property(
        "background-color"
    )
    # TLS is marked before the first chunk sent inside it
    items = page.css("#transcript > li")
    at = [li.get_attribute("class") for li in items].index("tls")
    assert "STARTTLS" in items[at - 2].text and "EHLO" in items[at + 1].text
    page.shot("transcript")
    page.one("#t-hex").click()
    page.text_in("#transcript pre.hex", "65 68 6c 6f")  # ehlo (smtplib writes it so)
    page.shot("transcript-hex")
    page.one("#t-hex").click()
    page.text_in("button", "Download transcript").click()
    saved = page.driver.downloads / f"{session}.txt"
    page.until(lambda d: saved.exists() and saved.stat().st_size > 0, "the downloaded transcript")
    assert "C: ehlo" in saved.read_text()


def test_transcript_grows_live_for_an_open_session(page: Page) -> None:
    """With a pub-sub session open, its transcript page shows each new command as it is sent."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(port=page.zoo.port("pubsub"), socket_timeout=10)
    try:
        client.ping()
        opened = page.zoo.api("/api/sessions?service=pubsub&open=true")["sessions"]
        session = opened[-1]["id"]
        page.driver.get(f"{page.zoo.base}/#/sessions/{session}")
        page.text_in("#transcript", "PING")
        text = page.one("#transcript").text
        assert "ask for a PONG" in text and "+PONG" in text and "simple string" in text
        client.echo("live-echo-marker")
        page.text_in("#transcript", "live-echo-marker")
    finally:
        client.close()


def test_mail_view_with_attachment_and_hostile_html(page: Page) -> None:
    """Mail shows up live; its HTML runs no script and fetches nothing until remote images are asked."""
    beacon = Beacon()
    try:
        page.go("mail")
        send_mail(page.zoo, hostile_mail(beacon))
        link = page.text_in("#messages a", "Hostile HTML")
        link.click()
        page.text_in("#m-subject", "Hostile HTML")
        frame = page.one("iframe#m-html")
        assert frame.get_attribute("sandbox") == ""
        page.driver.switch_to.frame(frame)
        page.until(lambda d: "Hello!" in d.find_element(By.TAG_NAME, "body").text, "the HTML body")
        inner_title = page.driver.execute_script("return document.title")
        inner_flag = page.driver.execute_script("return typeof window.pwned")
        page.driver.switch_to.default_content()
        assert inner_title == "inner" and inner_flag == "undefined"
        time.sleep(1)  # let a (forbidden) image load or an onerror fire if anything could
        assert page.driver.title == "zoo"
        assert page.driver.execute_script("return typeof window.pwned") == "undefined"
        assert beacon.hits == [], "a remote image was fetched without being asked"
        page.shot("mail")
        page.one("#m-attachments button")
        assert "order.csv" in page.one("#m-attachments").text
        page.one("#m-attachments button").click()
        saved = page.driver.downloads / "order.csv"
        page.until(
            lambda d: saved.exists() and saved.read_bytes() == b"id,total\n7,42\n", "order.csv"
        )
        session = page.one("#m-session a").text
        assert session.startswith("smtp-")
        page.one("#m-tab-text").click()
        page.text_in("#m-text", "The text part of a hostile mail.")
        page.one("#m-tab-headers").click()
        page.text_in(".headers", "mallory@example.com")
        page.one("#m-tab-raw").click()
        page.text_in("#m-raw", "Content-Type: multipart/mixed")
        # asked for: remote images load, scripts still do not run
        page.one("#m-tab-html").click()
        page.one("#m-images").click()
        page.until(lambda d: beacon.hits, "the remote image, once asked for")
        assert beacon.hits == ["/tracker.gif"]
        assert page.driver.title == "zoo"
        # search, then delete through the page
        page.one("#m-find").send_keys("hostile")
        page.until(lambda d: len(page.css("#messages li")) == 1, "one search result")
        page.one("#m-delete").click()
        page.driver.switch_to.alert.accept()
        page.until(
            lambda d: not [t for t in page.texts("#messages a") if "Hostile" in t], "deletion"
        )
        assert page.zoo.wait(service="smtp", kind="mail.deleted")["fields"]["via"] == "api"
    finally:
        beacon.close()


def test_files_view_shows_ftp_and_sftp_uploads_live(page: Page, tmp_path: Path) -> None:
    """curl FTP and paramiko SFTP uploads appear live with who uploaded; page upload and delete work."""
    paramiko = pytest.importorskip("paramiko")
    page.go("files")
    page.text_in("#files h2", "ftp: alice")
    source = tmp_path / "report.txt"
    source.write_text("quarterly numbers\n")
    subprocess.run(
        [require_tool("curl"), "-s", "-S", "-T", str(source),
         f"ftp://alice:{PASSWORD}@127.0.0.1:{page.zoo.port('ftp')}/report.txt"],
        check=True, timeout=30,
    )  # fmt: skip
    row = page.text_in("#files li.file", "report.txt")
    assert "uploaded by alice over ftp" in row.text
    ftp_session = row.find_element(By.CSS_SELECTOR, "a").text
    row.find_element(By.XPATH, ".//button[text()='Download']").click()
    saved = page.driver.downloads / "report.txt"
    page.until(
        lambda d: saved.exists() and saved.read_text() == "quarterly numbers\n", "report.txt"
    )
    transport = paramiko.Transport(("127.0.0.1", page.zoo.port("ssh")))
    try:
        transport.connect(username="alice", password=PASSWORD)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        with sftp.open("notes.md", "w") as f:
            f.write("# over sftp\n")
        sftp.close()
    finally:
        transport.close()
    # SFTP's root holds each user's folder: open alice's (Enter on its summary)
    folder = page.text_in("section[data-root='ssh:home'] summary", "alice/")
    folder.send_keys(Keys.ENTER)
    page.text_in("#files li.file", "uploaded by alice over sftp")
    # a later upload redraws the tree; alice's folder stays open and is listed once
    transport = paramiko.Transport(("127.0.0.1", page.zoo.port("ssh")))
    try:
        transport.connect(username="alice", password=PASSWORD)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        with sftp.open("second.md", "w") as f:
            f.write("# again\n")
        sftp.close()
    finally:
        transport.close()
    page.text_in("#files li.file", "second.md")
    time.sleep(0.5)  # the toggle of the redrawn folder, had it listed it twice
    names = [t.split()[0] for t in page.texts("section[data-root='ssh:home'] li.file")]
    assert sorted(names) == ["notes.md", "second.md"], names
    page.shot("files")
    # upload through the page into alice's FTP home, then delete it there
    seed = tmp_path / "from-the-page.bin"
    seed.write_bytes(b"\x00\x01page")
    page.one("#up-ftp-alice").send_keys(str(seed))
    page.one("#up-ftp-alice").find_element(By.XPATH, "ancestor::form//button").click()
    row = page.text_in("#files li.file", "from-the-page.bin")
    assert "over api" in row.text
    home = page.zoo.state / "ftp" / "home" / "alice"
    stored = [p for p in page.zoo.state.rglob("from-the-page.bin")]
    assert stored and stored[0].read_bytes() == b"\x00\x01page", home
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    page.driver.switch_to.alert.accept()
    page.until(lambda d: not stored[0].exists(), "the file deleted on disk")
    page.until(
        lambda d: not [t for t in page.texts("#files li.file") if "from-the-page" in t],
        "the row gone",
    )
    # the uploading session's transcript: curl's FTP commands and the replies, explained
    page.driver.get(f"{page.zoo.base}/#/sessions/{ftp_session}")
    page.text_in("#transcript", "STOR report.txt")
    text = page.one("#transcript").text
    assert "PASS ***" in text and PASSWORD not in text
    for explained in ("upload a file", "331 user name okay, need the password", "230 logged in",
                      "226 transfer complete"):  # fmt: skip
        assert explained in text, explained


def test_pubsub_view_counts_tails_and_publishes(page: Page) -> None:
    """A redis-py subscriber is counted live, redis-cli PUBLISH is tailed, the form reaches the subscriber."""
    redis = pytest.importorskip("redis")
    page.go("pubsub")
    client = redis.Redis(port=page.zoo.port("pubsub"), socket_timeout=10)
    sub = client.pubsub()
    try:
        sub.subscribe("news")
        assert sub.get_message(timeout=5)["type"] == "subscribe"
        row = page.text_in("#channels tr", "news")
        assert row.text.split()[-1] == "1"
        sub.psubscribe("news.*")
        assert sub.get_message(timeout=5)["type"] == "psubscribe"
        assert page.text_in("#patterns tr", "news.*").text.split()[-1] == "1"
        subprocess.run(
            [require_tool("redis-cli"), "-p", str(page.zoo.port("pubsub")), "PUBLISH", "news", "from redis-cli"],
            check=True, timeout=30, capture_output=True,
        )  # fmt: skip
        page.text_in("#tail li", "from redis-cli")
        got = sub.get_message(timeout=10)
        assert got is not None and got["data"] == b"from redis-cli"
        page.one("#p-channel").clear()
        page.one("#p-channel").send_keys("news")
        page.one("#p-message").send_keys("from the page")
        page.text_in("button", "Publish").click()
        got = sub.get_message(timeout=10)
        assert got is not None and got["data"] == b"from the page"
        page.text_in("#tail li", "from the page")
        page.shot("pubsub")
    finally:
        sub.close()
        client.close()


def test_rpc_view_logs_calls_and_faults_and_calls_from_the_form(page: Page) -> None:
    """xmlrpc.client calls and a fault show live (the fault highlighted); the form calls for real."""
    page.go("rpc")
    proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{page.zoo.port('xmlrpc')}/RPC2")
    assert proxy.double(21) == 42
    with pytest.raises(xmlrpc.client.Fault):
        proxy.no_such_method(1)
    page.text_in("#calls tr", "double")
    fault = page.text_in("#calls tr.fault", "no_such_method")
    assert "Fault" in fault.text
    page.one("#r-method").clear()
    page.one("#r-method").send_keys("addtogether")
    page.one("#r-params").clear()
    page.one("#r-params").send_keys('["x", "y"]', Keys.ENTER)
    page.text_in("#r-answer", '"xy"')
    page.text_in("#calls tr", "addtogether")
    page.shot("rpc")


def test_events_view_filters_a_live_log(page: Page) -> None:
    """A mark posted to the API appears live; a kind filter hides the others."""
    page.go("events")
    page.zoo.api("/api/marks", "POST", {"name": "web-marker"})
    page.text_in("#events tr", "web-marker")
    page.shot("events")
    page.one("#e-kind").send_keys("mark")
    page.until(
        lambda d: {r.get_attribute("data-kind") for r in page.css("#events tr")} == {"mark"},
        "only marks shown",
    )
    page.one("#e-kind").clear()
    # an RPC fault of this test's own: the dashboard counts the calls and lists it
    proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{page.zoo.port('xmlrpc')}/RPC2")
    with pytest.raises(xmlrpc.client.Fault):
        proxy.no_such_method(2)
    page.go("dashboard")
    page.text_in("#services tr[data-service='xmlrpc']", "rpc.called")
    page.text_in("#errors li", "no_such_method")
    page.shot("dashboard")


def test_narrow_window_and_keyboard_only(page: Page) -> None:
    """At 400px nothing overflows sideways; Tab and Enter alone reach and open every view."""
    driver = page.driver
    driver.set_window_size(*NARROW)
    try:
        page.go("dashboard")
        for view in ("dashboard", "sessions", "mail", "files", "pubsub", "rpc", "events"):
            page.go(view)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{view} overflows by {overflow}px at 400px"
            if view == "mail":  # a message open too: the panes stack
                page.one("#messages a").click()
                page.one("#m-subject")
                page.one("#m-tab-html")
                overflow = driver.execute_script(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"a message overflows by {overflow}px at 400px"
                driver.execute_script("document.getElementById('m-subject').scrollIntoView()")
            if view in ("sessions", "mail"):
                page.shot(f"narrow-{view}")
        # keyboard only: a view focuses its heading; Shift+Tab walks back into the
        # navigation, to the "RPC" link, and Enter opens it
        driver.get(page.zoo.base + "/#/dashboard")
        page.one("#services tr")
        page.until(lambda d: d.switch_to.active_element.tag_name == "h1", "focus on the heading")
        reached = []
        for _ in range(6):
            driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
            reached.append(driver.switch_to.active_element.text)
            if reached[-1] == "RPC":
                break
        assert reached[:3] == ["Forget token", "Events", "RPC"], reached
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        page.until(lambda d: d.current_url.endswith("#/rpc"), "the RPC view by keyboard")
        # the view's heading takes the focus, so the next Tab goes into the view
        page.until(lambda d: d.switch_to.active_element.text == "RPC" and
                   d.switch_to.active_element.tag_name == "h1", "focus on the heading")  # fmt: skip
        driver.switch_to.active_element.send_keys(Keys.TAB)
        assert driver.switch_to.active_element.get_attribute("id") == "r-method"
        # every form control has a label
        for view in ("sessions", "mail", "files", "pubsub", "rpc", "events"):
            page.go(view)
            time.sleep(0.3)
            unlabelled = driver.execute_script(
                "return [...document.querySelectorAll('main input, main select, main textarea')]"
                ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))"
                ".map(e => e.id || e.outerHTML)"
            )
            assert unlabelled == [], f"{view}: {unlabelled}"
    finally:
        driver.set_window_size(*WIDE)


@pytest.mark.parametrize(
    ("protocol", "direction", "line", "token", "meaning"),
    [
        ("smtp", "out", "354 End data with <CR><LF>.<CR><LF>", "354", "lone dot"),
        ("smtp", "in", "RCPT TO:<a@example.com>", "RCPT", "recipient"),
        ("pop3", "in", "RETR 1", "RETR", "fetch a message"),
        ("pop3", "out", "-ERR no such message", "-ERR", "failure"),
        ("imap", "in", "a2 SELECT INBOX", "SELECT", "open a mailbox"),
        ("imap", "out", "a2 NO [TRYCREATE] no such mailbox", "NO", "failed"),
        ("imap", "out", "* 3 EXISTS", "*", "untagged"),
        ("ftp", "out", "227 Entering Passive Mode (127,0,0,1,4,1)", "227", "passive"),
        ("ftp", "in", "RNFR old.txt", "RNFR", "rename from"),
    ],
)  # fmt: skip
def test_line_explanations(
    page: Page, protocol: str, direction: str, line: str, token: str, meaning: str
) -> None:
    """The page's own explanation module reads commands and replies of each line protocol."""
    got = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/static/explain.js').then(m => done(m.explainLine(arguments[0], arguments[1], arguments[2])));",
        protocol, direction, line,
    )  # fmt: skip
    assert got["token"] == token and meaning in got["text"]


@pytest.mark.parametrize(
    ("protocol", "chunk", "token", "meaning"),
    [
        ("resp", {"command": "PUBLISH"}, "PUBLISH", "subscribers"),
        ("resp", {"direction": "out", "data": ":1\r\n"}, ":", "integer"),
        ("resp", {"direction": "out", "data": "-ERR unknown command\r\n"}, "-", "error"),
        ("http", {"command": "POST"}, "POST", "XML-RPC"),
        ("http", {"reply": 404}, "404", "not found"),
    ],
)
def test_chunk_explanations(
    page: Page, protocol: str, chunk: dict[str, str], token: str, meaning: str
) -> None:
    """RESP and HTTP chunks are explained from the command or reply the server recorded."""
    got = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/static/explain.js').then(m => done(m.explainChunk(arguments[0], arguments[1])));",
        protocol, chunk,
    )  # fmt: skip
    assert got["token"] == token and meaning in got["text"]


def test_no_script_errors_or_policy_violations_in_the_page(page: Page) -> None:
    """The browser's console has no error from the page itself (the hostile mail's blocks aside)."""
    mine = [m for m in page.errors() if "/html?" not in m and "tracker" not in m and "401" not in m]
    assert mine == []
