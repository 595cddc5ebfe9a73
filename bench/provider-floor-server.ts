// The floor of server-reopen: oidc-provider's token endpoint alone, with the same private_key_jwt client
// authentication as a workstation, clients and replay records in memory, and a grant that answers a
// fixed body (no database, no tokens, no audit). Started as a child process by the benchmark:
//   node --import tsx bench/provider-floor-server.ts PORT ISSUER PUBLIC_JWK_JSON
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { BADGE_GRANT_PARAMS } from '@sillage/protocol';
import Provider from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';

export const FLOOR_GRANT = 'urn:sillage:bench:floor';
export const FLOOR_CLIENT = 'bench-floor-workstation';

const [port, issuer, jwk] = process.argv.slice(2);
const records = new Map<string, AdapterPayload>();
class MemoryAdapter implements Adapter {
  constructor(private readonly name: string) {}
  async upsert(id: string, payload: AdapterPayload) {
    records.set(`${this.name}:${id}`, payload);
  }
  async find(id: string) {
    return records.get(`${this.name}:${id}`);
  }
  async findByUid() {
    return undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async consume() {}
  async destroy(id: string) {
    records.delete(`${this.name}:${id}`);
  }
  async revokeByGrantId() {}
}

// Started as a program only (the benchmark imports the names above).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && port && issuer && jwk) {
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [
      {
        client_id: FLOOR_CLIENT,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [JSON.parse(jwk)] },
        grant_types: [FLOOR_GRANT],
        response_types: [],
        redirect_uris: [],
      },
    ],
    clientAuthMethods: ['private_key_jwt'],
    features: { devInteractions: { enabled: false } },
  });
  provider.registerGrantType(
    FLOOR_GRANT,
    async (ctx) => {
      ctx.body = { access_token: 'floor', token_type: 'Bearer' };
    },
    [...BADGE_GRANT_PARAMS],
  );
  http.createServer(provider.callback()).listen(Number(port), '127.0.0.1', () => console.log('ready'));
}
