// The MCP gateway's public surface.
export { McpGateway, type McpGatewayOptions } from './mcp-gateway.js';
export { RPC as MCP_ERROR_CODES } from './errors.js';
