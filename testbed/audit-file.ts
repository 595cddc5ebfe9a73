// The records of an audit trail file as tests read them back (the agent itself only appends and verifies);
// a line that is no record (a torn tail) is skipped.
import fs from 'node:fs';
import { parseAuditLine } from '@sillage/protocol';
import type { AuditRecord } from '../shared/contract';

export function readAuditFile(file: string): AuditRecord[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const r = parseAuditLine(line);
      return r ? [r as AuditRecord] : [];
    });
}
