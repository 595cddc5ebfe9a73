// Runs a PivCard on vpcd in its own process, driven by JSON lines on stdin. PKCS#11 calls are synchronous
// (pkcs11js), so a card emulated in the test's own process could never answer the module: it lives here.
// Commands: {"cmd":"insert","port":N} {"cmd":"remove"} {"cmd":"pull-on-sign"} {"cmd":"status"}
// Each answers one JSON line: {"ok":true, ...status}.
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';
import { VirtualCard } from '../vpcd-client';
import { PivCard } from './piv-card';

const [certFile, keyFile, atrHex] = process.argv.slice(2);
if (!certFile || !keyFile || !atrHex) {
  console.error('usage: piv-card-process CERT.pem KEY.pem ATR_HEX');
  process.exit(2);
}
const { X509Certificate } = await import('node:crypto');
const piv = new PivCard({
  certDer: new X509Certificate(fs.readFileSync(certFile)).raw,
  privateKey: createPrivateKey(fs.readFileSync(keyFile)),
});
let verifyWithPin = 0;
const card = new VirtualCard({
  // With quick ACKs, the card-pulled-mid-signature test hung past 30 s in 2 of 17 runs (cause not found,
  // somewhere in OpenSC/pcscd's removal path); this card keeps vpcd's natural pace, 0 hangs in 26 runs.
  quickAck: false,
  atr: Buffer.from(atrHex, 'hex'),
  handler: (apdu) => {
    if (apdu[1] === 0x20 && apdu.length > 5) verifyWithPin += 1;
    // APDU headers only (never data: it may hold a PIN), for debugging with SILLAGE_APDU_LOG=1.
    if (process.env.SILLAGE_APDU_LOG) console.error(`apdu ${apdu.subarray(0, 4).toString('hex')}`);
    return piv.handler(apdu);
  },
});
card.on('removed', () => piv.reset());

const status = () => ({
  triesLeft: piv.triesLeft,
  blocked: piv.blocked,
  signCount: piv.signCount,
  verifyWithPin,
  inserted: card.inserted,
});
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const msg = JSON.parse(line) as { cmd: string; port?: number };
  if (msg.cmd === 'insert') await card.insert(msg.port!);
  else if (msg.cmd === 'remove') await card.remove();
  else if (msg.cmd === 'pull-on-sign') {
    piv.onSign = async () => {
      piv.onSign = null;
      await card.remove();
      return false;
    };
  }
  process.stdout.write(JSON.stringify({ ok: true, ...status() }) + '\n');
}
