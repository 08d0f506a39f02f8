// verify-server.js — a webhook receiver for tests/e2e/test_options.c that
// checks Standard Webhooks requests the way a customer's Node.js server would:
// signing "standard" with the npm `standardwebhooks` library (pinned in
// package-lock.json), signing "ed25519" with Node's crypto.verify and the
// endpoint's whpk_ public key (docs/receiving.md).
//
// usage: node verify-server.js KEYS_JSON PORT_FILE LOG_FILE
//   KEYS_JSON  {"standard": ["whsec_…", …], "ed25519": "whpk_…"}, read again
//              on every request (the test rewrites it after a rotation)
//   PORT_FILE  written with the port once listening on 127.0.0.1
//   LOG_FILE   one JSON line per request: {path, id, valid, per_secret,
//              tampered_valid}
// POST /standard or /ed25519; 200 when the request verifies, 400 when not.
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const { Webhook } = require('standardwebhooks');

const [keysPath, portPath, logPath] = process.argv.slice(2);
const TOLERANCE_S = 300;

function verifyStandard(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch (e) {
    return false;
  }
}

// The same checks standardwebhooks makes, with an Ed25519 key: timestamp
// within tolerance, then any v1a signature valid over id.timestamp.body.
function verifyEd25519(whpk, body, headers) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs || !whpk.startsWith('whpk_')) return false;
  const t = parseInt(ts, 10);
  if (isNaN(t) || Math.abs(Math.floor(Date.now() / 1000) - t) > TOLERANCE_S) return false;
  const raw = Buffer.from(whpk.slice(5), 'base64');
  const key = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
  const msg = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
  return sigs.split(' ').some((entry) => {
    const [version, sig] = entry.split(',');
    return version === 'v1a' && sig !== undefined &&
      crypto.verify(null, msg, key, Buffer.from(sig, 'base64'));
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const tampered = Buffer.concat([body, Buffer.from(' ')]);
    let keys;
    try {
      keys = JSON.parse(fs.readFileSync(keysPath, 'utf8'));
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('keys unreadable: ' + e.message);
      return;
    }
    const entry = { path: req.url, id: req.headers['webhook-id'] || null };
    const secrets = keys.standard || [];
    if (req.url === '/standard') {
      entry.per_secret = secrets.map((s) => verifyStandard(s, body, req.headers));
      entry.valid = entry.per_secret.length > 0 && entry.per_secret.every((v) => v);
      entry.tampered_valid = secrets.some((s) => verifyStandard(s, tampered, req.headers));
    } else if (req.url === '/ed25519') {
      entry.valid = verifyEd25519(keys.ed25519 || '', body, req.headers);
      entry.tampered_valid = verifyEd25519(keys.ed25519 || '', tampered, req.headers);
    } else {
      entry.valid = false;
    }
    fs.appendFileSync(logPath, JSON.stringify(entry) + '\n');
    res.writeHead(entry.valid ? 200 : 400, { 'Content-Type': 'text/plain' });
    res.end(entry.valid ? 'ok' : 'invalid');
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portPath + '.tmp', String(server.address().port));
  fs.renameSync(portPath + '.tmp', portPath);
});
process.on('SIGTERM', () => process.exit(0));
