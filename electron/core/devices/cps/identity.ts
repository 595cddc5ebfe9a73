// Identity of a CPS holder from the authentication certificate: subject
// `CN=<idNat>+SN=<name>+GN=<first name>, title=<profession>, C=FR`, UPN in the SAN, validity.
// idNat forms: "8" + 11-digit RPPS; "0"… ADELI (9 digits after the kind digit); structure cards
// (CPE/CPA) carry "<structure id>/<card holder id>" (e.g. 3760021832/000000018).
import { X509Certificate } from 'node:crypto';
import { parseSubject } from '@sillage/protocol';
import type { Identity } from '../../../../shared/contract';
import { ContractError } from '../../../../shared/errors';

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

export function parseCpsCertificate(der: Buffer): CpsCertificateInfo {
  const cert = new X509Certificate(der);
  const s = parseSubject(cert.subject);
  const idNat = s.CN;
  if (!idNat) throw new ContractError('card-unknown', 'certificate without CN (idNat)');
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
  if (now < info.notBefore.getTime()) throw new ContractError('card-expired', 'certificate not yet valid');
  if (now > info.notAfter.getTime()) throw new ContractError('card-expired', 'certificate expired');
}
