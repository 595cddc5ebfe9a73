// `server:admin` commands on accounts and their badges.
import fs from 'node:fs';
import { argValue } from '../options';
import { ADMIN as admin, revoked } from './context';
import type { AdminCommand } from './context';

/** A code typed at a terminal (not echoed), or standard input when it is a pipe or a file. */
async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').trim();
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed.trim());
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new Error('saisie interrompue'));
        typed = ch === '\u007f' || ch === '\b' ? typed.slice(0, -1) : typed + ch;
      }
    };
    stdin.on('data', onData);
  });
}

export const addAccount: AdminCommand = async ({ argv, out, dir, audit }) => {
  const lastName = argValue(argv, '--last') ?? '';
  const firstName = argValue(argv, '--first') ?? '';
  if (!lastName || !firstName) throw new Error('--last et --first sont requis');
  const a = await dir.addAccount({
    idNat: argValue(argv, '--idnat') ?? null,
    adLogin: argValue(argv, '--login') ?? null,
    lastName,
    firstName,
    profession: argValue(argv, '--profession') ?? null,
  });
  await audit.append({ ...admin, action: 'admin.account.add', outcome: 'ok', accountId: a.id });
  out(`compte ${a.id} (${a.firstName} ${a.lastName})`);
  return 0;
};

export const listAccounts: AdminCommand = async ({ out, dir }) => {
  for (const a of await dir.listAccounts())
    out(`${a.id}\t${a.idNat ?? ''}\t${a.adLogin ?? ''}\t${a.lastName}\t${a.firstName}\t${a.profession ?? ''}`);
  return 0;
};

export const setCode: AdminCommand = async ({ args: rest, out, dir, audit, who }) => {
  const a = await who(rest[0] ?? '');
  const code = await readSecret(`Code de session de ${a.adLogin ?? a.id} (4 à 8 chiffres, non affiché) : `);
  if (!/^\d{4,8}$/.test(code)) throw new Error('le code doit avoir 4 à 8 chiffres (lu sur l’entrée standard)');
  await dir.setSecret(a.id, code);
  await audit.append({ ...admin, action: 'admin.account.set-code', outcome: 'ok', accountId: a.id });
  out('code enregistré');
  return 0;
};

export const importAccounts: AdminCommand = async ({ args: rest, out, dir, audit }) => {
  const r = await dir.importCsv(fs.readFileSync(rest[0] ?? '', 'utf8'));
  await audit.append({
    ...admin,
    action: 'admin.account.import',
    outcome: r.errors.length ? 'error' : 'ok',
    details: { imported: r.imported, errors: r.errors.length },
  });
  out(`${r.imported} comptes importés`);
  r.errors.forEach((e) => out(e));
  return r.errors.length ? 1 : 0;
};

export const bindBadge: AdminCommand = async ({ argv, args: rest, out, dir, audit, who }) => {
  const a = await who(rest[0] ?? '');
  const badge = { uid: argValue(argv, '--uid') ?? null, number: argValue(argv, '--number') ?? null };
  if (!badge.uid && !badge.number) throw new Error('--uid ou --number est requis');
  const r = await dir.bindBadge(badge, a.id);
  await audit.append({
    ...admin,
    action: 'admin.badge.bind',
    outcome: r.ok ? 'ok' : 'refused',
    accountId: a.id,
    details: badge,
  });
  out(
    r.ok
      ? 'badge attribué'
      : r.reason === 'taken'
        ? 'refusé : ce badge appartient déjà à une autre personne'
        : 'refusé : UID illisible (8, 14 ou 20 chiffres hexadécimaux) ou numéro vide',
  );
  return r.ok ? 0 : 1;
};

export const revokeBadge: AdminCommand = async (c) =>
  revoked(
    c,
    await c.dir.revokeBadge(c.args[0] ?? '', argValue(c.argv, '--reason') ?? 'perdu'),
    'admin.badge.revoke',
    { badgeId: c.args[0] },
    { done: 'badge révoqué', refused: 'aucun badge actif avec cet identifiant' },
  );
