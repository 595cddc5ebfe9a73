// The session server's own routes, by "METHOD path". Everything else goes to oidc-provider.
import { enrolBadge } from './badges';
import { desfireRelay } from './desfire-relay';
import type { Route } from './kit';
import { nonce } from './nonce';
import { endSession, sessionStatus } from './session';
import { registerWorkstation } from './workstations';

export const ROUTES: Readonly<Record<string, Route>> = {
  'POST /sillage/nonce': nonce,
  'POST /sillage/desfire/auth/begin': desfireRelay,
  'POST /sillage/desfire/auth/finish': desfireRelay,
  'POST /sillage/workstations': registerWorkstation,
  'GET /sillage/session': sessionStatus,
  'POST /sillage/session/end': endSession,
  'POST /sillage/badges': enrolBadge,
};

export type { Route, RouteKit } from './kit';
