// The audit file under the attacks and accidents it must show: a torn last line (power cut), a cut tail,
// a cut head, a rewrite with recomputed hashes, a cut while the agent runs, and a flood of refusals.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../shared/contract';
import { ManualClock } from '../util/clock';
import { readAuditFile } from '../../../testbed/audit-file';
import { AuditLog, RefusalAudit, sealedAuditKey, verifyAuditFile } from './audit';
import type { AuditKeyStore } from './audit';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-audit-'));
  file = path.join(dir, 'audit.jsonl');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const memoryKey = (): AuditKeyStore => {
  const k = randomBytes(32);
  return { key: () => k };
};

function writeSome(n: number, keyStore?: AuditKeyStore): AuditLog {
  const log = new AuditLog({ file, ...(keyStore ? { keyStore } : {}) });
  for (let i = 0; i < n; i++) log.record({ action: 'session.opened', outcome: 'success', idNat: `8999990000${i}` });
  return log;
}

const lines = () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
const damaged = (recs: AuditRecord[]) => recs.filter((r) => r.action === 'audit.damaged').map((r) => r.reason);

/** What anyone who read the code can do: recompute the public SHA-256 chain after editing records. */
function rechain(records: AuditRecord[]): AuditRecord[] {
  let prev = '0'.repeat(64);
  return records.map((r) => {
    const canonical = JSON.stringify([
      r.seq,
      r.at,
      r.action,
      r.outcome,
      r.reason ?? null,
      r.idNat ?? null,
      r.factor ?? null,
      r.reader ?? null,
    ]);
    const hash = createHash('sha256').update(prev).update(canonical).digest('hex');
    prev = hash;
    return { ...r, hash };
  });
}

describe('agent audit file', () => {
  it('a torn last line is cut off at the next start, the valid prefix kept and the recovery recorded', () => {
    writeSome(3);
    fs.appendFileSync(file, '{"seq":4,"at":17640000'); // power cut mid-append
    const log = new AuditLog({ file });
    log.record({ action: 'session.locked', outcome: 'info' });
    const recs = readAuditFile(file);
    expect(recs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(recs[3]).toMatchObject({ action: 'audit.recovered', reason: expect.stringContaining('torn last record') });
    expect(verifyAuditFile(file)).toEqual({ ok: true, records: 5, problems: [] });
  });

  it('a whole last record that lost its line end is kept, and the next one starts a line of its own', () => {
    writeSome(3);
    fs.truncateSync(file, fs.statSync(file).size - 1);
    new AuditLog({ file }).record({ action: 'session.locked', outcome: 'info' });
    expect(readAuditFile(file).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 4 });
  });

  it('a cut tail is detected, at the next start and by verification', () => {
    writeSome(10);
    fs.writeFileSync(file, lines().slice(0, 7).join('\n') + '\n');
    expect(verifyAuditFile(file).problems).toContain('tail cut: records #8 to #10 missing');
    const log = new AuditLog({ file });
    expect(damaged(log.recent())).toContain('tail cut: records #8 to #10 missing');
  });

  it('a cut head is detected', () => {
    writeSome(10);
    fs.writeFileSync(file, lines().slice(3).join('\n') + '\n');
    expect(verifyAuditFile(file)).toMatchObject({ ok: false, problems: ['head cut: the file starts at record #4'] });
    expect(damaged(new AuditLog({ file }).recent())).toContain('head cut: the file starts at record #4');
  });

  it('a record deleted from the middle is detected', () => {
    writeSome(6);
    const l = lines();
    fs.writeFileSync(file, [...l.slice(0, 2), ...l.slice(3)].join('\n') + '\n');
    expect(verifyAuditFile(file).problems).toEqual(['records #3 to #3 missing']);
  });

  it('a rewrite with recomputed hashes and a forged head is detected with the key kept outside the file', () => {
    const keyStore = memoryKey();
    writeSome(70, keyStore); // past the first in-file checkpoint after the start one
    expect(verifyAuditFile(file, keyStore.key())).toMatchObject({ ok: true });
    // The attacker edits who opened a session, recomputes the whole chain and the head file beside it.
    const forged = rechain(readAuditFile(file).map((r) => (r.seq === 10 ? { ...r, idNat: '899999000099' } : r)));
    fs.writeFileSync(file, forged.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const last = forged.at(-1)!;
    fs.writeFileSync(`${file}.head`, JSON.stringify({ seq: last.seq, hash: last.hash }));
    // The plain chain is consistent: only the key tells.
    expect(verifyAuditFile(file).ok).toBe(true);
    const check = verifyAuditFile(file, keyStore.key());
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^checkpoint #\d+ not signed/),
        expect.stringMatching(/^chain head beside the file not signed/),
      ]),
    );
    expect(damaged(new AuditLog({ file, keyStore }).recent()).length).toBeGreaterThan(0);
  });

  it('a cut while the agent runs is recorded in the trail itself', () => {
    const log = writeSome(4);
    fs.writeFileSync(file, lines().slice(0, 2).join('\n') + '\n');
    log.record({ action: 'session.locked', outcome: 'info' });
    expect(readAuditFile(file).map((r) => r.action)).toEqual([
      'session.opened',
      'session.opened',
      'audit.damaged',
      'session.locked',
    ]);
    expect(readAuditFile(file)[2]!.reason).toMatch(/cut while the agent ran/);
  });

  it('the checkpoint key is sealed by the store it is given, never written in clear', async () => {
    const sealed = path.join(dir, 'audit-key.sealed');
    const sealer = {
      seal: async (p: string) => Buffer.from(p.split('').reverse().join('') + '|sealed'),
      open: async (b: Buffer) => ({
        plain: b
          .toString()
          .replace(/\|sealed$/, '')
          .split('')
          .reverse()
          .join(''),
        reseal: false,
      }),
    };
    const k1 = (await sealedAuditKey(sealed, sealer)).key();
    expect(fs.readFileSync(sealed).toString()).not.toContain(k1.toString('base64'));
    expect((await sealedAuditKey(sealed, sealer)).key().equals(k1)).toBe(true);
  });

  it('caps what one record can carry from a caller', () => {
    const log = new AuditLog({ file });
    const r = log.record({ action: 'headless.refused', outcome: 'failure', reason: `origin ${'x'.repeat(4096)}` });
    expect(r.reason!.length).toBeLessThan(450);
    expect(fs.statSync(file).size).toBeLessThan(800);
  });
});

describe('refusal audit', () => {
  it('a flood of refusals with 4 KB fields grows the trail by a bounded amount, and the count is kept', () => {
    const clock = new ManualClock();
    const log = new AuditLog({ file, clock });
    const refusals = new RefusalAudit(log, clock);
    for (let i = 0; i < 1000; i++)
      refusals.record('headless websocket', {
        action: 'headless.refused',
        outcome: 'failure',
        reason: `websocket from origin http://evil.example/${'a'.repeat(4096)}`,
      });
    expect(lines().length).toBe(5);
    clock.advance(60_000);
    const last = readAuditFile(file).at(-1)!;
    expect(last).toMatchObject({ action: 'headless.refused', reason: expect.stringMatching(/^995 more refusals/) });
    expect(fs.statSync(file).size).toBeLessThan(6 * 800);
    // Another source is counted on its own.
    refusals.record('broker http', { action: 'broker.connect', outcome: 'failure', reason: 'no secret' });
    expect(readAuditFile(file).at(-1)!.action).toBe('broker.connect');
  });
});
