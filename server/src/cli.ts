// `npm run server:admin -- <command>`: enrolment and directory administration, straight on the database
// (DATABASE_URL or --data-dir). Secrets (session codes) are typed at a prompt or read from standard input,
// never from argv. The usage text below is the reference of the commands and their options; each command
// is one handler in the table under it (admin/).
import { addAccount, bindBadge, importAccounts, listAccounts, revokeBadge, setCode } from './admin/accounts';
import {
  checkpointAudit,
  exportAudit,
  listAudit,
  verifyAgentAudit,
  verifyAudit,
  verifyExportFile,
} from './admin/audit';
import type { AdminCommand, AdminContext } from './admin/context';
import { listKeys, rewrapKeys, rotateKeys } from './admin/keys';
import { dbMigrate, endSessions, enrolmentToken, listSessions, revokeWorkstation } from './admin/workstations';
import { Audit } from './audit';
import type { CheckpointKeys } from './audit';
import { migrate } from './db';
import type { Db } from './db';
import { Directory } from './directory';
import { argValue, defaultDataDir, openDb, secretsKey, splitArgs } from './options';
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

/** The commands on the database, by their words ("audit" alone lists records). */
const COMMANDS: Readonly<Record<string, AdminCommand>> = {
  'account add': addAccount,
  'account list': listAccounts,
  'account set-code': setCode,
  'account import': importAccounts,
  'badge bind': bindBadge,
  'badge revoke': revokeBadge,
  'workstation token': enrolmentToken,
  'workstation revoke': revokeWorkstation,
  'session list': listSessions,
  'session end': endSessions,
  audit: listAudit,
  'audit verify': verifyAudit,
  'audit checkpoint': checkpointAudit,
  'audit export': exportAudit,
  'audit verify-agent': verifyAgentAudit,
  'db migrate': dbMigrate,
  'keys list': listKeys,
  'keys rotate': rotateKeys,
  'keys rewrap': rewrapKeys,
};

/** Checked offline: no database is opened. */
const OFFLINE = 'audit verify-export';

/** The command the words name and its positional arguments, or null when there is no such command. */
function command(w: string[]): { name: string; args: string[] } | null {
  const [a = '', b = '', ...rest] = w;
  if (a === 'enrolment-token') return { name: 'workstation token', args: w.slice(1) };
  if (a === 'audit' && !b) return { name: 'audit', args: [] };
  const name = `${a} ${b}`;
  return Object.hasOwn(COMMANDS, name) || name === OFFLINE ? { name, args: rest } : null;
}

/** The usage error of a command line, or null when it names a command to run. */
function usage(argv: string[], w: string[], unknown: string | null, out: (s: string) => void): number | null {
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
  if (!command(w)) {
    out(`commande inconnue / unknown command : ${w.join(' ')}\n`);
    out(HELP);
    return 2;
  }
  return null;
}

/** What the commands work with, on the open database (the secrets store only when a command needs it). */
function adminContext(db: Db, argv: string[], args: string[], out: (s: string) => void): AdminContext {
  const dir = new Directory(db);
  let store: SecretStore | undefined;
  const secrets = () => (store ??= new SecretStore(db, secretsKey(argv)));
  const auditKeys = async (): Promise<CheckpointKeys | null> => {
    const s = await secrets().read();
    return s && checkpointKeys(s, keyPlan(s, new Date(), 0));
  };
  const who = async (login: string) => {
    const a = await dir.accountByLogin(login);
    if (!a) throw new Error(`compte inconnu : ${login}`);
    return a;
  };
  const audit = new Audit(db, undefined, auditKeys);
  const sessions = new Sessions(db, 0, () => new Date());
  return { argv, args, out, db, dir, audit, sessions, secrets, auditKeys, who };
}

export async function runAdmin(argv: string[], out: (s: string) => void = console.log): Promise<number> {
  const { words: w, unknown } = splitArgs(argv, HELP);
  const refused = usage(argv, w, unknown, out);
  if (refused !== null) return refused;
  const cmd = command(w)!;
  if (cmd.name === OFFLINE) return verifyExportFile(cmd.args[0] ?? '', argValue(argv, '--jwks'), out);
  let db: Db;
  try {
    db = await openDb(argv, 'admin');
  } catch (e) {
    out(`erreur : ${(e as Error).message}`);
    return 1;
  }
  try {
    await migrate(db);
    return await COMMANDS[cmd.name]!(adminContext(db, argv, cmd.args, out));
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
