// CPS certificates name their holder in the subject: `CN=<idNat>+SN=<name>+GN=<first name>, title=
// <profession>, C=FR`. The agent reads it to show who is at the keyboard, the server to decide who logs in:
// one reading for both.

/** A subject as Node's X509Certificate prints it (one "key=value" per line, multi-valued RDNs split too). */
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
