import type { ReaderInfo } from '../../../shared/contract';
import type { T } from './types';

export function ReaderStatus({ readers, tr }: { readers: ReaderInfo[] | null; tr: T }) {
  if (!readers) return null;
  const ok = readers.some((r) => r.status === 'ok');
  const text = readers.length === 0 ? tr('readerNone') : ok ? tr('readerOk') : tr('readerUnavailable');
  return (
    <span className={`reader-status ${ok ? 'ok' : 'bad'}`} data-testid="reader-status">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
