export { backendOf, endServerProcess, PostgresStore, type PostgresStoreOptions, type ServerProcess } from './postgres-store.js';
export { POSTGRES_MIGRATIONS, POSTGRES_ONLY } from './migrations.js';
