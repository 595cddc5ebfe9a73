// `npm run server:admin -- <command>`: enrolment and directory administration, straight on the database
// (DATABASE_URL or --data-dir). Secrets (session codes) are read from standard input, never from argv.
import fs from 'node:fs';
import { Audit } from './audit';
import { migrate } from './db';
import { Directory } from './directory';
import { argValue, openDb } from './options';
import { Sessions } from './sessions';

const HELP = `Usage: npm run server:admin -- <command> [--database-url URL | --data-dir DIR]
  account add --idnat ID --login LOGIN --last NOM --first PRENOM [--profession P]
  account list
  account set-code LOGIN            (reads the code from standard input)
  account import FILE.csv           (id_nat;ad_login;last_name;first_name;profession;badge_id)
  badge bind BADGE_ID LOGIN
  badge revoke BADGE_ID [--reason TEXT]
  workstation token LABEL           (one-time enrolment token for the MSI / policy)
  workstation revoke CLIENT_ID
  session list
  session end --user LOGIN          (admin termination: every workstation of that user locks)
  audit [--user LOGIN] [--limit N]
  audit verify`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function runAdmin(argv: string[], out: (s: string) => void = console.log): Promise<number> {
  const [area, cmd, ...rest] = argv;
  if (!area || area === '--help') {
    out(HELP);
    return area ? 0 : 2;
  }
  const db = await openDb(argv);
  try {
    await migrate(db);
    const dir = new Directory(db);
    const audit = new Audit(db);
    const sessions = new Sessions(db, 0, () => new Date());
    const who = async (login: string) => {
      const a = await dir.accountByLogin(login);
      if (!a) throw new Error(`compte inconnu : ${login}`);
      return a;
    };
    const admin = { workstation: 'admin-cli' };
    switch (`${area} ${cmd ?? ''}`.trim()) {
      case 'account add': {
        const a = await dir.addAccount({
          idNat: argValue(rest, '--idnat') ?? null,
          adLogin: argValue(rest, '--login') ?? null,
          lastName: argValue(rest, '--last') ?? '',
          firstName: argValue(rest, '--first') ?? '',
          profession: argValue(rest, '--profession') ?? null,
        });
        if (!a.lastName || !a.firstName) throw new Error('--last et --first sont requis');
        await audit.append({ ...admin, action: 'admin.account.add', outcome: 'ok', accountId: a.id });
        out(`compte ${a.id} (${a.firstName} ${a.lastName})`);
        return 0;
      }
      case 'account list':
        for (const a of await dir.listAccounts())
          out(`${a.id}\t${a.idNat ?? ''}\t${a.adLogin ?? ''}\t${a.lastName}\t${a.firstName}\t${a.profession ?? ''}`);
        return 0;
      case 'account set-code': {
        const a = await who(rest[0] ?? '');
        const code = await readStdin();
        if (!/^\d{4,8}$/.test(code)) throw new Error('le code doit avoir 4 à 8 chiffres (lu sur l’entrée standard)');
        await dir.setSecret(a.id, code);
        await audit.append({ ...admin, action: 'admin.account.set-code', outcome: 'ok', accountId: a.id });
        out('code enregistré');
        return 0;
      }
      case 'account import': {
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
      }
      case 'badge bind': {
        const a = await who(rest[1] ?? '');
        const r = await dir.bindBadge(rest[0] ?? '', a.id);
        await audit.append({
          ...admin,
          action: 'admin.badge.bind',
          outcome: r.ok ? 'ok' : 'refused',
          accountId: a.id,
          details: { badgeId: rest[0] },
        });
        out(r.ok ? 'badge attribué' : 'refusé : ce badge appartient déjà à une autre personne');
        return r.ok ? 0 : 1;
      }
      case 'badge revoke': {
        const ok = await dir.revokeBadge(rest[0] ?? '', argValue(rest, '--reason') ?? 'perdu');
        await audit.append({
          ...admin,
          action: 'admin.badge.revoke',
          outcome: ok ? 'ok' : 'refused',
          details: { badgeId: rest[0] },
        });
        out(ok ? 'badge révoqué' : 'aucun badge actif avec cet identifiant');
        return ok ? 0 : 1;
      }
      case 'workstation token': {
        const token = await dir.createEnrolmentToken(rest[0] ?? 'poste');
        await audit.append({
          ...admin,
          action: 'admin.workstation.token',
          outcome: 'ok',
          details: { label: rest[0] ?? 'poste' },
        });
        out(token);
        return 0;
      }
      case 'workstation revoke': {
        const ok = await dir.revokeWorkstation(rest[0] ?? '');
        await audit.append({
          ...admin,
          action: 'admin.workstation.revoke',
          outcome: ok ? 'ok' : 'refused',
          details: { clientId: rest[0] },
        });
        out(ok ? 'poste révoqué' : 'poste inconnu ou déjà révoqué');
        return ok ? 0 : 1;
      }
      case 'session list':
        for (const s of await sessions.listActive())
          out(`${s.id}\t${s.accountId}\t${s.authTime.toISOString()}\t${s.expiresAt.toISOString()}\t${s.amr.join(',')}`);
        return 0;
      case 'session end': {
        const a = await who(argValue(rest, '--user') ?? '');
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
      }
      case 'audit verify': {
        const v = await audit.verify();
        out(
          v.ok
            ? `chaîne d’audit intègre (${v.rows} enregistrements)`
            : `chaîne d’audit ROMPUE à l’enregistrement ${v.brokenAt} : ${v.reason}`,
        );
        return v.ok ? 0 : 1;
      }
      case 'audit':
      default: {
        if (area !== 'audit') {
          out(HELP);
          return 2;
        }
        const user = argValue(argv, '--user');
        const rows = await audit.query({
          ...(user ? { accountId: (await who(user)).id } : {}),
          limit: Number(argValue(argv, '--limit') ?? 50),
        });
        for (const r of rows)
          out(
            `${r.seq}\t${r.at}\t${r.action}\t${r.outcome}\t${r.accountId ?? ''}\t${r.workstation ?? ''}\t${r.factor ?? ''}\t${r.reason ?? ''}`,
          );
        return 0;
      }
    }
  } catch (e) {
    out(`erreur : ${(e as Error).message}`);
    return 1;
  } finally {
    await db.close();
  }
}

if (process.argv[1] && /cli\.(ts|js)$/.test(process.argv[1])) {
  runAdmin(process.argv.slice(2)).then((code) => process.exit(code));
}
