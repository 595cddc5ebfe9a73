// State machine event → UI latency: a reader event (demo card inserted / removed) until the UI's
// WebSocket client receives the resulting session.state. Floor: an event pushed through the same
// transport with no engine work (dispatcher → headless server → client).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createAgent } from '../../electron/core/agent';
import { startHeadlessServer } from '../../electron/core/headless/server';
import type { Dispatcher } from '../../electron/core/api/dispatcher';
import { nextEvent, wsClient } from '../../test/contract/clients';
import type { Benchmark } from '../harness';
import { quantiles } from '../harness';

const RUNS = 200;

const bench: Benchmark = {
  name: 'state-event-to-ui',
  unit: 'ms',
  description: 'reader event → session.state received by the UI over the headless WebSocket',
  async run() {
    const uiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-ui-'));
    fs.writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html>');
    const agent = await createAgent({ mode: 'headless', demo: true, inactivityMs: 0 });
    const server = await startHeadlessServer({ api: agent.api, audit: agent.audit, uiDir, secret: 'bench' });
    const client = await wsClient(`ws://127.0.0.1:${server.port}/agent`, 'bench');
    const demo = agent.demoReaders!;
    const insert: number[] = [];
    const remove: number[] = [];
    const floor: number[] = [];
    try {
      for (let i = 0; i < RUNS + 10; i++) {
        const warm = i < 10;
        let got = nextEvent(client, (e) => e.event === 'session.state' && e.payload.kind === 'pin-required');
        let t0 = performance.now();
        demo.insertCard('cps-camille');
        await got;
        if (!warm) insert.push(performance.now() - t0);

        got = nextEvent(client, (e) => e.event === 'session.state' && e.payload.kind === 'locked');
        t0 = performance.now();
        demo.removeCard();
        await got;
        if (!warm) remove.push(performance.now() - t0);

        got = nextEvent(client, (e) => e.event === 'readers.changed');
        t0 = performance.now();
        (agent.api as Dispatcher).emit('readers.changed', agent.getReaders());
        await got;
        if (!warm) floor.push(performance.now() - t0);
      }
    } finally {
      client.close();
      await server.close();
      await agent.stop();
      fs.rmSync(uiDir, { recursive: true, force: true });
    }
    return {
      samples: [...insert, ...remove],
      floor,
      extra: {
        insertToPinPad: quantiles(insert),
        removeToLock: quantiles(remove),
        transport: 'headless WebSocket, loopback',
      },
    };
  },
};

export default bench;
