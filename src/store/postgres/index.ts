export { backendOf, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { POSTGRES_MIGRATIONS, POSTGRES_ONLY } from './migrations.js';
