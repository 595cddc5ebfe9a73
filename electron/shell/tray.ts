// Tray icon whose picture tells the state at a glance (locked / session open / reader problem), and the
// menu IT and users expect. "Quitter" only when policy allows (ward PCs keep the agent running).
import { Menu, Tray, nativeImage } from 'electron';
import type { ReaderInfo, SessionState } from '../../shared/contract';
import type { Agent } from '../core/agent';
import { iconPath } from './paths';

export type TrayLook = 'locked' | 'open' | 'reader-problem';

export function trayLook(state: SessionState, readers: ReaderInfo[]): TrayLook {
  if (readers.length === 0 || readers.every((r) => r.status !== 'ok')) return 'reader-problem';
  return state.kind === 'open' ? 'open' : 'locked';
}

const TOOLTIP: Record<TrayLook, string> = {
  locked: 'Sillage — poste verrouillé',
  open: 'Sillage — session ouverte',
  'reader-problem': 'Sillage — problème de lecteur',
};

export interface TrayActions {
  showDiagnostic(): void;
  quit(): void;
}

export function createTray(agent: Agent, actions: TrayActions): Tray {
  const tray = new Tray(nativeImage.createFromPath(iconPath('tray-locked')));
  const refresh = () => {
    const look = trayLook(agent.getState(), agent.getReaders());
    tray.setImage(nativeImage.createFromPath(iconPath(`tray-${look}`)));
    const who = agent.getState();
    tray.setToolTip(
      who.kind === 'open'
        ? `${TOOLTIP[look]} : ${who.session.user.firstName} ${who.session.user.lastName}`
        : TOOLTIP[look],
    );
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: 'Verrouiller', enabled: who.kind === 'open', click: () => agent.lock('user-lock') },
        { label: "Changer d'utilisateur", click: () => agent.switchUser() },
        ...(agent.broker && agent.policy().dmp
          ? [
              {
                label: 'Ouvrir le DMP du patient',
                enabled: who.kind === 'open' && agent.broker.currentPatient() !== null,
                click: () => void agent.api.handle('dmp.openCurrent', {}, { transport: 'inproc' }),
              },
            ]
          : []),
        { label: 'Diagnostic', click: () => actions.showDiagnostic() },
        ...(agent.policy().allowQuit
          ? [{ type: 'separator' as const }, { label: 'Quitter', click: () => actions.quit() }]
          : []),
      ]),
    );
  };
  agent.onEvent((e) => {
    if (
      e.event === 'session.state' ||
      e.event === 'readers.changed' ||
      e.event === 'ui.policy' ||
      e.event === 'dmp.patient'
    )
      refresh();
  });
  refresh();
  return tray;
}
