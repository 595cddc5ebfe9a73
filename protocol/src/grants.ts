// OAuth grant types and assurance levels spoken between the agent and the session server.

export const GRANT = {
  jwtBearer: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
  badge: 'urn:sillage:params:oauth:grant-type:badge',
  tokenExchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
} as const;

export type GrantType = (typeof GRANT)[keyof typeof GRANT];

/**
 * `acr` values: a 2-factor login, a 1-factor re-open inside the roaming window such a login opened, or a
 * request that rests on a factor the server could not check itself (a workstation's or a reader's word
 * about a badge, a bare UID), accepted only where the server's policy allows that kind of proof.
 */
export const ACR = {
  mfa: 'urn:sillage:loa:mfa',
  reopen: 'urn:sillage:loa:reopen',
  asserted: 'urn:sillage:loa:asserted',
} as const;

export type Acr = (typeof ACR)[keyof typeof ACR];
