// `server:admin` commands on the server's signing keys and its key-encryption key.
import { calculateJwkThumbprint } from 'jose';
import { argValue, kekFromFile } from '../options';
import { keyPlan } from '../secrets';
import { ADMIN as admin } from './context';
import type { AdminCommand } from './context';

export const listKeys: AdminCommand = async ({ out, secrets }) => {
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
  out(secrets().sealed ? 'secrets chiffrés (AES-256-GCM)' : 'secrets en clair : donnez --secrets-key-file');
  return 0;
};

export const rotateKeys: AdminCommand = async ({ argv, out, secrets, audit }) => {
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
};

export const rewrapKeys: AdminCommand = async ({ argv, out, secrets, audit }) => {
  const file = argValue(argv, '--new-key-file');
  if (!file) throw new Error('--new-key-file FICHIER est requis');
  const next = kekFromFile(file);
  await secrets().rewrap(next);
  await audit.append({ ...admin, action: 'admin.keys.rewrap', outcome: 'ok', details: { kek: next.id } });
  out(`secrets scellés sous la nouvelle clé ${next.id} : redémarrez chaque instance avec --secrets-key-file ${file}`);
  return 0;
};
