import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCpsCertificate } from '../devices/cps/identity';
import { DemoPki } from './demo-pki';

describe('demo PKI', () => {
  const pki = new DemoPki();
  const person = { idNat: '810001234567', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmier' };

  it('issues card certificates that chain to the demo CA and parse with the CPS subject layout', () => {
    const { certificate } = pki.issue(person);
    expect(certificate.verify(pki.ca.publicKey)).toBe(true);
    expect(certificate.checkIssued(pki.ca)).toBe(true);
    const info = parseCpsCertificate(certificate.raw);
    expect(info.identity).toEqual({
      idNat: person.idNat,
      lastName: 'MARTIN',
      firstName: 'Camille',
      profession: 'Infirmier',
    });
    expect(info.idNatKind).toBe('rpps');
  });

  it('produces DER that OpenSSL accepts every time (positive minimal serials)', () => {
    // A non-minimal serial made 1 certificate in 128 unreadable; 400 issues make that regression visible.
    for (let i = 0; i < 400; i++) expect(() => new X509Certificate(pki.issue(person).certificate.raw)).not.toThrow();
  });

  it('is not valid under another CA', () => {
    const other = new DemoPki();
    expect(pki.issue(person).certificate.verify(other.ca.publicKey)).toBe(false);
  });
});
