import { constants, createHash, generateKeyPairSync, privateEncrypt, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isAgentErrorCode } from '../../../../shared/errors';
import { cardCodeOf, cps4Support, PKCS11_FAILURES, sha256DigestInfo } from './cryptolib';
import { pinStatusFromStatusWord } from './retry-counter';
import { describesReader, lookAlike, slotDescriptionsFor } from './slot-names';

describe('CPS4 gate: what C_GetInfo reports, read with the Cryptolib release notes', () => {
  it('accepts Cryptolib 5.2.2 as it reports itself: 3.1 on Linux, 3.4 on Windows (never compared with 5.2)', () => {
    expect(
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 LINUX', version: { major: 3, minor: 1 } }),
    ).toEqual({ supported: true, packageVersion: '5.2.1 / 5.2.2' });
    expect(
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 WIN 64', version: { major: 3, minor: 4 } }),
    ).toEqual({ supported: true, packageVersion: '5.2.2' });
    expect(
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 WIN 32', version: { major: 3, minor: 4 } })
        .supported,
    ).toBe(true);
  });

  it('knows the first CPS4 module of each platform and the documented older one', () => {
    const linux = (major: number, minor: number) =>
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 LINUX', version: { major, minor } });
    const win = (major: number, minor: number) =>
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 WIN 64', version: { major, minor } });
    expect(linux(3, 0)).toEqual({ supported: true, packageVersion: '5.2.0' });
    expect(win(3, 3)).toEqual({ supported: true, packageVersion: '5.2.1' });
    expect(win(1, 9)).toEqual({ supported: false, packageVersion: '5.0.6' });
    expect(
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 MACOSX', version: { major: 3, minor: 1 } }),
    ).toEqual({ supported: true, packageVersion: '5.2.1' });
  });

  it('does not guess where the notes say nothing: other modules and unlisted versions are tried', () => {
    expect(
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 WIN 64', version: { major: 3, minor: 2 } })
        .supported,
    ).toBeNull();
    expect(
      cps4Support({ manufacturer: 'ANS', description: 'CPS3 PKCS#11 LINUX', version: { major: 2, minor: 9 } })
        .supported,
    ).toBeNull();
    expect(
      cps4Support({
        manufacturer: 'OpenSC Project',
        description: 'OpenSC smartcard framework',
        version: { major: 0, minor: 23 },
      }),
    ).toEqual({ supported: null, packageVersion: null });
  });
});

describe('slot names of long PC/SC reader names', () => {
  // An OMNIKEY 5422 on Linux: both interfaces, 78 and 80 characters.
  const contact = 'HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader] 00 00';
  const contactless = 'HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422CL Smartcard Reader] 01 00';

  it('names a short reader by itself', () => {
    expect(slotDescriptionsFor('Virtual PCD 00 00')).toEqual(['Virtual PCD 00 00']);
    expect(describesReader('Virtual PCD 00 00' + ' '.repeat(47), 'Virtual PCD 00 00')).toBe(true);
  });

  it('finds the slot as OpenSC (first 61 and "...") and as the Cryptolib (first 30, "...", last 31) name it', () => {
    expect(contact).toHaveLength(78);
    // As OpenSC 0.23 and Cryptolib 5.2.2 show them for this name on vpcd.
    const opensc = 'HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartc...';
    const cryptolib = 'HID Global OMNIKEY 5422 Smartc...EY 5422 Smartcard Reader] 00 00';
    expect(cryptolib).toHaveLength(64);
    expect(describesReader(opensc, contact)).toBe(true);
    expect(describesReader(cryptolib, contact)).toBe(true);
    expect(describesReader(contact.slice(0, 64), contact)).toBe(true); // OpenSC before 0.20
    expect(describesReader(cryptolib, contactless)).toBe(false);
    expect(describesReader(contact.slice(0, 64), contactless)).toBe(false);
  });

  it('tells which readers a module may confuse', () => {
    const twin = 'HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader] 00 01';
    expect(lookAlike(contact, twin)).toBe(true); // OpenSC: same first 64 characters
    expect(lookAlike(contact, contactless)).toBe(false);
    expect(lookAlike('Virtual PCD 00 00', 'Virtual PCD 00 01')).toBe(false);
  });
});

describe('PIN status from the card (VERIFY without data)', () => {
  it('reads 63Cx, 6983 and 9000, and gives no answer for anything else', () => {
    expect(pinStatusFromStatusWord(0x63c2)).toEqual({ triesLeft: 2 });
    expect(pinStatusFromStatusWord(0x63c0)).toEqual({ triesLeft: 0 });
    expect(pinStatusFromStatusWord(0x6983)).toEqual({ triesLeft: 0 });
    expect(pinStatusFromStatusWord(0x9000)).toBe('verified');
    expect(pinStatusFromStatusWord(0x6a88)).toBeNull();
    expect(pinStatusFromStatusWord(0x6d00)).toBeNull();
  });
});

describe('PKCS#1 v1.5 through CKM_RSA_PKCS', () => {
  it('builds the SHA-256 DigestInfo that makes the same signature as sha256WithRSAEncryption', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const data = Buffer.from('challenge');
    const di = sha256DigestInfo(data);
    expect(di.subarray(-32)).toEqual(createHash('sha256').update(data).digest());
    const sig = privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, di);
    expect(verify('sha256', data, publicKey, sig)).toBe(true);
  });
});

describe('a PKCS#11 failure → the code the user reads', () => {
  it('maps every failure name the agent knows, by its kind, and any other to a reader error', () => {
    const expected = { removed: 'card-removed', locked: 'card-blocked', wrong: 'pin-wrong' } as const;
    expect(Object.keys(PKCS11_FAILURES).sort()).toEqual(Object.keys(expected).sort());
    for (const [kind, names] of Object.entries(PKCS11_FAILURES))
      for (const name of names)
        expect(cardCodeOf(new Error(`${name}: C_Sign`)), name).toBe(expected[kind as keyof typeof expected]);
    for (const other of ['CKR_GENERAL_ERROR: C_Sign', 'CKR_FUNCTION_FAILED', '', 'card said CKR_DEVICE_REMOVED'])
      expect(cardCodeOf(new Error(other)), other).toBe('reader-error');
    expect(cardCodeOf(null)).toBe('reader-error');
    for (const kind of Object.values(expected)) expect(isAgentErrorCode(kind)).toBe(true);
  });
});
