// oidc-provider takes its keys at construction (rotating them means a new provider, as a restart would):
// a key change builds the next one, which takes the following requests.
import type http from 'node:http';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { NonceIssuer } from '../cps';
import type { Log } from '../log';
import { createProvider } from '../provider';
import type { ProviderDeps } from '../provider';
import type { KeyPlan } from '../secrets';
import type { ServerKeys } from './keys';

export interface LiveProvider {
  /** The provider of the moment. */
  readonly provider: Provider;
  /** Hands a request to the provider of the moment. */
  handle: http.RequestListener;
  /** Re-reads the signing keys (one refresh at a time); a change of keys builds the next provider. */
  refreshKeys(): Promise<void>;
}

export function liveProvider(deps: {
  provider: ProviderDeps;
  keys: ServerKeys;
  nonces: NonceIssuer;
  /** Runs inside the provider (it is the Koa app), before its own routes. */
  middleware: Koa.Middleware;
  onError: (err: Error, ctx?: Koa.Context) => void;
  log: Log;
}): LiveProvider {
  const { keys, log } = deps;
  const build = (plan: KeyPlan) => {
    const { provider } = createProvider(deps.provider, {
      jwks: plan.jwks,
      cookieKeys: keys.secrets.cookieKeys,
      nonces: deps.nonces,
    });
    provider.use(deps.middleware);
    // The provider is the Koa app itself.
    (provider as Koa).on('error', deps.onError);
    return { provider, plan, handle: provider.callback() };
  };
  let current = build(keys.plan);
  let refreshing: Promise<void> | null = null;
  return {
    get provider() {
      return current.provider;
    },
    handle: (req, res) => void current.handle(req, res),
    refreshKeys: () =>
      (refreshing ??= (async () => {
        try {
          const next = await keys.refresh();
          if (next.id !== current.plan.id) {
            current = build(next);
            log.info('signing keys changed', {
              signing: [next.signing.ES256.kid, next.signing.RS256.kid],
              published: next.jwks.map((k) => k.kid),
            });
          }
        } finally {
          refreshing = null;
        }
      })()),
  };
}
