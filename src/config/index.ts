export { configSchema, agentSchema, enforcementSchema, profileSchema, teamSchema, type Config, type ProviderConfig, type ModelConfig, type TeamConfig, type ProfileConfig, type AgentConfig, type BudgetConfig, type PriceConfig, type FederationIssuerConfig, type PeriodBudgetConfig, type EnforcementConfig, type McpServerConfig, type McpToolSettings, type PolicyConfig, type DataSensitivity } from './schema.js';
export { parseConfig, loadConfigFile, resolveDataDir, ConfigError } from './load.js';
export { defaultConfigText, DEFAULT_CONFIG_PATH } from './default.js';
