// The Electron IPC adapter with the real agent core and a stand-in for ipcMain (no Electron binary here):
// trusted sender → the contract; any other frame, window or URL → refused and audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpcMainInvokeEvent } from 'electron';
import { IPC_COMMAND_CHANNEL, IPC_EVENT_CHANNEL } from '../../shared/contract';
import { createAgent } from '../../electron/core/agent';
import type { Agent } from '../../electron/core/agent';
import { RENDERER_URL } from '../../electron/shell/app-scheme';
import { createIpcBridge } from '../../electron/shell/ipc';
import { bridgeClient } from '../../renderer/src/transport';
import { ContractError } from '../../shared/errors';

type Handler = (e: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;
const RENDERER = RENDERER_URL;

function fakeWindow(id: number) {
  const mainFrame = { url: `${RENDERER}#` };
  const sent: unknown[][] = [];
  return { id, mainFrame, sent, isDestroyed: () => false, send: (...a: unknown[]) => void sent.push(a) };
}

describe('Electron IPC bridge', () => {
  let agent: Agent;
  let handler: Handler;
  const win = fakeWindow(7);
  let dispose: () => void;
  const removed: string[] = [];

  beforeAll(async () => {
    agent = await createAgent({ mode: 'electron', demo: true });
    dispose = createIpcBridge({
      ipcMain: {
        handle: (channel: string, h: Handler) => {
          expect(channel).toBe(IPC_COMMAND_CHANNEL);
          handler = h;
        },
        removeHandler: (c: string) => void removed.push(c),
      } as never,
      api: agent.api,
      audit: agent.audit,
      target: () => win as never,
      rendererUrl: RENDERER,
    });
  });
  afterAll(async () => {
    dispose();
    expect(removed).toEqual([IPC_COMMAND_CHANNEL]);
    await agent.stop();
  });

  const event = (senderId: number, frame: { url: string } | null) =>
    ({ sender: { id: senderId }, senderFrame: frame }) as unknown as IpcMainInvokeEvent;

  it('runs commands from our window and pushes events to it', async () => {
    const r = await handler(event(7, win.mainFrame), 'session.getState', {});
    expect(r).toEqual({ ok: true, result: { kind: 'locked', reason: 'startup' } });
    await handler(event(7, win.mainFrame), 'demo.insertCard', { cardId: 'cps-camille' });
    expect(win.sent.some(([ch, ev]) => ch === IPC_EVENT_CHANNEL && ev === 'session.state')).toBe(true);
  });

  it('refuses another window, a sub-frame and a navigated frame, and audits each', async () => {
    const refused = { ok: false, error: { code: 'not-allowed', message: 'untrusted sender' } };
    expect(await handler(event(8, win.mainFrame), 'session.getState', {})).toEqual(refused);
    expect(await handler(event(7, { url: RENDERER }), 'session.getState', {})).toEqual(refused);
    const before = win.mainFrame.url;
    win.mainFrame.url = 'https://evil.example/';
    expect(await handler(event(7, win.mainFrame), 'session.lock', {})).toEqual(refused);
    // The bundled page itself opened from file:// (or any other origin) is not our renderer either.
    win.mainFrame.url = 'file:///opt/Sillage/resources/app.asar/renderer/dist/index.html';
    expect(await handler(event(7, win.mainFrame), 'session.lock', {})).toEqual(refused);
    win.mainFrame.url = before;
    expect(await handler(event(7, null), 'session.getState', {})).toEqual(refused);
    expect(agent.audit.recent(50).filter((r) => r.action === 'ipc.refused')).toHaveLength(5);
  });

  it('rejects malformed commands with a code, never a stack', async () => {
    const r = (await handler(event(7, win.mainFrame), 'session.submitPin', { pin: ['1', '2'] })) as {
      ok: boolean;
      error: { code: string };
    };
    expect(r.ok).toBe(false);
    expect(r.error.code).toBe('invalid-command');
  });

  it('brings a refusal to the page by its code: the preload hands the result over as data', async () => {
    // What window.sillage does in the app: the IPC result, structured-cloned as the context bridge does.
    const page = bridgeClient({
      invoke: async (cmd, req) => structuredClone(await handler(event(7, win.mainFrame), cmd, req)),
      onEvent: () => () => {},
    });
    expect(await page.invoke('session.getState', {})).toMatchObject({ kind: expect.any(String) });
    await agent.api.handle('session.lock', {}, { transport: 'inproc' });
    const refused = page.invoke('session.submitPin', { pin: '1234' });
    await expect(refused).rejects.toBeInstanceOf(ContractError);
    await expect(refused).rejects.toMatchObject({ code: 'not-allowed' });
  });
});
