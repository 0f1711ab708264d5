// A federated workload identity: no client secret at all. A local issuer stands in for SPIRE —
// it holds a signing key, publishes its JWKS, and mints a short-lived JWT-SVID for the workload
// `spiffe://example.org/ns/prod/sa/demo-agent`; the gateway verifies it against that JWKS and
// opens a session for the agent the subject maps to (examples/federation.yaml).
//   npx tollgate serve --config examples/federation.yaml   # the default + this issuer
//   node examples/federated.mjs
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Tollgate } from 'tollgate/sdk';

const url = process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080';
const issuerPort = Number(process.env.EXAMPLE_ISSUER_PORT ?? 8089);

// The stand-in for SPIRE's JWKS endpoint.
const { publicKey, privateKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'example-spire-1', alg: 'ES256', use: 'sig' };
const issuer = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
});
await new Promise((resolve) => issuer.listen(issuerPort, '127.0.0.1', resolve));

// A JWT-SVID, as the SPIRE agent's Workload API would hand it to the workload (5 minutes).
const svid = () => new SignJWT({})
  .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
  .setIssuer(`http://127.0.0.1:${issuerPort}`)
  .setSubject('spiffe://example.org/ns/prod/sa/demo-agent')
  .setAudience('tollgate')
  .setIssuedAt()
  .setExpirationTime('5m')
  .sign(privateKey);

const tollgate = new Tollgate({ baseUrl: url, workloadJwt: svid });
const session = await tollgate.openSession({ task: 'nightly reconciliation', budgetUsd: 0.05 });
console.log(`session ${session.id} for agent ${session.agentId}, from a workload JWT (no secret)`);
const answer = await (await session.openai()).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Reconcile the ledger.' }] });
console.log(`answer: ${answer.choices[0].message.content.slice(0, 60)}…`);
await session.close();
issuer.close();
