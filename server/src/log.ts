// Structured logs: one JSON object per line. Callers pass facts, never secrets (tokens, PINs, codes).
export interface Log {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLog(
  write: (line: string) => void = (l) => process.stdout.write(l + '\n'),
  level: 'info' | 'warn' | 'error' | 'silent' = 'info',
): Log {
  const order = { info: 0, warn: 1, error: 2, silent: 3 };
  const at =
    (lvl: 'info' | 'warn' | 'error') =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (order[lvl] < order[level]) return;
      write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }));
    };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}
