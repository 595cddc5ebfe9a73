// `npm run badge -- encode|verify ...`: the IT tool that personalises blank DESFire EV2/EV3 badges and
// verifies encoded ones on a PC/SC reader. Keys come from the permission-checked key file (never from
// the command line: argv is visible to every user of the machine) and are never printed.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPcsc } from '../../../native/pcsclite';
import type { CardReader, PCSCLite } from '../../../native/pcsclite';
import { KeyFileError, loadKeyFile } from './badge/key-file';
import { readBadgeNumber } from './badge/desfire/credential';
import { LocalKeyCustody } from './badge/desfire/custody';
import { encodeBadge } from './badge/desfire/personalise';
import { DesfireCard } from './badge/desfire/protocol';
import { withSharedTransport } from './pcsc';
import type { ApduTransport } from './types';
import { badgeProfileProblem, withProfileDefaults } from '../config/badge-profile';
import type { BadgeProfile } from '../config/badge-profile';

const HELP = `Usage:
  npm run badge -- encode --profile FILE --keys FILE --number N [--reader NAME] [--dry-run]
  npm run badge -- verify --profile FILE --keys FILE [--reader NAME]
  npm run badge -- readers

  --profile FILE   one badge profile as in the BadgeProfiles policy (JSON object: aid, keyNo, fileNo, length,
                   mode mac|full, systemId, diversification an10922 (default) | legacy-unpadded...)
  --keys FILE      master keys {"F51230/0": "hex", "F51230/1": "hex"} — chmod 600 (0 = application
                   master key, keyNo = read key); diversified per badge, never printed
  --number N       badge number written in the credential file (the label on the badge; the server binds
                   the badge by its chip UID, which encode prints with the import line)
  --reader NAME    PC/SC reader (default: the first one with a card)
  --dry-run        check the card and print the plan; write nothing
  --wait-ms N      how long to wait for a card (default 15000)`;

type Out = (line: string) => void;

/** A refusal the tool explains in a full sentence (no stack trace): what is wrong and what to do. */
class CliError extends Error {}

function openPcsc(): PCSCLite {
  try {
    return loadPcsc();
  } catch (e) {
    throw new CliError(
      `service PC/SC indisponible (${(e as Error).message}) : démarrez-le (Linux : sudo systemctl start pcscd ; ` +
        'Windows : service « Carte à puce »), branchez le lecteur, puis réessayez. / PC/SC service not ' +
        'available: start pcscd.',
    );
  }
}

function readProfile(file: string): BadgeProfile {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`profil de badge illisible (${file}) : ${code === 'ENOENT' ? 'fichier introuvable' : code}`);
  }
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    throw new CliError(`profil de badge ${file} : JSON invalide — attendu un objet comme ${PROFILE_EXAMPLE}`);
  }
  const problem =
    o && typeof o === 'object' && !Array.isArray(o)
      ? badgeProfileProblem(o as Record<string, unknown>)
      : 'un objet JSON est attendu (un seul profil, pas une liste)';
  if (problem) throw new CliError(`profil de badge ${file} refusé : ${problem} — exemple : ${PROFILE_EXAMPLE}`);
  return withProfileDefaults(o as Partial<BadgeProfile>);
}

const PROFILE_EXAMPLE =
  '{"name": "chu", "aid": "F51230", "keyNo": 1, "fileNo": 1, "length": 16, "mode": "full", "systemId": "434855"}';

async function withCard<T>(
  readerName: string | undefined,
  waitMs: number,
  fn: (t: ApduTransport) => Promise<T>,
): Promise<T> {
  const ctx = openPcsc();
  ctx.on('error', () => {});
  try {
    const reader = await new Promise<CardReader>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              readerName ? `lecteur « ${readerName} » introuvable ou sans carte` : 'aucune carte posée sur un lecteur',
            ),
          ),
        waitMs,
      );
      ctx.on('reader', (r) => {
        r.on('error', () => {});
        if (readerName && r.name !== readerName) return;
        r.on('status', (s) => {
          if (s.state & r.SCARD_STATE_PRESENT && s.atr?.length) {
            clearTimeout(t);
            resolve(r);
          }
        });
      });
    });
    return await withSharedTransport(reader, fn);
  } finally {
    for (const r of Object.values(ctx.readers)) r.close();
    ctx.close();
  }
}

const COMMANDS = ['encode', 'verify', 'readers'];

export async function runBadgeCli(argv: string[], out: Out = console.log): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        profile: { type: 'string' },
        keys: { type: 'string' },
        number: { type: 'string' },
        reader: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        'wait-ms': { type: 'string', default: '15000' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    out(`option refusée / bad option : ${(e as Error).message.split('. ')[0]}\n`);
    out(HELP);
    return 2;
  }
  const { values, positionals } = parsed;
  const cmd = positionals[0];
  if (values.help || !cmd || cmd === 'help') {
    out(HELP);
    return cmd || values.help ? 0 : 2;
  }
  if (!COMMANDS.includes(cmd)) {
    out(`commande inconnue / unknown command : ${cmd}\n`);
    out(HELP);
    return 2;
  }
  try {
    if (cmd === 'readers') {
      const ctx = openPcsc();
      ctx.on('error', () => {});
      await new Promise((r) => setTimeout(r, 500));
      const names = Object.keys(ctx.readers);
      ctx.close();
      if (!names.length) out('aucun lecteur PC/SC : branchez un lecteur (pcscd le voit aussitôt) / no PC/SC reader');
      for (const name of names) out(name);
      return 0;
    }
    if (!values.profile || !values.keys) {
      out('--profile et --keys sont requis / --profile and --keys are required\n');
      out(HELP);
      return 2;
    }
    const profile = readProfile(values.profile);
    const waitMs = Number(values['wait-ms']);
    const keys = loadKeyFile(values.keys);
    if (cmd === 'encode') {
      if (!values.number) {
        out('--number est requis / --number is required');
        return 2;
      }
      const r = await withCard(values.reader, waitMs, (t) =>
        encodeBadge(new DesfireCard(t), profile, keys, values.number!, { dryRun: values['dry-run'] }),
      );
      out(`${r.dryRun ? 'Plan (rien écrit)' : 'Badge encodé'} — UID ${r.uid}, ${r.generation}`);
      for (const s of r.steps) out(`  ${s.done ? '✓' : '·'} ${s.what}`);
      if (!r.dryRun) {
        // What IT imports: the chip UID the badge's keys are diversified for (what its proof proves).
        out(`À rattacher / to bind: UID ${r.uid}, numéro ${r.number}`);
        out(`  npm run server:admin -- badge bind LOGIN --uid ${r.uid} --number ${r.number}`);
        out(`  (import CSV : badge_uid=${r.uid};badge_id=${r.number})`);
      }
      return 0;
    }
    const c = await withCard(values.reader, waitMs, (t) => readBadgeNumber(t, profile, new LocalKeyCustody(keys)));
    out(`Badge authentique — ${c.number} (UID ${c.uid}, clé diversifiée, ${c.apdus} APDU)`);
    return 0;
  } catch (e) {
    out(
      e instanceof CliError || e instanceof KeyFileError ? `Erreur : ${e.message}` : `Refusé : ${(e as Error).message}`,
    );
    return 1;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  runBadgeCli(process.argv.slice(2)).then((code) => process.exit(code));
}
