// What each command and reply means, per protocol, for the transcript view.
// protocolOf(service) names the protocol; explainLine(protocol, direction, line)
// answers {token, text} for a line a client ("in") or server ("out") sent.

const SMTP_COMMANDS = {
  HELO: "greet the server (old SMTP)", EHLO: "greet the server and ask for its extensions",
  MAIL: "start a message: the envelope sender", RCPT: "add an envelope recipient",
  DATA: "send the message itself, ended by a lone dot", BDAT: "send a chunk of the message",
  RSET: "forget the message under way", NOOP: "do nothing (keep the connection alive)",
  QUIT: "end the session", VRFY: "ask whether an address exists", EXPN: "expand a mailing list",
  HELP: "ask for help", STARTTLS: "switch this connection to TLS", AUTH: "log in (SASL)",
};
const SMTP_REPLIES = {
  211: "system status", 214: "help text", 220: "service ready", 221: "closing the connection",
  235: "authentication succeeded", 250: "requested action done", 251: "user not local; will forward",
  252: "cannot verify the user, will try", 334: "server challenge: send the next SASL step",
  354: "start the message; end it with a lone dot", 421: "service not available, closing",
  432: "a password transition is needed", 450: "mailbox unavailable (try later)",
  451: "local error (try later)", 452: "insufficient storage (try later)",
  454: "TLS or authentication not available now", 500: "syntax error, command unrecognised",
  501: "syntax error in the arguments", 502: "command not implemented", 503: "bad sequence of commands",
  504: "parameter not implemented", 530: "authentication required", 534: "mechanism too weak",
  535: "authentication failed", 550: "mailbox unavailable", 551: "user not local",
  552: "storage allocation exceeded", 553: "mailbox name not allowed", 554: "transaction failed",
};
const POP3_COMMANDS = {
  USER: "give the user name", PASS: "give the password", APOP: "log in with a digest",
  AUTH: "log in (SASL)", STAT: "count and size of the messages", LIST: "list the messages' sizes",
  RETR: "fetch a message", DELE: "mark a message deleted (done at QUIT)", NOOP: "do nothing",
  RSET: "unmark deleted messages", QUIT: "end the session (and delete the marked messages)",
  TOP: "fetch a message's headers and first lines", UIDL: "list the messages' unique ids",
  CAPA: "ask for the server's capabilities", STLS: "switch this connection to TLS",
};
const IMAP_COMMANDS = {
  CAPABILITY: "ask what the server supports", NOOP: "do nothing (poll for news)", LOGOUT: "end the session",
  STARTTLS: "switch this connection to TLS", AUTHENTICATE: "log in (SASL)", LOGIN: "log in with a name and password",
  SELECT: "open a mailbox to read and change", EXAMINE: "open a mailbox read-only", CREATE: "create a mailbox",
  DELETE: "delete a mailbox", RENAME: "rename a mailbox", SUBSCRIBE: "subscribe to a mailbox",
  UNSUBSCRIBE: "unsubscribe from a mailbox", LIST: "list mailboxes", LSUB: "list subscribed mailboxes",
  STATUS: "ask a mailbox's counts", APPEND: "add a message to a mailbox", CHECK: "checkpoint the mailbox",
  CLOSE: "close the mailbox, expunging deleted messages", EXPUNGE: "remove messages flagged deleted",
  SEARCH: "find messages", FETCH: "read parts of messages", STORE: "change messages' flags",
  COPY: "copy messages to another mailbox", MOVE: "move messages to another mailbox",
  UID: "the next command uses unique ids", IDLE: "wait for news pushed by the server",
  NAMESPACE: "ask the mailbox namespaces", ID: "exchange client and server identities",
  ENABLE: "turn on extensions",
};
const IMAP_REPLIES = {
  OK: "the tagged command succeeded", NO: "the tagged command failed", BAD: "the command was not understood",
  PREAUTH: "already logged in", BYE: "the server is closing the connection", "*": "untagged data",
  "+": "continue: send the rest",
};
const FTP_COMMANDS = {
  USER: "give the user name", PASS: "give the password", ACCT: "give the account", CWD: "change folder",
  CDUP: "go to the parent folder", QUIT: "end the session", PORT: "active mode: connect back to me here",
  PASV: "passive mode: tell me where to connect", EPRT: "active mode (IPv6-capable)",
  EPSV: "passive mode (IPv6-capable)", TYPE: "set the transfer type (A text, I binary)",
  MODE: "set the transfer mode", STRU: "set the file structure", RETR: "download a file",
  STOR: "upload a file", STOU: "upload under a unique name", APPE: "append to a file",
  REST: "restart the next transfer at this offset", RNFR: "rename from", RNTO: "rename to",
  ABOR: "abort the transfer", DELE: "delete a file", RMD: "remove a folder", MKD: "make a folder",
  PWD: "print the current folder", LIST: "list a folder (long form)", NLST: "list names only",
  MLSD: "list a folder (machine-readable)", MLST: "describe one file (machine-readable)",
  SITE: "server-specific command", SYST: "ask the system type", STAT: "status", HELP: "ask for help",
  NOOP: "do nothing", FEAT: "ask the server's extensions", OPTS: "set an option",
  AUTH: "switch the control connection to TLS", PBSZ: "protection buffer size (TLS)",
  PROT: "protect the data connections (P: TLS, C: clear)", SIZE: "ask a file's size",
  MDTM: "ask a file's modification time", CCC: "clear the control channel",
};
const FTP_REPLIES = {
  110: "restart marker", 120: "ready in a few minutes", 125: "data connection open; transfer starting",
  150: "about to open the data connection", 200: "command okay", 202: "command not implemented (superfluous)",
  211: "system status or features", 212: "folder status", 213: "file status", 214: "help text",
  215: "system type", 220: "service ready", 221: "closing the control connection",
  225: "data connection open", 226: "transfer complete; closing the data connection",
  227: "entering passive mode (address follows)", 229: "entering extended passive mode",
  230: "logged in", 234: "ready for the TLS handshake", 250: "file action done",
  257: "folder created or named", 331: "user name okay, need the password", 332: "need an account",
  350: "waiting for the next command (RNTO, ...)", 421: "service not available, closing",
  425: "cannot open the data connection", 426: "transfer aborted", 450: "file unavailable (busy)",
  451: "local error", 452: "insufficient storage", 500: "syntax error, command unrecognised",
  501: "syntax error in the arguments", 502: "command not implemented", 503: "bad sequence of commands",
  504: "parameter not implemented", 530: "not logged in", 532: "need an account to store files",
  534: "TLS required by policy", 550: "file unavailable (not found, no access)",
  551: "page type unknown", 552: "storage allocation exceeded", 553: "file name not allowed",
};
const RESP_COMMANDS = {
  PING: "ask for a PONG", ECHO: "answer the argument", PUBLISH: "send a message to a channel's subscribers",
  SUBSCRIBE: "receive the messages of these channels", UNSUBSCRIBE: "stop receiving these channels",
  PSUBSCRIBE: "receive the messages of channels matching these patterns",
  PUNSUBSCRIBE: "stop receiving these patterns", PUBSUB: "ask about channels and subscribers",
  AUTH: "log in", HELLO: "choose the protocol version (RESP2 or RESP3)", QUIT: "end the session",
  RESET: "leave every subscription, start over", SELECT: "choose a database", CLIENT: "connection settings",
  INFO: "server information", COMMAND: "describe the commands",
};
const RESP_REPLIES = {
  "+": "simple string (+OK, +PONG)", "-": "error", ":": "integer (for PUBLISH: the receivers)",
  $: "bulk string", "*": "array (a pushed message, or a subscription's confirmation)", ">": "push (RESP3)",
  "%": "map (RESP3)", _: "null (RESP3)",
};
const HTTP_COMMANDS = {
  GET: "fetch a resource", POST: "send a body (an XML-RPC or JSON-RPC call)", PUT: "store a resource",
  DELETE: "delete a resource", HEAD: "headers only", OPTIONS: "ask what is allowed",
};
const HTTP_REPLIES = {
  200: "OK", 201: "created", 204: "no content", 301: "moved permanently", 302: "found elsewhere",
  304: "not modified", 400: "bad request", 401: "authentication required", 403: "forbidden",
  404: "not found", 405: "method not allowed", 408: "request timeout", 411: "length required",
  413: "body too large", 415: "unsupported media type", 500: "server error", 501: "not implemented",
  503: "service unavailable",
};
const SMTP_CLASS = {
  2: "success", 3: "go on", 4: "temporary failure (try later)", 5: "permanent failure",
};

const PROTOCOLS = {
  smtp: { commands: SMTP_COMMANDS, replies: SMTP_REPLIES, kind: "code" },
  ftp: { commands: FTP_COMMANDS, replies: FTP_REPLIES, kind: "code" },
  pop3: { commands: POP3_COMMANDS, replies: { "+OK": "success", "-ERR": "failure", "+": "continue (SASL)" }, kind: "pop3" },
  imap: { commands: IMAP_COMMANDS, replies: IMAP_REPLIES, kind: "imap" },
  resp: { commands: RESP_COMMANDS, replies: RESP_REPLIES, kind: "chunk" },
  http: { commands: HTTP_COMMANDS, replies: HTTP_REPLIES, kind: "chunk" },
};

const BY_SERVICE = { smtp: "smtp", ftp: "ftp", pop3: "pop3", imap: "imap", pubsub: "resp", xmlrpc: "http" };

export function protocolOf(service) {
  return BY_SERVICE[service] || null;
}

export function protocolName(protocol) {
  return { smtp: "SMTP", ftp: "FTP", pop3: "POP3", imap: "IMAP", resp: "RESP", http: "HTTP" }[protocol] || "";
}

// Whether lines of this protocol are commands and replies one by one (not whole chunks).
export function lineBased(protocol) {
  return Boolean(protocol) && PROTOCOLS[protocol].kind !== "chunk";
}

function explainCommand(table, word) {
  const key = (word || "").toUpperCase();
  return table[key] ? { token: key, text: table[key] } : null;
}

// The explanation of one line, or null when nothing is recognised.
export function explainLine(protocol, direction, line) {
  const p = PROTOCOLS[protocol];
  if (!p) return null;
  const words = line.trim().split(/\s+/);
  if (direction === "in") {
    if (p.kind === "imap") return explainCommand(p.commands, words[1]);
    if (p.kind === "chunk" && protocol === "resp") return null;
    return explainCommand(p.commands, words[0]);
  }
  if (p.kind === "code") {
    const m = /^(\d{3})[ -]?/.exec(line);
    if (!m) return null;
    const code = m[1];
    const text = p.replies[code] || SMTP_CLASS[code[0]];
    return text ? { token: code, text } : null;
  }
  if (p.kind === "pop3") {
    for (const key of ["+OK", "-ERR"]) if (line.startsWith(key)) return { token: key, text: p.replies[key] };
    if (line.startsWith("+ ")) return { token: "+", text: p.replies["+"] };
    return null;
  }
  if (p.kind === "imap") {
    if (words[0] === "*" || words[0] === "+") {
      const status = IMAP_REPLIES[(words[1] || "").toUpperCase()];
      if (words[0] === "*" && status && words[1].toUpperCase() !== "*") return { token: `* ${words[1].toUpperCase()}`, text: status };
      return { token: words[0], text: IMAP_REPLIES[words[0]] };
    }
    return explainCommand(IMAP_REPLIES, words[1]);
  }
  return null;
}

// The explanation of a whole chunk from what the server recorded (command or reply).
export function explainChunk(protocol, chunk) {
  const p = PROTOCOLS[protocol];
  if (!p) return null;
  if (chunk.command) {
    const text = p.commands[String(chunk.command).toUpperCase()];
    return { token: String(chunk.command), text: text || "" };
  }
  if (protocol === "resp" && chunk.direction === "out" && chunk.data && (chunk.reply === undefined || chunk.reply === null)) {
    // the server's RESP answers carry no label: their type is their first byte
    const type = String(chunk.data)[0];
    return RESP_REPLIES[type] ? { token: type, text: RESP_REPLIES[type] } : null;
  }
  if (chunk.reply !== undefined && chunk.reply !== null) {
    const reply = String(chunk.reply);
    let text = p.replies[reply];
    if (!text && protocol === "resp") text = RESP_REPLIES[reply[0]];
    if (!text && protocol === "http" && /^\d{3}$/.test(reply)) text = SMTP_CLASS[reply[0]] ? HTTP_REPLIES[reply] : "";
    return { token: reply, text: text || "" };
  }
  return null;
}
