// Runs a Cps3Card on vpcd in its own process, driven by JSON lines on stdin. PKCS#11 calls are synchronous
// (pkcs11js), so a card emulated in the test's own process could never answer the module: it lives here.
// Argument: a JSON file with the card (see Cps3CardSpec in ../cps3-process.ts).
// Commands: {"cmd":"insert","port":N} {"cmd":"remove"} {"cmd":"pull-on-sign"} {"cmd":"status"}
// Each answers one JSON line: {"ok":true, ...status}.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';
import { VirtualCard } from '../vpcd-client';
import { Cps3Card } from './cps3-card';
import type { Cps3Key } from './cps3-card';
import type { Cps3CardSpec } from '../cps3-process';

const specFile = process.argv[2];
if (!specFile) {
  console.error('usage: cps3-card-process SPEC.json');
  process.exit(2);
}
const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as Cps3CardSpec;
const key = (k: { certFile: string; keyFile: string }): Cps3Key => ({
  certDer: new X509Certificate(fs.readFileSync(k.certFile)).raw,
  privateKey: createPrivateKey(fs.readFileSync(k.keyFile)),
});
const cps = new Cps3Card({
  auth: key(spec.auth),
  ...(spec.sign ? { sign: key(spec.sign) } : {}),
  ...(spec.tech ? { tech: key(spec.tech) } : {}),
  iface: spec.iface,
  holder: spec.holder,
  ...(spec.serial ? { serial: spec.serial } : {}),
});
const card = new VirtualCard({
  // With quick ACKs, the card-pulled-mid-signature test hung past 30 s in 2 of 17 runs (cause not found,
  // somewhere in OpenSC/pcscd's removal path); this card keeps vpcd's natural pace.
  quickAck: spec.quickAck ?? false,
  atr: Buffer.from(spec.atr, 'hex'),
  handler: async (apdu) => {
    const res = await cps.handler(apdu);
    // Headers and status words only (never data: it may hold a PIN), for debugging with SILLAGE_APDU_LOG=1.
    if (process.env.SILLAGE_APDU_LOG)
      console.error(`apdu ${apdu.subarray(0, 4).toString('hex')} ${res.subarray(-2).toString('hex')}`);
    return res;
  },
});
card.on('removed', () => cps.reset());
card.on('power-cycle', () => cps.reset());

const status = () => ({
  triesLeft: cps.triesLeft,
  blocked: cps.blocked,
  signCount: cps.signCount,
  verifyWithPin: cps.verifyWithPin,
  inserted: card.inserted,
});
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const msg = JSON.parse(line) as { cmd: string; port?: number };
  if (msg.cmd === 'insert') await card.insert(msg.port!);
  else if (msg.cmd === 'remove') await card.remove();
  else if (msg.cmd === 'pull-on-sign') {
    cps.onSign = async () => {
      cps.onSign = null;
      await card.remove();
      return false;
    };
  }
  process.stdout.write(JSON.stringify({ ok: true, ...status() }) + '\n');
}
// stdin closed: the test is done with this card.
await card.remove();
