// Where the MCP gateway answers. Kept apart from the gateway itself so the router can recognise
// its routes without loading it (and the MCP SDK) when no MCP server is configured.

/** Route prefix of the MCP endpoints: `/mcp/{server}`. */
export const MCP_PATH = '/mcp/';
/** Route prefix of their RFC 9728 protected-resource metadata. */
export const MCP_METADATA_PATH = '/.well-known/oauth-protected-resource/mcp/';
