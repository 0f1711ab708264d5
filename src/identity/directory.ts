// In-memory view of teams, profiles, agents and sessions for the hot path. Entries are loaded
// from the Store on first use and dropped when this process changes them, or when another replica
// announces a change (src/server/change-feed.ts), or at a periodic resync.
import type { Agent, Profile, Session, Store, Team } from '../store/index.js';

const LIMIT = 100_000;

/** What changed: an entry of one kind (its id, or the agent's name), or everything (`id` null, a resync: told once). */
export type DirectoryChange = { kind: 'session' | 'agent' | 'team' | 'profile'; id: string | null };

class Cache<T> {
  private readonly entries = new Map<string, T>();
  /** Bumped by every change: a load that began before one does not cache what it read. */
  private generation = 0;
  constructor(
    private readonly load: (id: string) => Promise<T | null>,
    /** Told when this process changes an entry or drops it (another replica changed it). */
    private readonly changed: (id: string | null) => void,
  ) {}

  /**
   * The cached entry, if there is one, without a promise: the hot path writes
   * `cache.peek(id) ?? (await cache.get(id))`, sparing an await (a promise and a microtask turn)
   * per lookup in the common case.
   */
  peek(id: string): T | undefined {
    return this.entries.get(id);
  }

  async get(id: string): Promise<T | null> {
    const hit = this.entries.get(id);
    if (hit !== undefined) return hit;
    const began = this.generation;
    const value = await this.load(id);
    // A revocation that landed while the store answered may have been read before it: not cached,
    // so the next lookup reads the store again.
    if (value !== null && began === this.generation) {
      if (this.entries.size >= LIMIT) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(id, value);
    }
    return value;
  }

  /** The entries of `ids` that exist, by id, each looked up once (a list's agents or teams, to name them). */
  async many(ids: Iterable<string>): Promise<Map<string, T>> {
    const found = new Map<string, T>();
    await Promise.all([...new Set(ids)].map(async (id) => {
      const value = await this.get(id);
      if (value !== null) found.set(id, value);
    }));
    return found;
  }

  set(id: string, value: T): void {
    this.generation++;
    this.entries.set(id, value);
    this.changed(id);
  }

  delete(id: string): void {
    this.generation++;
    this.entries.delete(id);
    this.changed(id);
  }

  /** Drops every entry without telling anyone (`Directory.clear` tells once for all). */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }

}

export class Directory {
  readonly sessions: Cache<Session>;
  readonly agents: Cache<Agent>;
  readonly teams: Cache<Team>;
  readonly profiles: Cache<Profile>;

  private readonly listeners: ((change: DirectoryChange) => void)[] = [];

  constructor(store: Store) {
    const notify = (kind: DirectoryChange['kind']) => (id: string | null) => {
      for (const listener of this.listeners) listener({ kind, id });
    };
    this.sessions = new Cache((id) => store.getSession(id), notify('session'));
    this.agents = new Cache((id) => store.getAgent(id), notify('agent'));
    this.teams = new Cache((id) => store.getTeam(id), notify('team'));
    this.profiles = new Cache((id) => store.getProfile(id), notify('profile'));
  }

  /** Calls `listener` whenever an entry changes or is dropped (revocations reach calls in flight this way). */
  onChange(listener: (change: DirectoryChange) => void): void {
    this.listeners.push(listener);
  }

  /** Drops everything cached (a resync: the next use reads the store). */
  clear(): void {
    for (const cache of [this.sessions, this.agents, this.teams, this.profiles]) cache.clear();
    for (const listener of this.listeners) listener({ kind: 'session', id: null });
  }

}
