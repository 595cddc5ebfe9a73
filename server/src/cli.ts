// `npm run server:admin -- <command>`: enrolment and directory administration, straight on the database
// (DATABASE_URL or --data-dir). Secrets (session codes) are typed at a prompt or read from standard input,
// never from argv.
import fs from 'node:fs';
import { calculateJwkThumbprint } from 'jose';
import { compareWithServerHeads, parseAuditLine } from '@sillage/protocol';
import type { AuditChainRecord } from '@sillage/protocol';
import type { JWK } from 'jose';
import { Audit } from './audit';
import type { CheckpointKeys } from './audit';
import { exportSlice, verifySlice } from './audit-export';
import { migrate } from './db';
import type { Db } from './db';
import { Directory } from './directory';
import { argValue, defaultDataDir, kekFromFile, openDb, secretsKey, splitArgs } from './options';
import { checkpointKeys, keyPlan, SecretStore } from './secrets';
import { Sessions } from './sessions';

const HELP = `Usage: npm run server:admin -- <command> [--database-url URL | --data-dir DIR] [--secrets-key-file FILE]
  account add --idnat ID --login LOGIN --last NOM --first PRENOM [--profession P]
  account list
  account set-code LOGIN            (asks for the code; or reads it from standard input)
  account import FILE.csv           (id_nat;ad_login;last_name;first_name;profession;badge_uid;badge_id)
  badge bind LOGIN --uid UID [--number N]
                                    (UID: the chip UID that "npm run badge -- encode" prints; N: the number on it)
  badge bind LOGIN --number N       (badges read by readers that check them themselves: reader-verified)
  badge revoke UID|NUMBER [--reason TEXT]
  enrolment-token LABEL             one-time enrolment token for one PC, valid 7 days (MSI / policy)
                                    (also: workstation token LABEL)
  workstation revoke CLIENT_ID
  session list
  session end --user LOGIN          (admin termination: every workstation of that user locks)
  audit [--user LOGIN] [--limit N]
  audit verify [--checkpoints FILE] (FILE: checkpoints kept elsewhere, one JWS or server log line each)
  audit checkpoint                  (signs the chain's head now, prints the JWS)
  audit export --out FILE [--from SEQ] [--to SEQ] [--since DATE] [--until DATE]
                                    (a slice with the signed checkpoints to verify it offline)
  audit verify-export FILE [--jwks FILE]   (no database needed; --jwks: trust only these keys)
  audit verify-agent FILE --workstation CLIENT_ID
                                    (a workstation's audit.jsonl against the chain heads it sent with its
                                     logins and re-opens: a cut tail, a rolled-back or rewritten file)
  db migrate                        (applies the schema migrations: run it as the owner role)
  keys list                         (signing keys: state, dates, RFC 7638 thumbprints)
  keys rotate [--publish-delay-minutes N]  (new signing keys, published now, signing after N min, default 60)
  keys rewrap --new-key-file FILE   (seals the secrets under a new key-encryption key; restart the servers with it)
  help

Database: PostgreSQL with --database-url (or DATABASE_URL): these commands run beside the running
servers. Otherwise PGlite in --data-dir (or SILLAGE_SERVER_DATA; default ${defaultDataDir()}), which
serves one process at a time: run them while the server is stopped.`;

const COMMANDS = new Set([
  'account add',
  'account list',
  'account set-code',
  'account import',
  'badge bind',
  'badge revoke',
  'workstation token',
  'workstation revoke',
  'session list',
  'session end',
  'audit verify',
  'audit checkpoint',
  'audit export',
  'audit verify-export',
  'audit verify-agent',
  'db migrate',
  'keys list',
  'keys rotate',
  'keys rewrap',
]);

/** The command the words name and its positional arguments, or null when there is no such command. */
function command(w: string[]): { name: string; args: string[] } | null {
  const [a = '', b = '', ...rest] = w;
  if (a === 'enrolment-token') return { name: 'workstation token', args: w.slice(1) };
  if (a === 'audit' && !b) return { name: 'audit', args: [] };
  const name = `${a} ${b}`;
  return COMMANDS.has(name) ? { name, args: rest } : null;
}

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

export async function runAdmin(argv: string[], out: (s: string) => void = console.log): Promise<number> {
  const { words: w, unknown } = splitArgs(argv, HELP);
  const asked = w[0] === 'help' || argv.includes('--help') || argv.includes('-h');
  if (asked || w.length === 0) {
    out(HELP);
    return asked ? 0 : 2;
  }
  if (unknown) {
    out(`option inconnue / unknown option : ${unknown}\n`);
    out(HELP);
    return 2;
  }
  const cmd = command(w);
  if (!cmd) {
    out(`commande inconnue / unknown command : ${w.join(' ')}\n`);
    out(HELP);
    return 2;
  }
  const rest = cmd.args;
  // Offline: the RSSI's copy needs nothing but itself.
  if (cmd.name === 'audit verify-export') return verifyExportFile(rest[0] ?? '', argValue(argv, '--jwks'), out);
  let db: Db;
  try {
    db = await openDb(argv, 'admin');
  } catch (e) {
    out(`erreur : ${(e as Error).message}`);
    return 1;
  }
  try {
    await migrate(db);
    const dir = new Directory(db);
    let store: SecretStore | undefined;
    const secrets = () => (store ??= new SecretStore(db, secretsKey(argv)));
    const auditKeys = async (): Promise<CheckpointKeys | null> => {
      const s = await secrets().read();
      return s && checkpointKeys(s, keyPlan(s, new Date(), 0));
    };
    const audit = new Audit(db, undefined, auditKeys);
    const sessions = new Sessions(db, 0, () => new Date());
    const who = async (login: string) => {
      const a = await dir.accountByLogin(login);
      if (!a) throw new Error(`compte inconnu : ${login}`);
      return a;
    };
    const admin = { workstation: 'admin-cli' };
    switch (cmd.name) {
      case 'account add': {
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
      }
      case 'account list':
        for (const a of await dir.listAccounts())
          out(`${a.id}\t${a.idNat ?? ''}\t${a.adLogin ?? ''}\t${a.lastName}\t${a.firstName}\t${a.profession ?? ''}`);
        return 0;
      case 'account set-code': {
        const a = await who(rest[0] ?? '');
        const code = await readSecret(`Code de session de ${a.adLogin ?? a.id} (4 à 8 chiffres, non affiché) : `);
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
      }
      case 'badge revoke': {
        const ok = await dir.revokeBadge(rest[0] ?? '', argValue(argv, '--reason') ?? 'perdu');
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
      }
      case 'audit verify': {
        const file = argValue(argv, '--checkpoints');
        const v = await audit.verify(file ? checkpointLines(fs.readFileSync(file, 'utf8')) : []);
        out(
          v.ok
            ? `chaîne d’audit intègre : ${v.rows} enregistrement${v.rows > 1 ? 's' : ''}`
            : `chaîne d’audit ROMPUE à l’enregistrement ${v.brokenAt} : ${v.reason}`,
        );
        return v.ok ? 0 : 1;
      }
      case 'audit checkpoint': {
        const cp = await audit.checkpoint();
        out(cp ? cp.jws : 'aucun nouvel enregistrement depuis le dernier point de contrôle');
        return 0;
      }
      case 'audit export': {
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
      }
      case 'db migrate': {
        const { rows } = await db.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations');
        out(`schéma à la version ${rows[0]?.v ?? 0}`);
        return 0;
      }
      case 'keys list': {
        const s = await secrets().read();
        if (!s) throw new Error('aucune clé : démarrez le serveur de session une première fois');
        const now = Date.now();
        const plan = keyPlan(s, new Date(), 0);
        for (const k of s.signing) {
          const state = !k.priv
            ? 'effacée'
            : Date.parse(k.activeAt) > now
              ? `publiée, signera à partir du ${k.activeAt}`
              : plan.signing[k.alg].kid === k.kid
                ? 'signe'
                : 'remplacée, publiée tant que ses jetons vivent';
          out(`${k.kid}\t${k.alg}\t${await calculateJwkThumbprint(k.pub)}\t${state}`);
        }
        out(store!.sealed ? 'secrets chiffrés (AES-256-GCM)' : 'secrets en clair : donnez --secrets-key-file');
        return 0;
      }
      case 'keys rotate': {
        const minutes = Number(argValue(argv, '--publish-delay-minutes') ?? 60);
        // Relying parties cache the JWKS and instances re-read keys every 30 s: a key must be seen first.
        if (!(Number.isFinite(minutes) && minutes >= 5 && minutes <= 10080))
          throw new Error('--publish-delay-minutes attend un nombre de minutes de 5 à 10080');
        const at = new Date();
        const fresh = await secrets().rotate(at, minutes * 60_000);
        await audit.append({
          ...admin,
          action: 'admin.keys.rotate',
          outcome: 'ok',
          details: { kids: fresh.map((k) => k.kid), activeAt: fresh[0]!.activeAt },
        });
        out(
          `nouvelles clés ${fresh.map((k) => k.kid).join(', ')} publiées ; elles signeront à partir du ${fresh[0]!.activeAt}`,
        );
        return 0;
      }
      case 'keys rewrap': {
        const file = argValue(argv, '--new-key-file');
        if (!file) throw new Error('--new-key-file FICHIER est requis');
        const next = kekFromFile(file);
        await secrets().rewrap(next);
        await audit.append({ ...admin, action: 'admin.keys.rewrap', outcome: 'ok', details: { kek: next.id } });
        out(
          `secrets scellés sous la nouvelle clé ${next.id} : redémarrez chaque instance avec --secrets-key-file ${file}`,
        );
        return 0;
      }
      case 'audit verify-agent': {
        const ws = argValue(argv, '--workstation');
        const file = rest[0];
        if (!ws || !file || file.startsWith('--'))
          throw new Error('usage : audit verify-agent FICHIER --workstation CLIENT_ID');
        const lines = fs.readFileSync(file, 'utf8').split('\n');
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
          `journal du poste ${ws} vérifié : ${records.length} enregistrement(s), ${heads.length} tête(s) relevée(s) par le serveur${last ? ` (dernière : #${last.seq} le ${last.at})` : " : aucune, rien n'est ancré"}`,
        );
        return 0;
      }
      case 'audit': {
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
    return 2;
  } catch (e) {
    out(`erreur : ${(e as Error).message}`);
    return 1;
  } finally {
    await db.close();
  }
}

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

async function verifyExportFile(file: string, jwks: string | undefined, out: (s: string) => void): Promise<number> {
  try {
    const trusted = jwks ? (JSON.parse(fs.readFileSync(jwks, 'utf8')) as { keys: JWK[] }).keys : undefined;
    const v = await verifySlice(fs.readFileSync(file, 'utf8'), trusted);
    if (!v.ok) {
      out(`export NON VÉRIFIÉ : ${v.reason}`);
      return 1;
    }
    out(`export vérifié : enregistrements ${v.from} à ${v.to}, ${v.checkpoints} point(s) de contrôle signé(s)`);
    for (const s of v.signers)
      out(
        `signé par ${s.kid} (empreinte ${s.thumbprint})${trusted ? '' : ' : comparez-la à celle du serveur (keys list)'}`,
      );
    return 0;
  } catch (e) {
    out(`erreur : ${(e as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && /cli\.(ts|js)$/.test(process.argv[1])) {
  runAdmin(process.argv.slice(2)).then((code) => process.exit(code));
}
