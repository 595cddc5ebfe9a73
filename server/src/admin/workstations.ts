// `server:admin` commands on workstations, roaming sessions and the database schema.
import { argValue } from '../options';
import { ADMIN as admin, revoked } from './context';
import type { AdminCommand } from './context';

export const enrolmentToken: AdminCommand = async ({ args: rest, out, dir, audit }) => {
  const token = await dir.createEnrolmentToken(rest[0] ?? 'poste');
  await audit.append({
    ...admin,
    action: 'admin.workstation.token',
    outcome: 'ok',
    details: { label: rest[0] ?? 'poste' },
  });
  out(token);
  return 0;
};

export const revokeWorkstation: AdminCommand = async (c) =>
  revoked(
    c,
    await c.dir.revokeWorkstation(c.args[0] ?? ''),
    'admin.workstation.revoke',
    { clientId: c.args[0] },
    { done: 'poste révoqué', refused: 'poste inconnu ou déjà révoqué' },
  );

export const listSessions: AdminCommand = async ({ out, sessions }) => {
  for (const s of await sessions.listActive())
    out(`${s.id}\t${s.accountId}\t${s.authTime.toISOString()}\t${s.expiresAt.toISOString()}\t${s.amr.join(',')}`);
  return 0;
};

export const endSessions: AdminCommand = async ({ argv, out, sessions, audit, who }) => {
  const a = await who(argValue(argv, '--user') ?? '');
  const n = await sessions.endAllForAccount(a.id, 'admin-termination');
  await audit.append({
    ...admin,
    action: 'admin.session.end',
    outcome: 'ok',
    accountId: a.id,
    details: { sessions: n },
  });
  out(`${n} session(s) terminée(s)`);
  return 0;
};

/** runAdmin migrated the schema before any command: this one reports where it stands. */
export const dbMigrate: AdminCommand = async ({ out, db }) => {
  const { rows } = await db.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations');
  out(`schéma à la version ${rows[0]?.v ?? 0}`);
  return 0;
};
