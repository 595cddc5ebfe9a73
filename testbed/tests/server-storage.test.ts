// The session server's storage on a real PostgreSQL: appends from two instances at once stay one
// gap-free audit chain, a database upgraded from hash rule 1 still verifies end to end, an edited row of
// either rule is found, and the prepared hot statements survive a schema change made by another
// instance (a rolling upgrade). A PGlite directory is held by one process at a time.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Audit } from '../../server/src/audit';
import { migrate, pgliteDb, postgresDb, splitStatements } from '../../server/src/db';
import { DataDirInUse, LOCK_FILE } from '../../server/src/pglite-lock';
import { Directory } from '../../server/src/directory';
import type { Db } from '../../server/src/db';
import { startPostgres } from '../postgres';
import { canonicalJson, tamper } from '../tamper';
import type { PostgresHandle } from '../postgres';

let pg: PostgresHandle;
const open: Db[] = [];
const database = (name: string) => {
  pg.createDatabase(name);
  const db = postgresDb(pg.url(name));
  open.push(db);
  return db;
};

beforeAll(async () => {
  pg = await startPostgres();
});

afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
  await pg?.stop();
});

describe('audit chain', () => {
  it('keeps one gap-free chain when two instances append concurrently', async () => {
    const a = database('concurrent');
    const b = postgresDb(pg.url('concurrent'));
    open.push(b);
    await Promise.all([migrate(a), migrate(b)]);
    const audits = [new Audit(a), new Audit(b)];
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        audits[i % 2]!.append({
          action: 'reopen.badge',
          outcome: 'ok',
          accountId: `acc-${i}`,
          details: { i, note: 'élevé' },
        }),
      ),
    );
    expect(await audits[0]!.verify()).toEqual({ ok: true, rows: 300 });
    const { rows } = await a.query<{ n: string; max: string }>(
      'SELECT count(DISTINCT account_id) AS n, max(seq) AS max FROM audit',
    );
    expect(rows[0]).toEqual({ n: '300', max: '300' });
    await tamper(a, "UPDATE audit SET outcome = 'refused' WHERE seq = 150");
    expect(await audits[1]!.verify()).toMatchObject({
      ok: false,
      brokenAt: 150,
      reason: 'row content does not match its hash',
    });
  });

  it('verifies a chain that began under hash rule 1 and continues under rule 2, and finds an edited rule-1 row', async () => {
    const db = database('upgraded');
    await migrate(db, 1);
    // Two rows as the server wrote them before migration 2 (rule 1: everything hashed in one canonical JSON).
    let prevHash = '0'.repeat(64);
    for (const [seq, action] of [
      [1, 'login.cps'],
      [2, 'reopen.badge'],
    ] as const) {
      const row = {
        seq,
        at: new Date(Date.UTC(2026, 10, 1, 7, seq)).toISOString(),
        action,
        outcome: 'ok',
        accountId: 'acc-1',
        workstation: 'ws-1',
        factor: 'cps',
        reason: null,
        details: { session: 's1' },
        prevHash,
      };
      const hash = createHash('sha256').update(canonicalJson(row)).digest('hex');
      await db.query(
        'INSERT INTO audit (seq, at, action, outcome, account_id, workstation, factor, reason, details, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)',
        [
          row.seq,
          row.at,
          row.action,
          row.outcome,
          row.accountId,
          row.workstation,
          row.factor,
          row.reason,
          JSON.stringify(row.details),
          row.prevHash,
          hash,
        ],
      );
      prevHash = hash;
    }
    await migrate(db);
    const audit = new Audit(db);
    await audit.append({ action: 'logout', outcome: 'ok', accountId: 'acc-1' });
    expect((await audit.query()).map((r) => [r.seq, r.hashV])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
    expect(await audit.verify()).toEqual({ ok: true, rows: 3 });
    await tamper(db, "UPDATE audit SET workstation = 'ws-2' WHERE seq = 2");
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('splits migrations on statement ends but keeps a function body whole', () => {
    expect(
      splitStatements(
        'CREATE TABLE t (a int);\nCREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1;\nEND\n$$;\nSELECT 1;\n',
      ),
    ).toEqual([
      'CREATE TABLE t (a int)',
      'CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1;\nEND\n$$',
      'SELECT 1',
    ]);
  });
});

describe('prepared statements', () => {
  it('keep working when another instance adds a column to the tables they read', async () => {
    const db = database('rolling');
    await migrate(db);
    const dir = new Directory(db);
    const a = await dir.addAccount({
      idNat: '899999000111',
      adLogin: 'roll',
      lastName: 'ROULANT',
      firstName: 'Rémi',
      profession: 'Infirmier',
    });
    await dir.bindBadge({ uid: '04A1B2C3D4E5F6', number: 'CHU-ROLL' }, a.id);
    // Prepare the hot lookups on every connection of the pool (4 at once).
    await Promise.all(Array.from({ length: 8 }, () => dir.badgeOwner({ uid: '04A1B2C3D4E5F6' })));
    const other = postgresDb(pg.url('rolling'));
    open.push(other);
    await other.query('ALTER TABLE accounts ADD COLUMN pager text');
    await other.query('ALTER TABLE badges ADD COLUMN label text');
    const after = await Promise.all(Array.from({ length: 8 }, () => dir.badgeOwner({ uid: '04A1B2C3D4E5F6' })));
    expect(after.every((o) => 'account' in o && o.account.lastName === 'ROULANT')).toBe(true);
  });
});

describe('PGlite directory', () => {
  it('is held by one process at a time: a second opener is refused, a dead holder’s lock is taken over', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-pglite-'));
    const data = path.join(dir, 'db');
    try {
      const first = await pgliteDb(data, 'server');
      await migrate(first);
      const refused = await pgliteDb(data, 'admin').then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(DataDirInUse);
      expect((refused as Error).message).toMatch(/^base utilisée par un serveur en marche \(PID \d+ sur /);
      await first.close();
      expect(fs.existsSync(path.join(data, LOCK_FILE))).toBe(false);

      // A holder killed without closing (kill -9, power cut) leaves its lock: a gone PID does not hold it.
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
      fs.writeFileSync(
        path.join(data, LOCK_FILE),
        JSON.stringify({ pid: Number(gone), host: os.hostname(), holder: 'server', since: 'x' }),
      );
      const second = await pgliteDb(data, 'admin');
      expect(JSON.parse(fs.readFileSync(path.join(data, LOCK_FILE), 'utf8'))).toMatchObject({
        pid: process.pid,
        holder: 'admin',
      });
      await second.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
