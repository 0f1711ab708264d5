// The MCP gateway's public surface.
export { McpGateway, type McpGatewayOptions } from './mcp-gateway.js';
export { RPC as MCP_ERROR_CODES } from './errors.js';
export { MCP_METADATA_PATH, MCP_PATH } from './paths.js';
