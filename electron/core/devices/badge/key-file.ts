// Local key custody's key file: master keys by application and key number, {"F51230/1": "<32 hex>"}.
// It must be readable by the agent's account only (no group/other bits), else it is refused: a badge
// master key readable by any user of a shared PC is a cloning kit. Windows keeps the file DPAPI-protected
// (machine scope); the shell passes `unprotect` for it. The server custody (default) needs no file.
import fs from 'node:fs';
import type { MasterKeyLookup } from './desfire/custody';
import { keyName } from './desfire/custody';

export class KeyFileError extends Error {}

export function loadKeyFile(
  file: string,
  opts: { platform?: NodeJS.Platform; unprotect?: (blob: Buffer) => Buffer } = {},
): MasterKeyLookup {
  const platform = opts.platform ?? process.platform;
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new KeyFileError(
      `fichier des clés des badges illisible (${file}) : ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (platform === 'win32') {
    if (!opts.unprotect)
      throw new KeyFileError(
        'fichier des clés des badges : déchiffrement DPAPI indisponible ici, utilisez la garde serveur ' +
          '(BadgeKeyCustody = server)',
      );
    raw = opts.unprotect(raw);
  } else {
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077)
      throw new KeyFileError(`fichier des clés des badges trop ouvert (${mode.toString(8)}) : chmod 600 ${file}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new KeyFileError('fichier des clés des badges : JSON invalide');
  } finally {
    raw.fill(0);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new KeyFileError('fichier des clés des badges : objet {"AID/clé": "hex"} attendu');
  const keys = new Map<string, Buffer>();
  for (const [name, hex] of Object.entries(parsed as Record<string, unknown>)) {
    if (!/^[0-9A-F]{6}\/\d{1,2}$/i.test(name) || typeof hex !== 'string' || !/^[0-9a-f]{32}$/i.test(hex)) {
      // Names the entry, never the value.
      throw new KeyFileError(
        `fichier des clés des badges : entrée ${name.slice(0, 12)} invalide (AID/numéro → 32 caractères hexadécimaux)`,
      );
    }
    keys.set(name.toUpperCase(), Buffer.from(hex, 'hex'));
  }
  return (aid, keyNo) => keys.get(keyName(aid, keyNo)) ?? null;
}
