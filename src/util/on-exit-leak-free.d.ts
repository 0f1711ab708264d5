// on-exit-leak-free ships no types: the part of its API the logger uses.
declare module 'on-exit-leak-free' {
  /** Calls `fn(obj, 'exit')` at process exit while `obj` is alive (held through a WeakRef). */
  export function register<T extends object>(obj: T, fn: (obj: T, event: 'exit') => void): void;
  export function unregister(obj: object): void;
  const onExit: { register: typeof register; unregister: typeof unregister };
  export default onExit;
}
