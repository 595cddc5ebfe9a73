// `server:admin` commands on the audit chain: listing, verifying (with checkpoints kept elsewhere, an
// export offline, a workstation's own journal), signing a checkpoint, exporting a slice.
import fs from 'node:fs';
import { compareWithServerHeads, parseAuditLine } from '@sillage/protocol';
import type { AuditChainRecord } from '@sillage/protocol';
import type { JWK } from 'jose';
import { exportSlice, verifySlice } from '../audit-export';
import { argValue } from '../options';
import { ADMIN as admin, readNamedFile } from './context';
import type { AdminCommand } from './context';

export const listAudit: AdminCommand = async ({ argv, out, audit, who }) => {
  const user = argValue(argv, '--user');
  const rows = await audit.query({
    ...(user ? { accountId: (await who(user)).id } : {}),
    limit: Number(argValue(argv, '--limit') ?? 50),
  });
  for (const r of rows)
    out(
      `${r.seq}\t${r.at}\t${r.action}\t${r.outcome}\t${r.accountId ?? ''}\t${r.workstation ?? ''}\t` +
        `${r.factor ?? ''}\t${r.reason ?? ''}`,
    );
  return 0;
};

/** Checkpoints kept outside the database: one JWS per line, or the server's JSON log lines carrying one. */
function checkpointLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      if (!l.startsWith('{')) return l;
      const v = JSON.parse(l) as { jws?: unknown };
      return typeof v.jws === 'string' ? v.jws : '';
    })
    .filter(Boolean);
}

export const verifyAudit: AdminCommand = async ({ argv, out, audit }) => {
  const file = argValue(argv, '--checkpoints');
  const v = await audit.verify(file ? checkpointLines(fs.readFileSync(file, 'utf8')) : []);
  out(
    v.ok
      ? `chaîne d’audit intègre : ${v.rows} enregistrement${v.rows > 1 ? 's' : ''}`
      : `chaîne d’audit ROMPUE à l’enregistrement ${v.brokenAt} : ${v.reason}`,
  );
  return v.ok ? 0 : 1;
};

export const checkpointAudit: AdminCommand = async ({ out, audit }) => {
  const cp = await audit.checkpoint();
  out(cp ? cp.jws : 'aucun nouvel enregistrement depuis le dernier point de contrôle');
  return 0;
};

export const exportAudit: AdminCommand = async ({ argv, out, audit, auditKeys }) => {
  const file = argValue(argv, '--out');
  if (!file) throw new Error('--out FICHIER est requis');
  const num = (name: string) => {
    const v = argValue(argv, name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new Error(`${name} attend un numéro d’enregistrement`);
    return Number(v);
  };
  const date = (name: string) => {
    const v = argValue(argv, name);
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new Error(`${name} attend une date (AAAA-MM-JJ ou ISO 8601)`);
    return d;
  };
  const range = { from: num('--from'), to: num('--to'), since: date('--since'), until: date('--until') };
  const keys = await auditKeys();
  if (!keys) throw new Error('aucune clé de signature : démarrez le serveur de session une première fois');
  const text = await exportSlice(audit, keys.verifiers, range, new Date());
  // Personal data (who logged in where): for the RSSI's eyes, not the machine's other accounts.
  fs.writeFileSync(file, text, { mode: 0o600 });
  const header = JSON.parse(text.slice(0, text.indexOf('\n'))) as { from: number; to: number };
  await audit.append({
    ...admin,
    action: 'admin.audit.export',
    outcome: 'ok',
    details: { from: header.from, to: header.to },
  });
  out(`enregistrements ${header.from} à ${header.to} exportés dans ${file}`);
  return 0;
};

export const verifyAgentAudit: AdminCommand = async ({ argv, args: rest, out, audit }) => {
  const ws = argValue(argv, '--workstation');
  const file = rest[0];
  if (!ws || !file || file.startsWith('--'))
    throw new Error('usage : audit verify-agent FICHIER --workstation CLIENT_ID');
  const lines = readNamedFile(file, {
    fr:
      'copiez le journal d’audit du poste (audit.jsonl, dans le dossier de données de l’agent) ' +
      'et donnez son chemin complet',
    en: "copy the workstation's audit log (audit.jsonl, in the agent's data directory) and give its full path",
  }).split('\n');
  const records = lines.map(parseAuditLine).filter((r): r is AuditChainRecord => r !== null);
  const unreadable = lines.filter((l) => l.trim() && !parseAuditLine(l)).length;
  const heads = await audit.agentHeads(ws);
  const problems = [
    ...(unreadable ? [`${unreadable} unreadable line(s)`] : []),
    ...compareWithServerHeads(records, heads),
  ];
  await audit.append({
    ...admin,
    action: 'admin.audit.verify-agent',
    outcome: problems.length ? 'error' : 'ok',
    reason: problems[0] ?? null,
    details: { of: ws, records: records.length, heads: heads.length },
  });
  if (problems.length) {
    out(`journal du poste ${ws} NON VÉRIFIÉ :`);
    for (const p of problems) out(`  ${p}`);
    return 1;
  }
  const last = heads.at(-1);
  out(
    `journal du poste ${ws} vérifié : ${records.length} enregistrement(s), ${heads.length} tête(s) relevée(s) ` +
      `par le serveur${last ? ` (dernière : #${last.seq} le ${last.at})` : " : aucune, rien n'est ancré"}`,
  );
  return 0;
};

/** An export checked offline (the RSSI's copy needs nothing but itself): no database is opened. */
export async function verifyExportFile(
  file: string,
  jwks: string | undefined,
  out: (s: string) => void,
): Promise<number> {
  try {
    const trusted = jwks ? (JSON.parse(fs.readFileSync(jwks, 'utf8')) as { keys: JWK[] }).keys : undefined;
    const v = await verifySlice(fs.readFileSync(file, 'utf8'), trusted);
    if (!v.ok) {
      out(`export NON VÉRIFIÉ : ${v.reason}`);
      return 1;
    }
    out(`export vérifié : enregistrements ${v.from} à ${v.to}, ${v.checkpoints} point(s) de contrôle signé(s)`);
    const compare = trusted ? '' : ' : comparez-la à celle du serveur (keys list)';
    for (const s of v.signers) out(`signé par ${s.kid} (empreinte ${s.thumbprint})${compare}`);
    return 0;
  } catch (e) {
    out(`erreur : ${(e as Error).message}`);
    return 1;
  }
}
