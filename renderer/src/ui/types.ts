import type { MsgKey } from '../i18n';

/** The message of a key in the language of the moment. */
export type T = (key: MsgKey, params?: Record<string, string | number>) => string;

/** Runs an agent command; a refusal becomes the error the screens show. */
export type Call = (fn: () => Promise<unknown>) => Promise<void>;
