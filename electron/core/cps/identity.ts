// Identity of a CPS holder from the authentication certificate: subject
// `CN=<idNat>+SN=<name>+GN=<first name>, title=<profession>, C=FR`, UPN in the SAN, validity.
// idNat forms: "8" + 11-digit RPPS; "0"… ADELI (9 digits after the kind digit); structure cards
// (CPE/CPA) carry "<structure id>/<card holder id>" (e.g. 3760021832/000000018).
import { X509Certificate } from 'node:crypto';
import type { Identity } from '../../../shared/contract';

export type IdNatKind = 'rpps' | 'adeli' | 'structure' | 'other';

export interface CpsCertificateInfo {
  identity: Identity;
  idNatKind: IdNatKind;
  upn: string | null;
  notBefore: Date;
  notAfter: Date;
  issuer: string;
  serialNumber: string;
}

export function idNatKind(idNat: string): IdNatKind {
  if (/^\d+\/\d+$/.test(idNat)) return 'structure';
  if (/^8\d{11}$/.test(idNat)) return 'rpps';
  if (/^0\d{9}$/.test(idNat)) return 'adeli';
  return 'other';
}

/** Parse a subject as Node prints it (one "key=value" per line, multi-valued RDNs split too). */
export function parseSubject(subject: string): Record<string, string> {
  const out: Record<string, string> = {};
  // One RDN per line; a multi-valued RDN (CN+SN+GN on CPS cards) is printed "SN=x + GN=y + CN=z".
  for (const line of subject.split('\n')) {
    for (const ava of line.split(' + ')) {
      const i = ava.indexOf('=');
      if (i > 0) out[ava.slice(0, i).trim()] = ava.slice(i + 1).trim();
    }
  }
  return out;
}

export class CertificateError extends Error {
  constructor(
    readonly code: 'card-expired' | 'card-unknown',
    message: string,
  ) {
    super(message);
  }
}

export function parseCpsCertificate(der: Buffer): CpsCertificateInfo {
  const cert = new X509Certificate(der);
  const s = parseSubject(cert.subject);
  const idNat = s.CN;
  if (!idNat) throw new CertificateError('card-unknown', 'certificate without CN (idNat)');
  const upn = /othername:\s*UPN:([^,\s]+)/i.exec(cert.subjectAltName ?? '')?.[1] ?? null;
  return {
    identity: { idNat, lastName: s.SN ?? '', firstName: s.GN ?? '', profession: s.title ?? '' },
    idNatKind: idNatKind(idNat),
    upn,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serialNumber: cert.serialNumber,
  };
}

/** Expired or not yet valid: the card cannot be used for a login (clear message, no PIN asked). */
export function checkValidity(info: CpsCertificateInfo, now: number): void {
  if (now < info.notBefore.getTime()) throw new CertificateError('card-expired', 'certificate not yet valid');
  if (now > info.notAfter.getTime()) throw new CertificateError('card-expired', 'certificate expired');
}
