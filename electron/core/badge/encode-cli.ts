// `npm run badge -- encode|verify ...`: the IT tool that personalises blank DESFire EV2/EV3 badges and
// verifies encoded ones on a PC/SC reader. Keys come from the permission-checked key file (never from
// the command line: argv is visible to every user of the machine) and are never printed.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPcsc } from '../../../native/pcsclite';
import type { CardReader } from '../../../native/pcsclite';
import { loadKeyFile } from './key-file';
import { readBadgeNumber } from './desfire/credential';
import { LocalKeyCustody } from './desfire/custody';
import { encodeBadge } from './desfire/personalise';
import { DesfireCard } from './desfire/protocol';
import { withSharedTransport } from './pcsc-badge';
import type { ApduTransport } from '../readers/types';
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

async function withCard<T>(
  readerName: string | undefined,
  waitMs: number,
  fn: (t: ApduTransport) => Promise<T>,
): Promise<T> {
  const ctx = loadPcsc();
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

export async function runBadgeCli(argv: string[], out: Out = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
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
  const cmd = positionals[0];
  if (values.help || !cmd) {
    out(HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === 'readers') {
    const ctx = loadPcsc();
    ctx.on('error', () => {});
    await new Promise((r) => setTimeout(r, 500));
    for (const name of Object.keys(ctx.readers)) out(name);
    ctx.close();
    return 0;
  }
  if (!values.profile || !values.keys) {
    out('--profile et --keys sont requis');
    return 2;
  }
  const raw: unknown = JSON.parse(fs.readFileSync(values.profile, 'utf8'));
  const problem =
    raw && typeof raw === 'object' && !Array.isArray(raw)
      ? badgeProfileProblem(raw as Record<string, unknown>)
      : 'objet JSON attendu';
  if (problem) {
    out(`${values.profile} : ${problem}`);
    return 2;
  }
  const profile = withProfileDefaults(raw as Partial<BadgeProfile>);
  const waitMs = Number(values['wait-ms']);
  try {
    const keys = loadKeyFile(values.keys);
    if (cmd === 'encode') {
      if (!values.number) {
        out('--number est requis');
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
    if (cmd === 'verify') {
      const c = await withCard(values.reader, waitMs, (t) => readBadgeNumber(t, profile, new LocalKeyCustody(keys)));
      out(`Badge authentique — ${c.number} (UID ${c.uid}, clé diversifiée, ${c.apdus} APDU)`);
      return 0;
    }
    out(`commande inconnue : ${cmd}\n${HELP}`);
    return 2;
  } catch (e) {
    out(`Refusé : ${(e as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  runBadgeCli(process.argv.slice(2)).then((code) => process.exit(code));
}
