// Sealed state the server hands out and takes back (a relay challenge, a login ticket): AES-256-GCM with
// a key derived per purpose from the server-wide secret, so every instance opens what another sealed and
// a value sealed for one purpose never opens as another. Sealing makes it tamper-proof, not single-use:
// callers record the id inside as used (SingleUse).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export class Sealer<T extends object> {
  private readonly key: Buffer;

  constructor(
    serverSecret: Buffer,
    private readonly purpose: string,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), `sillage ${purpose}`, 32));
  }

  seal(value: T): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(this.purpose));
    const body = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
  }

  /** The sealed value, or null when `text` was not sealed by this server for this purpose. */
  open(text: string): T | null {
    const raw = Buffer.from(text, 'base64url');
    if (raw.length < 29) return null;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(this.purpose));
      d.setAuthTag(raw.subarray(12, 28));
      const v = JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')) as unknown;
      return v && typeof v === 'object' ? (v as T) : null;
    } catch {
      return null;
    }
  }
}
