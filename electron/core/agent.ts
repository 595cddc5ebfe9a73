// The agent: readers + session engine + authenticator + audit, exposed to the UI through the contract.
// Plain Node. createAgent() assembles given parts, one area at a time (agent/: devices, session, broker,
// the UI's api); which parts a workstation gets, from its settings, is decided in one place only: the
// composition root (app/compose.ts), called by the Electron shell and by headless mode alike.
import { agentApi } from './agent/api';
import { startBroker } from './agent/broker';
import { agentDevices } from './agent/devices';
import { agentAudit, authenticatorOf, logSession, sessionEngine } from './agent/session';
import type { Agent, AgentOptions } from './agent/types';
import { systemClock } from './util/clock';
import { VERSION } from './version';

export type { Agent, AgentOptions, BrokerSettings } from './agent/types';
export { DEFAULT_INACTIVITY_MS, DEFAULT_MFA_WINDOW_MS } from './agent/session';

export async function createAgent(opts: AgentOptions): Promise<Agent> {
  const clock = opts.clock ?? systemClock;
  const audit = agentAudit(opts, clock);
  const devices = agentDevices(opts);
  const authenticator = authenticatorOf(opts, clock, devices.demoReaders);
  const engine = sessionEngine(opts, authenticator, audit, clock);
  const brokerParts = await startBroker(opts.broker, authenticator, engine, audit, clock);
  const broker = brokerParts.broker;
  logSession(engine, opts.logger);
  const api = agentApi({ opts, engine, broker, audit, clock, devices });
  await devices.start(engine, api.dispatcher);
  audit.record({
    action: 'agent.started',
    outcome: 'info',
    reason: `${opts.mode}${opts.demo ? ' demo' : ''} ${VERSION}`,
  });

  return {
    api: api.dispatcher,
    broker,
    brokerEndpoints: brokerParts.endpoints,
    engine,
    demoReaders: devices.demoReaders,
    audit,
    getState: () => engine.getState(),
    getReaders: devices.readers,
    policy: api.policy,
    lock: (reason) => void engine.lock(reason),
    switchUser: () => void engine.switchUser(),
    onEvent: (l) => api.dispatcher.subscribe(l),
    async stop() {
      engine.lock('user-lock');
      await devices.stop();
      await brokerParts.close();
      api.close();
      audit.record({ action: 'agent.stopped', outcome: 'info' });
    },
  };
}
