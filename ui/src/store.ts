// A value that components re-render on (the sign-in state, the current path): a few lines
// instead of another dependency.
import { useEffect, useReducer } from 'preact/hooks';

export interface Store<T> {
  get(): T;
  set(value: T): void;
  /** The value, re-rendering the calling component when it changes. */
  use(): T;
}

export function store<T>(initial: T): Store<T> {
  let value = initial;
  const listeners = new Set<() => void>();
  return {
    get: () => value,
    set(next) {
      value = next;
      for (const l of [...listeners]) l();
    },
    use() {
      const [, rerender] = useReducer((n: number) => n + 1, 0);
      useEffect(() => {
        const l = () => rerender(undefined);
        listeners.add(l);
        return () => void listeners.delete(l);
      }, []);
      return value;
    },
  };
}
