// Full-screen notice of a workstation that lacks a setting it cannot work without (no session server
// configured, or a refused value): nothing can open, the nurse is told to call IT, IT finds the setting's
// name and the refusal here and in the diagnostic page (the top bar's button stays).
import type { Lang, NotConfigured as NotConfiguredInfo } from '../../../shared/contract';

const TEXT: Record<Lang, { title: (s: string) => string; body: string; problem: string; diagnostic: string }> = {
  fr: {
    title: (s) => `Poste non configuré : contactez l'informatique (${s})`,
    body:
      "Ce poste n'a pas d'adresse de serveur de sessions valide : aucune connexion n'est possible. L'informatique " +
      'doit renseigner le réglage ci-dessus (stratégie de groupe ou installation MSI).',
    problem: 'Valeur refusée',
    diagnostic: 'Le bouton « Diagnostic » en haut de l’écran donne le détail à l’informatique.',
  },
  en: {
    title: (s) => `Workstation not configured: contact IT (${s})`,
    body:
      'This PC has no valid session server address: nobody can log in. IT must set the setting above (Group Policy ' +
      'or MSI install).',
    problem: 'Value refused',
    diagnostic: 'The "Diagnostic" button at the top of the screen gives IT the details.',
  },
};

export function NotConfigured({ info, lang }: { info: NotConfiguredInfo; lang: Lang }) {
  const t = TEXT[lang];
  return (
    <section className="card lock not-configured" role="alert" data-testid="not-configured">
      <h1>{t.title(info.setting)}</h1>
      <p className="subtitle">{t.body}</p>
      {info.problem && (
        <p className="message error" data-testid="not-configured-problem">
          {t.problem} : {info.problem}
        </p>
      )}
      <p className="message info">{t.diagnostic}</p>
    </section>
  );
}
