// A conforming OpenID provider for the tests: panva's oidc-provider (OpenID Certified), on
// 127.0.0.1, configured by a JSON file the test writes:
//
//   node provider.js CONFIG.json
//   {"port": 0, "clients": [...], "jwks": {"keys": [private JWKs]},
//    "accounts": {"<sub>": {"preferred_username": "...", "email": "...", ...}}}
//
// Everything else is the provider's default: the code flow puts profile claims in UserInfo only
// (conformIdTokenClaims), ID tokens are RS256 with the first key of the JWKS, the JWKS publishes
// every key given. The login screen is the provider's development one (a form that takes the
// account's sub). Consent is given ahead for every client (a first-party app, as the city's
// provider would treat the IOC). Prints "listening <issuer>" when ready; stops on SIGTERM.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const server = createServer();

server.listen(config.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: config.jwks,
    cookies: { keys: ['test cookie key, not secret'] },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
    },
    async findAccount(ctx, sub) {
      const claims = config.accounts[sub];
      if (!claims) return undefined;
      return { accountId: sub, async claims() { return { sub, ...claims }; } };
    },
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email');
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
