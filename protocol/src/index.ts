// @sillage/protocol: what the agent and the session server both speak. Pure: types, constants, run-time
// checks and pure computations only; no I/O, no process state. Both sides import it, so a renamed field
// fails to compile on both.
export * from './api';
export * from './audit-chain';
export * from './desfire';
export * from './errors';
export * from './grants';
export * from './badge';
export * from './text';
export * from './x509';
