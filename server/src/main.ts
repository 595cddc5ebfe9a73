// `npm run server`: the session server. Prints its issuer URL (OIDC discovery at
// /.well-known/openid-configuration). PostgreSQL with DATABASE_URL, else PGlite in a data directory.
import fs from 'node:fs';
import { WEAK_BADGE_PROOFS } from '@sillage/protocol';
import type { WeakBadgeProofKind } from '@sillage/protocol';
import { pkcs11RelayKeys } from './desfire-hsm';
import { startServer } from './app';
import { loginTicketSeconds } from './grants/badge';
import { jsonLog } from './log';
import type { Log } from './log';
import { argValue, argValues, openDb, secretsKey, splitArgs } from './options';
import type { RelyingParty } from './provider';
import type { ServerOptions, SessionServer } from './app';
import type { Db } from './db';

interface Seed {
  accounts: {
    idNat: string;
    adLogin: string;
    lastName: string;
    firstName: string;
    profession: string;
    code?: string;
    /** Chip UID (hex) and/or the number printed on the badge. */
    badges?: { uid?: string; number?: string }[];
  }[];
  enrolmentToken?: string;
}

async function applySeed(server: SessionServer, seed: Seed) {
  for (const a of seed.accounts) {
    const acc = await server.directory.addAccount({
      idNat: a.idNat,
      adLogin: a.adLogin,
      lastName: a.lastName,
      firstName: a.firstName,
      profession: a.profession,
    });
    if (a.code) await server.directory.setSecret(acc.id, a.code);
    for (const b of a.badges ?? []) {
      const r = await server.directory.bindBadge(b, acc.id);
      if (!r.ok) throw new Error(`seed: badge ${b.uid ?? b.number} of ${a.adLogin}: ${r.reason}`);
    }
  }
  if (seed.enrolmentToken)
    await server.directory.createEnrolmentToken('seeded workstation', 10 * 60_000, seed.enrolmentToken);
}

const HELP = `Usage: npm run server -- [options]
  --port N                 listening port (default 7443, or SILLAGE_SERVER_PORT; 0 = any)
  --host H                 listening address (default 127.0.0.1)
  --issuer URL             public URL when behind a reverse proxy (TLS terminates there)
  --database-url URL       PostgreSQL (or DATABASE_URL); default: PGlite in --data-dir
  --db-pool-size N         PostgreSQL connections per instance (or DATABASE_POOL_SIZE; default 4: the hot
                           statements are batched, and fewer busy backends cost the database less CPU)
  --db-prepared-statements on|off
                           named (prepared) hot statements (or DATABASE_PREPARED_STATEMENTS; default on);
                           off behind PgBouncer older than 1.21 in transaction mode (docs/scaling.md)
  --data-dir DIR           PGlite directory (or SILLAGE_SERVER_DATA; default ~/.local/share/sillage-server,
                           created if missing); one process at a time: stop the server to run server:admin
  --secrets-key-file FILE  key-encryption key sealing the server's signing keys in the database (or
                           SILLAGE_SECRETS_KEY_FILE, or the key itself in SILLAGE_SECRETS_KEY): 32 bytes
                           as 64 hex digits or base64, file readable by the server's account only; PGlite
                           makes its own in --data-dir when none is given
  --audit-checkpoint-minutes N  sign a checkpoint of the audit chain's head this often when it moved
                           (default 5; each also goes to the log)
  --trust-anchor FILE      PEM root CA for CPS certificates (repeatable; IGC-Santé roots in production)
  --intermediate FILE      PEM issuing CA used to build CPS chains (repeatable)
  --relying-parties FILE   JSON [{"clientId","clientSecretEnv","audiences":[...]}] (secrets from env vars)
  --mfa-window-minutes N   roaming MFA window (default 240)
  --clock-skew-seconds N   how far a workstation's clock may be from this server's (default 120, at most
                           900); the agents follow it and say "Horloge du poste décalée" beyond it
  --login-ticket-seconds N how long the code may be typed after a badge tap at a first login (default 120,
                           30 to 600); past it the agent asks for a new tap
  --allow-badge-proof KIND accept a badge proof this server cannot check itself (repeatable; none by
                           default): local-key (keys on the workstation), reader-verified (readers that
                           check badges with their own keys), uid-only (copyable). Labelled in acr/amr.
  --desfire-keys FILE      DESFire master keys for the badge relay, {"F51230/1": "hex"}; the file must be
                           readable by the server's account only (chmod 600)
  --desfire-pkcs11 MODULE  or keep them in a PKCS#11 token (HSM): AES keys labelled "DESFire F51230/1",
  --desfire-token LABEL    in this token; PIN in the SILLAGE_DESFIRE_PIN environment variable
  --metrics-port N         Prometheus metrics at http://HOST:N/metrics on a listener of their own (off
                           by default; never expose it through the public balancer)
  --metrics-host H         address of the metrics listener (default 127.0.0.1)
  --log-level L            info (one line per request) | warn | error
  --seed FILE              JSON accounts/badges/codes and one enrolment token to load at start, then
                           delete (the embedded demo server of npm start)`;

/** The relying parties of a --relying-parties file, their secrets from the environment variables it names. */
function relyingPartiesFrom(file: string | undefined): RelyingParty[] {
  if (!file) return [];
  const listed = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    clientId: string;
    clientSecretEnv: string;
    audiences: string[];
  }[];
  return listed.map((r) => {
    const secret = process.env[r.clientSecretEnv];
    if (!secret) throw new Error(`relying party ${r.clientId}: environment variable ${r.clientSecretEnv} is not set`);
    return { clientId: r.clientId, clientSecret: secret, audiences: r.audiences };
  });
}

/** The DESFire master keys of the relay: a file of the server's account only, or a PKCS#11 token. */
function desfireKeysFrom(argv: string[]): Pick<ServerOptions, 'desfireKeys'> & {
  desfireKeyStore?: ReturnType<typeof pkcs11RelayKeys>;
} {
  const keysFile = argValue(argv, '--desfire-keys');
  let desfireKeys: Record<string, string> | undefined;
  if (keysFile) {
    // Master keys of every badge: a file others can read is a cloning kit, refused.
    if (process.platform !== 'win32' && fs.statSync(keysFile).mode & 0o077)
      throw new Error(`${keysFile}: readable by others, chmod 600 it`);
    desfireKeys = JSON.parse(fs.readFileSync(keysFile, 'utf8')) as Record<string, string>;
  }
  const hsmModule = argValue(argv, '--desfire-pkcs11');
  let desfireKeyStore: ReturnType<typeof pkcs11RelayKeys> | undefined;
  if (hsmModule) {
    const pin = process.env.SILLAGE_DESFIRE_PIN;
    if (!pin) throw new Error('--desfire-pkcs11 needs the token PIN in the SILLAGE_DESFIRE_PIN environment variable');
    desfireKeyStore = pkcs11RelayKeys({
      module: hsmModule,
      tokenLabel: argValue(argv, '--desfire-token') ?? 'Sillage DESFire',
      pin,
    });
  }
  return { ...(desfireKeys ? { desfireKeys } : {}), ...(desfireKeyStore ? { desfireKeyStore } : {}) };
}

const readPems = (files: string[]) => files.map((f) => fs.readFileSync(f, 'utf8'));

/** What the command line gives, checked before any database is opened. */
function checkedOptions(argv: string[], log: Log) {
  const relyingParties = relyingPartiesFrom(argValue(argv, '--relying-parties'));
  const anchors = readPems(argValues(argv, '--trust-anchor'));
  if (!anchors.length) log.warn('no --trust-anchor: CPS card logins will be refused (untrusted certificate)');
  const keys = desfireKeysFrom(argv);
  const metricsPort = argValue(argv, '--metrics-port');
  if (metricsPort !== undefined && !(/^\d{1,5}$/.test(metricsPort) && Number(metricsPort) <= 65535))
    throw new Error(`--metrics-port must be a port number (got ${metricsPort})`);
  const ticketText = argValue(argv, '--login-ticket-seconds');
  const ticketSeconds = ticketText === undefined ? undefined : loginTicketSeconds(Number(ticketText));
  return { relyingParties, anchors, keys, metricsPort, ticketSeconds };
}

function serverOptions(argv: string[], db: Db, checked: ReturnType<typeof checkedOptions>, log: Log): ServerOptions {
  const { relyingParties, anchors, keys, metricsPort, ticketSeconds } = checked;
  const checkpointMinutes = Number(argValue(argv, '--audit-checkpoint-minutes') ?? 5);
  if (!(checkpointMinutes >= 1 && checkpointMinutes <= 1440))
    throw new Error('--audit-checkpoint-minutes must be a number of minutes from 1 to 1440');
  return {
    db,
    secretsKey: secretsKey(argv),
    auditCheckpointMs: checkpointMinutes * 60_000,
    port: Number(argValue(argv, '--port') ?? process.env.SILLAGE_SERVER_PORT ?? 7443),
    host: argValue(argv, '--host') ?? '127.0.0.1',
    ...(argValue(argv, '--issuer') ? { issuer: argValue(argv, '--issuer')! } : {}),
    trustAnchorsPem: anchors,
    intermediateCasPem: readPems(argValues(argv, '--intermediate')),
    relyingParties,
    mfaWindowMs: Number(argValue(argv, '--mfa-window-minutes') ?? 240) * 60_000,
    ...(ticketSeconds !== undefined ? { loginTicketSeconds: ticketSeconds } : {}),
    ...(argValue(argv, '--clock-skew-seconds') !== undefined
      ? { clockSkewS: Number(argValue(argv, '--clock-skew-seconds')) }
      : {}),
    weakBadgeProofs: argValues(argv, '--allow-badge-proof').map((k) => {
      if (!WEAK_BADGE_PROOFS.includes(k as WeakBadgeProofKind))
        throw new Error(`--allow-badge-proof ${k}: one of ${WEAK_BADGE_PROOFS.join(', ')}`);
      return k as WeakBadgeProofKind;
    }),
    ...keys,
    ...(metricsPort !== undefined
      ? { metrics: { port: Number(metricsPort), host: argValue(argv, '--metrics-host') ?? '127.0.0.1' } }
      : {}),
    log,
  };
}

/** The --seed file, loaded then deleted: it holds a one-time enrolment token, which does not outlive its use. */
async function seedFrom(file: string | undefined, server: SessionServer): Promise<void> {
  if (!file) return;
  const seed = JSON.parse(fs.readFileSync(file, 'utf8')) as Seed;
  fs.rmSync(file, { force: true });
  await applySeed(server, seed);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv[0] === 'help' || argv.includes('-h')) {
    console.log(HELP);
    return;
  }
  const { words, unknown } = splitArgs(argv, HELP);
  if (unknown !== null || words.length) {
    console.error(`option inconnue / unknown option: ${unknown ?? words[0]}\n\n${HELP}`);
    process.exit(2);
  }
  const level = (argValue(argv, '--log-level') ?? 'info') as 'info' | 'warn' | 'error';
  const log = jsonLog(undefined, level);
  const checked = checkedOptions(argv, log);
  const db = await openDb(argv, 'server', log);
  const server = await startServer(serverOptions(argv, db, checked, log));
  await seedFrom(argValue(argv, '--seed'), server);
  console.log(
    `Sillage session server: ${server.issuer}/  (discovery: ${server.issuer}/.well-known/openid-configuration)`,
  );
  if (server.metricsPort !== undefined)
    console.log(`Metrics: http://${argValue(argv, '--metrics-host') ?? '127.0.0.1'}:${server.metricsPort}/metrics`);
  // Ctrl-C reaches every process of the terminal's group, and npm and tsx relay it again: the second
  // signal must not kill the process before the database is closed (and its PGlite directory released).
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    await db.close();
    checked.keys.desfireKeyStore?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e: unknown) => {
  console.error(`Sillage session server failed to start: ${(e as Error).message}`);
  process.exit(1);
});
