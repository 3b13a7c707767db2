// A session with Node's imapflow against zoo-imap: the calls a modern client makes.
// Usage: node imapflow_session.js PORT USER PASSWORD   (prints one JSON object)
const { ImapFlow } = require("imapflow");

async function main() {
  const [port, user, pass] = process.argv.slice(2);
  const client = new ImapFlow({
    host: "127.0.0.1", port: Number(port), secure: false, auth: { user, pass },
    logger: false, disableAutoIdle: true, tls: { rejectUnauthorized: false },
  });
  const out = {};
  await client.connect();
  out.capabilities = [...client.capabilities.keys()];
  const list = await client.list();
  out.folders = list.map((f) => ({ path: f.path, specialUse: f.specialUse || null, delimiter: f.delimiter }));
  const lock = await client.getMailboxLock("INBOX");
  try {
    out.exists = client.mailbox.exists;
    out.uidValidity = String(client.mailbox.uidValidity);
    out.fetched = [];
    for await (const msg of client.fetch("1:*", { uid: true, flags: true, envelope: true, bodyStructure: true, source: true })) {
      out.fetched.push({ uid: msg.uid, subject: msg.envelope.subject, from: msg.envelope.from[0].address,
                         type: msg.bodyStructure.type, size: msg.source.length, flags: [...msg.flags] });
    }
    out.search = await client.search({ subject: "imapflow" }, { uid: true });
    const appended = await client.append("INBOX", "From: n@x\r\nSubject: from node\r\n\r\nhi\r\n", ["\\Seen"]);
    out.appendUid = appended.uid;
    await client.messageFlagsAdd({ uid: appended.uid }, ["\\Flagged", "$Label1"], { uid: true });
    const moved = await client.messageMove({ uid: appended.uid }, "Trash", { uid: true });
    out.moved = moved && moved.uidMap ? [...moved.uidMap.entries()] : null;
    out.status = await client.status("Trash", { messages: true, unseen: true });
  } finally {
    lock.release();
  }
  await client.mailboxCreate(["Projects", "Zoo"]);
  out.created = (await client.list()).map((f) => f.path).filter((p) => p.startsWith("Projects"));
  await client.mailboxDelete("Projects.Zoo");
  await client.logout();
  console.log(JSON.stringify(out));
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
