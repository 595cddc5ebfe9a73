import { describe, expect, it } from 'vitest';
import { checkIns, INS_OID } from './ins';

const withKey = (n: string) =>
  n + String(97n - (BigInt(n.replace('2A', '19').replace('2B', '18')) % 97n)).padStart(2, '0');

describe('INS check', () => {
  it('accepts a NIR with its key, spaces allowed, and a Corsican NIR with 2A/2B', () => {
    // 1 84 12 76 451 089 → key 46 (worked example of the NIR key: 97 − 1841276451089 mod 97).
    expect(97n - (1841276451089n % 97n)).toBe(46n);
    expect(checkIns('1 84 12 76 451 089 46', INS_OID.NIR)).toMatchObject({
      ok: true,
      number: '1841276451089',
      key: '46',
    });
    const corse = withKey('285032A123456');
    expect(checkIns(corse, INS_OID.NIA).ok).toBe(true);
    // The same digits with 2B have another key: a swap of the department is caught.
    expect(checkIns(corse.replace('2A', '2B'), INS_OID.NIA)).toMatchObject({ ok: false, error: 'ins-key' });
  });

  it('refuses a wrong key, a malformed number and an unknown OID with messages that say what to check', () => {
    expect(checkIns('184127645108947', INS_OID.NIR)).toMatchObject({ ok: false, error: 'ins-key' });
    expect(checkIns('18412764510894', INS_OID.NIR)).toMatchObject({ ok: false, error: 'ins-format' });
    expect(checkIns('984127645108946', INS_OID.NIR)).toMatchObject({ ok: false, error: 'ins-format' });
    // Month 13.
    expect(checkIns(withKey('1841376451089'), INS_OID.NIR)).toMatchObject({ ok: false, error: 'ins-format' });
    expect(checkIns('184127645108946', '1.2.3')).toMatchObject({ ok: false, error: 'ins-oid' });
    expect(checkIns(184127645108946, INS_OID.NIR).error).toBe('ins-format');
    expect(checkIns('184127645108947', INS_OID.NIR).message).toMatch(/clé de contrôle/);
  });
});
