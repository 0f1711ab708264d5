export { KeyRing, TOKEN_ALG } from './keys.js';
export { TokenService, TOKEN_TYPE, type TokenClaims, type TokenSettings } from './tokens.js';
export { AdminToken, readAdminToken, ADMIN_TOKEN_FILE } from './admin-token.js';
export { Directory } from './directory.js';
export { SessionService, type OpenSessionInput, type OpenedSession } from './sessions.js';
