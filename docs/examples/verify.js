#!/usr/bin/env node
// Verifies a PostStack webhook (X-PostStack-Signature). Node.js built-ins only.
//
// usage: node verify.js [SECRET SIGNATURE [TOLERANCE]] < raw-body
// SECRET and SIGNATURE default to $POSTSTACK_SECRET and $POSTSTACK_SIGNATURE.
// Prints "valid" and exits 0, or prints the reason and exits 1; 2 = usage.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

// Throws an Error whose message says why, unless signatureHeader signs rawBody
// (a Buffer, exactly as received) with secret (the whole "whsec_..." string)
// and its timestamp is within tolerance seconds of now.
function verify(secret, signatureHeader, rawBody, tolerance = 300) {
  const bad = (reason) => new Error(reason);
  let t = null;
  const v1s = [];
  for (const item of signatureHeader.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw bad('bad signature header format');
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key === 't') {
      if (t !== null || !/^[0-9]{1,12}$/.test(value)) throw bad('bad signature header format');
      t = value;
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) throw bad('bad signature header format');
      v1s.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0=, v2=...) are skipped: new ones may be added.
  }
  if (t === null || v1s.length === 0) throw bad('bad signature header format');

  const now = Math.floor(Date.now() / 1000);
  if (now - Number(t) > tolerance) throw bad('timestamp too old');
  if (Number(t) - now > tolerance) throw bad('timestamp in the future');

  const expected = crypto.createHmac('sha256', secret)
    .update(t + '.')
    .update(rawBody)
    .digest();
  // timingSafeEqual throws when the lengths differ: check them first (the
  // length is public, always 32 here). Every v1 is compared, match or not.
  let matched = false;
  for (const v1 of v1s) {
    if (v1.length === expected.length && crypto.timingSafeEqual(v1, expected)) matched = true;
  }
  if (!matched) throw bad('no matching signature');
}

function main(argv) {
  const secret = argv.length > 0 ? argv[0] : process.env.POSTSTACK_SECRET;
  const header = argv.length > 1 ? argv[1] : process.env.POSTSTACK_SIGNATURE;
  const tolerance = argv.length > 2 ? argv[2] : '300';
  if (secret === undefined || header === undefined || argv.length > 3 ||
      !/^[0-9]+$/.test(tolerance)) {
    process.stderr.write('usage: node verify.js [SECRET SIGNATURE [TOLERANCE]] < raw-body\n');
    return 2;
  }
  const body = fs.readFileSync(0);
  try {
    verify(secret, header, body, Number(tolerance));
  } catch (e) {
    console.log(e.message);
    return 1;
  }
  console.log('valid');
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { verify };
