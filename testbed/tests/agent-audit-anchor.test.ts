// The workstation's audit chain anchored at the session server: each login and re-open grant carries the
// chain's head, the server keeps it in its own audit record of that grant, and `server:admin -- audit
// verify-agent` holds the workstation's audit.jsonl against those heads. An intact file passes; a file cut
// and put back to an older copy with its head (which the workstation itself cannot tell: its own check
// passes) and a file rewritten with recomputed hashes are reported. Real server on PostgreSQL, over HTTP.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditChainHash } from '@sillage/protocol';
import type { AuditChainRecord } from '@sillage/protocol';
import { AuditLog, verifyAuditFile } from '../../electron/core/audit/audit';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import { runAdmin } from '../../server/src/cli';
import { readAuditFile } from '../audit-file';
import { boundBadge, tapIn } from '../badges';
import type { PostgresHandle } from '../postgres';
import { STAFF, startServerStack } from '../stack';
import type { ServerStack } from '../stack';

let stack: ServerStack;
let pg: PostgresHandle;
let server: SessionServer;
let dir: string;
const KEY = Buffer.alloc(32, 0x5c);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-anchor-'));
  stack = await startServerStack();
  ({ pg, server } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function verifyAgent(file: string, workstation: string): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await runAdmin(
    ['audit', 'verify-agent', file, '--workstation', workstation, '--database-url', pg.url('sillage')],
    (l) => out.push(l),
  );
  return { code, out };
}

const copy = (from: string, to: string) => {
  fs.copyFileSync(from, to);
  fs.copyFileSync(`${from}.head`, `${to}.head`);
};

describe("the agent's audit chain, anchored at the session server", () => {
  it('an intact file passes; a cut file with an older head put back, and a rewritten one, are reported', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const log = new AuditLog({ file, keyStore: { key: () => KEY } });
    const creds = await registerWorkstation(
      server.issuer,
      await server.directory.createEnrolmentToken('PC-ANCRE'),
      'PC-ANCRE',
    );
    const client = await SessionServerClient.connect(server.issuer, creds, {
      allowHttp: true,
      auditHead: () => log.head(),
    });
    const nurse = await server.directory.addAccount(STAFF.camille);
    const badge = await boundBadge(server.directory, nurse.id, 'CHU-ANCRE');

    // A shift: badge + code, the PC's records between grants, a re-open later.
    log.record({ action: 'badge.tapped', outcome: 'info', reader: 'Lecteur' });
    await tapIn(client, badge, '4821');
    log.record({ action: 'session.opened', outcome: 'success', idNat: '899999000011' });
    log.record({ action: 'session.locked', outcome: 'info', idNat: '899999000011' });
    const older = path.join(dir, 'older.jsonl');
    copy(file, older);
    const copied = log.head()!;
    for (let i = 0; i < 5; i++) log.record({ action: 'badge.refused', outcome: 'failure', reason: `essai ${i}` });
    log.record({ action: 'badge.tapped', outcome: 'info', reader: 'Lecteur' });
    const atReopen = log.head()!;
    await tapIn(client, badge, '4821');
    log.record({ action: 'session.reopened', outcome: 'success', idNat: '899999000011' });

    // The server kept the head of each grant in its own records.
    const heads = await server.audit.agentHeads(creds.clientId);
    expect(heads.map((h) => h.seq)).toEqual(expect.arrayContaining([atReopen.seq]));
    expect(heads.find((h) => h.seq === atReopen.seq)?.hash).toBe(atReopen.hash);
    const rows = await server.audit.query({ limit: 200 });
    expect(rows.filter((r) => r.workstation === creds.clientId && r.details?.agent_audit).map((r) => r.action)).toEqual(
      expect.arrayContaining(['reopen.badge', 'login.badge']),
    );

    // Intact: passes, and the check itself is audited.
    const intact = await verifyAgent(file, creds.clientId);
    expect(intact.out.join('\n')).toMatch(
      new RegExp(`^journal du poste ${creds.clientId} vérifié : \\d+ enregistrement`),
    );
    expect(intact.code).toBe(0);

    // Rolled back: the older copy and its head, signed with the workstation's own key. Locally, nothing shows.
    const intactCopy = path.join(dir, 'intact.jsonl');
    copy(file, intactCopy);
    copy(older, file);
    expect(verifyAuditFile(file, KEY)).toMatchObject({ ok: true, problems: [] });
    const rolled = await verifyAgent(file, creds.clientId);
    expect(rolled.code).toBe(1);
    expect(rolled.out[0]).toBe(`journal du poste ${creds.clientId} NON VÉRIFIÉ :`);
    expect(rolled.out.join('\n')).toContain(`records #${copied.seq + 1} to #${atReopen.seq} missing`);

    // Rewritten: a record before the re-open edited and every hash after it recomputed (a valid chain).
    const records = readAuditFile(intactCopy);
    const edited = records.map((r) => (r.reason === 'essai 2' ? { ...r, reason: 'rien' } : { ...r }));
    let prev = '0'.repeat(64);
    for (const r of edited as AuditChainRecord[]) {
      const { hash: _old, ...body } = r;
      r.hash = auditChainHash(prev, body);
      prev = r.hash;
    }
    fs.writeFileSync(file, edited.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const rewritten = await verifyAgent(file, creds.clientId);
    expect(rewritten.code).toBe(1);
    expect(rewritten.out.join('\n')).toContain(`record #${atReopen.seq} differs from the head the server saw`);

    const audited = await server.audit.query({ action: 'admin.audit.verify-agent' });
    expect(audited.map((r) => r.outcome)).toEqual(['ok', 'error', 'error']);
  });

  it('a head that breaks the text rules is refused at the edge; one that is no head is kept as malformed', async () => {
    const r = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', sillage_audit_head: `1:${'a'.repeat(100)}` }).toString(),
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({
      error: 'invalid_request',
      error_description: 'sillage_audit_head: longer than 81 characters',
    });
    const creds = await registerWorkstation(
      server.issuer,
      await server.directory.createEnrolmentToken('PC-ANCRE-2'),
      'PC-ANCRE-2',
    );
    const client = await SessionServerClient.connect(server.issuer, creds, {
      allowHttp: true,
      auditHead: () => ({ seq: 0, hash: 'pas-un-hash' }),
    });
    const nurse = await server.directory.addAccount({ ...STAFF.louis, secret: '1357' });
    await tapIn(client, await boundBadge(server.directory, nurse.id, 'CHU-ANCRE-2'), '1357');
    const rows = (await server.audit.query({ limit: 50 })).filter((x) => x.workstation === creds.clientId);
    expect(rows.map((x) => x.details?.agent_audit)).toContain('malformed');
    expect(await server.audit.agentHeads(creds.clientId)).toEqual([]);
  });
});
