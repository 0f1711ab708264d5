export { Gateway, type GatewayOptions } from './gateway.js';
export { openApiDocument, ADMIN_ROUTES } from './admin.js';
