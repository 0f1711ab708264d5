export { KeyRing, TOKEN_ALG, type KeyRingOptions } from './keys.js';
export { MasterKey, MASTER_KEY_FILE } from './master-key.js';
export { TokenService, TOKEN_TYPE, type TokenClaims, type TokenSettings, type ActorClaim } from './tokens.js';
export { AdminToken, readAdminToken, ADMIN_TOKEN_FILE } from './admin-token.js';
export { Directory } from './directory.js';
export { SessionService, type OpenSessionInput, type DelegateInput, type IssuedToken, type Actor } from './sessions.js';
export { CredentialService, type IssuedSecret } from './credentials.js';
export { RevocationList } from './revocation.js';
export { FederationVerifier, type FederatedIdentity } from './federation.js';
