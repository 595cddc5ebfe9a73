// Tray icon whose picture tells the state at a glance (locked / session open / reader problem), and the
// menu IT and users expect. "Quitter" only when policy allows (ward PCs keep the agent running).
import type { ReaderInfo, SessionState } from '../../shared/contract';
import type { Agent } from '../core/agent';
import type { ShellElectron, ShellTray } from './electron-api';

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

export function createTray(
  e: Pick<ShellElectron, 'Tray' | 'Menu' | 'nativeImage'>,
  icon: (name: string) => string,
  agent: Agent,
  actions: TrayActions,
): ShellTray {
  const tray = new e.Tray(e.nativeImage.createFromPath(icon('tray-locked')));
  const refresh = () => {
    const look = trayLook(agent.getState(), agent.getReaders());
    tray.setImage(e.nativeImage.createFromPath(icon(`tray-${look}`)));
    const who = agent.getState();
    tray.setToolTip(
      agent.policy().notConfigured
        ? 'Sillage — poste non configuré'
        : who.kind === 'open'
          ? `${TOOLTIP[look]} : ${who.session.user.firstName} ${who.session.user.lastName}`
          : TOOLTIP[look],
    );
    tray.setContextMenu(
      e.Menu.buildFromTemplate([
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
  agent.onEvent((ev) => {
    if (
      ev.event === 'session.state' ||
      ev.event === 'readers.changed' ||
      ev.event === 'ui.policy' ||
      ev.event === 'dmp.patient'
    )
      refresh();
  });
  refresh();
  return tray;
}
