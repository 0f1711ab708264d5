export type { Store, StoreCapabilities, NewTeam, NewProfile, NewAgent, NewSession, OnExisting, AlertFilter, SessionFilter, UsageFilter, EventFilter, SequencedEvent, SpendGrouping, SpendRange, SpendRow, WriteSet } from './store.js';
export type * from './types.js';
export { DEFAULT_CONTENT_LOGGING, ZERO_SPEND } from './types.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.js';
export { GroupCommit } from './group-commit.js';
export { WriteQueue, type Write } from './write-queue.js';
export { GENESIS_HASH, canonicalJson, eventHash, recordHash, linkEvents } from './chain.js';
