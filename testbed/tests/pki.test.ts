import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTestPki, opensslVerify } from '../pki';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-pki-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('IGC-Santé-shaped test PKI', () => {
  const pki = makeTestPki(dir);
  const DAY = 24 * 3600 * 1000;

  it('chains a CPS-like certificate to the test root, with CPS extensions', () => {
    const c = pki.issue({ idNat: '899999000029', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' });
    expect(opensslVerify(pki, c)).toMatchObject({ ok: true });
    expect(c.x509.verify(pki.ca.x509.publicKey)).toBe(true);
    expect(c.x509.ca).toBe(false);
    expect(pki.ca.x509.ca).toBe(true);
    expect(c.x509.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.4.1.311.20.2.2', '1.3.6.1.5.5.7.3.2']));
    expect(pki.root.x509.subject).toContain('OU=IGC-SANTE TEST');
  });

  it('makes expired and not-yet-valid certificates that openssl rejects', () => {
    const expired = pki.issue(
      {
        idNat: '899999000037',
        lastName: 'X',
        firstName: 'Y',
        profession: 'Infirmier',
        notBefore: new Date(Date.now() - 400 * DAY),
        notAfter: new Date(Date.now() - DAY),
      },
      'expired',
    );
    expect(opensslVerify(pki, expired)).toMatchObject({ ok: false, output: expect.stringMatching(/expired/) });
    const future = pki.issue(
      {
        idNat: '899999000045',
        lastName: 'X',
        firstName: 'Y',
        profession: 'Infirmier',
        notBefore: new Date(Date.now() + 10 * DAY),
      },
      'future',
    );
    expect(opensslVerify(pki, future)).toMatchObject({ ok: false, output: expect.stringMatching(/not yet valid/) });
  });
});
