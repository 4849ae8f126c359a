// The benchmark's peer: panva's oidc-provider, configured like our `backend` client (a
// confidential client, client_secret_basic, client_credentials, scope links:read), with one
// RS256 key as our server has. Node's cluster runs WORKERS processes on one shared port, as
// `idp serve --workers N` does. Tokens stay in oidc-provider's in-memory adapter (it writes
// nothing to disk; we commit every token).
// Usage: node server.mjs --port P --workers N --secret S
import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '3000' },
    workers: { type: 'string', default: '2' },
    secret: { type: 'string' },
  },
});
if (!args.secret) {
  console.error('--secret is required');
  process.exit(2);
}

if (cluster.isPrimary) {
  // One key for every worker, so that the JWKS is the same whichever worker answers.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' };
  const env = { BENCH_JWK: JSON.stringify(jwk), BENCH_COOKIE_KEY: randomBytes(32).toString('hex') };
  for (let i = 0; i < Number(args.workers); i += 1) cluster.fork(env);
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', (worker, code) => {
    console.error(`worker ${worker.process.pid} exited ${code}`);
  });
} else {
  const issuer = `http://127.0.0.1:${args.port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'backend',
        client_secret: args.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'links:read',
      },
    ],
    scopes: ['openid', 'offline_access', 'links:read'],
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    jwks: { keys: [JSON.parse(process.env.BENCH_JWK)] },
    cookies: { keys: [process.env.BENCH_COOKIE_KEY] },
    ttl: { ClientCredentials: 3600 },
  });
  provider.listen(Number(args.port), '127.0.0.1', () => {
    if (cluster.worker.id === 1) console.log(`oidc-provider listening on ${issuer}`);
  });
}
