// The agent's readers: the given backends (PC/SC, HID, the test bed's) and the demo readers in demo
// mode only. Their events go to the session engine and, as reader lists and demo inventories, to the UI.
import type { ReaderInfo } from '../../../shared/contract';
import { ContractError } from '../../../shared/errors';
import type { Dispatcher } from '../api/dispatcher';
import { DemoReaders } from '../demo/demo-readers';
import type { ReaderBackend, ReaderEvent } from '../devices/types';
import type { SessionEngine } from '../session/engine';
import type { AgentOptions } from './types';

export interface AgentDevices {
  demoReaders: DemoReaders | null;
  readers(): ReaderInfo[];
  /** The demo readers; outside demo mode, a refused command. */
  demo(): DemoReaders;
  /** Starts every backend, its events to the engine and the UI. */
  start(engine: SessionEngine, dispatcher: Dispatcher): Promise<void>;
  stop(): Promise<void>;
}

export function agentDevices(opts: AgentOptions): AgentDevices {
  const demoReaders = opts.demo ? (opts.demoReaders ?? new DemoReaders()) : null;
  const backends: ReaderBackend[] = [...(opts.readers ?? []), ...(demoReaders ? [demoReaders] : [])];
  const readers = () => backends.flatMap((b) => b.readers());
  return {
    demoReaders,
    readers,
    demo() {
      if (!demoReaders) throw new ContractError('invalid-command', 'not in demo mode');
      return demoReaders;
    },
    async start(engine, dispatcher) {
      const onReaderEvent = (e: ReaderEvent) => {
        if (e.type === 'readers') dispatcher.emit('readers.changed', readers());
        engine.handleReaderEvent(e);
        if (demoReaders && e.type !== 'readers') dispatcher.emit('demo.inventory', demoReaders.inventory());
      };
      // Re-publish the demo inventory after PIN attempts too (tries-left counters live on the card).
      if (demoReaders) engine.onState.add(() => dispatcher.emit('demo.inventory', demoReaders.inventory()));
      for (const b of backends) await b.start(onReaderEvent);
    },
    async stop() {
      await Promise.all(backends.map((b) => b.stop().catch(() => {})));
    },
  };
}
