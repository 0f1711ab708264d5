// A small OpenID Connect provider for tests (loopback only; jose signs its ID tokens): discovery,
// JWKS, an authorize endpoint that signs the configured user straight in, and a token endpoint
// that checks the PKCE verifier. `tamper` makes the next ID token wrong in one chosen way.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface User { sub: string; email: string; groups: string[] }

export class TestIssuer {
  server!: Server;
  url!: string;
  private key!: CryptoKey;
  private jwk!: JWK;
  user: User = { sub: 'u-1', email: 'ana@example.com', groups: ['tollgate-approvers'] };
  /** What the next ID token gets wrong, if anything. */
  tamper: { audience?: string; nonce?: string; otherKey?: boolean } = {};
  private readonly codes = new Map<string, { challenge: string; nonce: string; redirectUri: string; clientId: string }>();
  readonly tokenRequests: Record<string, string>[] = [];

  async start(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    this.key = privateKey;
    this.jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    this.server = createServer((req, res) => void this.handle(req.url ?? '/', req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private async handle(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(path, this.url);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer: this.url, authorization_endpoint: `${this.url}/authorize`, token_endpoint: `${this.url}/token`, jwks_uri: `${this.url}/jwks`, response_types_supported: ['code'], code_challenge_methods_supported: ['S256'] });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [this.jwk] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256') return json(400, { error: 'invalid_request' });
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, { challenge: q.get('code_challenge')!, nonce: q.get('nonce')!, redirectUri: q.get('redirect_uri')!, clientId: q.get('client_id')! });
      res.writeHead(302, { location: `${q.get('redirect_uri')}?${new URLSearchParams({ code, state: q.get('state')! }).toString()}` });
      return void res.end();
    }
    if (url.pathname === '/token') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = Object.fromEntries(new URLSearchParams(body));
      this.tokenRequests.push({ ...form, authorization: req.headers.authorization ?? '' });
      const grant = this.codes.get(form.code ?? '');
      this.codes.delete(form.code ?? '');
      const verifierOk = grant && createHash('sha256').update(form.code_verifier ?? '').digest('base64url') === grant.challenge;
      if (!grant || !verifierOk || form.redirect_uri !== grant.redirectUri) return json(400, { error: 'invalid_grant' });
      const signer = this.tamper.otherKey ? (await generateKeyPair('ES256')).privateKey : this.key;
      const idToken = await new SignJWT({ email: this.user.email, groups: this.user.groups, nonce: this.tamper.nonce ?? grant.nonce })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(this.url).setSubject(this.user.sub).setAudience(this.tamper.audience ?? grant.clientId)
        .setIssuedAt().setExpirationTime('5m').sign(signer);
      return json(200, { access_token: 'at', token_type: 'Bearer', id_token: idToken, expires_in: 300 });
    }
    json(404, { error: 'not_found' });
  }
}
