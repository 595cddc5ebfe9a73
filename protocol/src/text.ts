// Text the agent sends and the session server accepts, under one set of rules: a value one side builds
// is never refused by the other, and a hostile one (NUL bytes, control characters, megabytes) is refused
// at the server's edge with a clean 400 before it reaches a query, a batch or a log line.

export interface TextRule {
  /** Shortest accepted value (0: may be empty). */
  readonly min: number;
  /** Longest accepted value, in UTF-16 code units (what String#length counts). */
  readonly max: number;
  /** 'ascii': printable ASCII, spaces included (identifiers, tokens, URIs); 'text': printable Unicode (names). */
  readonly charset: 'ascii' | 'text';
}

export const TEXT = {
  /** A workstation's or relying party's client_id. */
  clientId: { min: 1, max: 128, charset: 'ascii' },
  /** A badge identifier as the agent reads it (printable badge number or hex). */
  badgeId: { min: 1, max: 256, charset: 'ascii' },
  /** What the server sealed and hands back (a relay challenge, a login ticket), and a card's answer. */
  sealed: { min: 1, max: 1024, charset: 'ascii' },
  /** A token-exchange audience or resource indicator (an absolute URI). */
  audience: { min: 1, max: 512, charset: 'ascii' },
  enrolmentToken: { min: 1, max: 256, charset: 'ascii' },
  /** The name a workstation registers under (shown to IT in listings and the audit). */
  workstationName: { min: 1, max: 200, charset: 'text' },
  /** A JWK's `kid`. */
  keyId: { min: 1, max: 128, charset: 'ascii' },
  /** A JWT's `jti`: long enough to be unique, short enough to index. */
  jti: { min: 16, max: 200, charset: 'ascii' },
  /** The agent's audit chain head with a grant (`SEQ:HASH`, audit-chain.ts). */
  auditHead: { min: 1, max: 81, charset: 'ascii' },
  /** Any other request parameter: whatever fits in a request body, printable. */
  parameter: { min: 0, max: 57_344, charset: 'text' },
} as const satisfies Record<string, TextRule>;

// C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and isolates (they
// reorder what an administrator reads), and the byte-order mark.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why `value` breaks `rule`, in words fit for an error_description; null when it is acceptable. */
export function textProblem(value: unknown, rule: TextRule): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length < rule.min) return rule.min === 1 ? 'must not be empty' : `shorter than ${rule.min} characters`;
  if (value.length > rule.max) return `longer than ${rule.max} characters`;
  if (rule.charset === 'ascii') {
    const bad = NOT_PRINTABLE_ASCII.exec(value);
    return bad ? `printable ASCII only (found ${codePoint(bad[0])})` : null;
  }
  const bad = CONTROL.exec(value);
  if (bad) return `control character ${codePoint(bad[0])} not allowed`;
  return LONE_SURROGATE.test(value) ? 'invalid Unicode (lone surrogate)' : null;
}
