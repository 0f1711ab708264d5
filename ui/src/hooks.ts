// Live data: a fetch repeated on an interval while the page is visible (the dashboard's live
// updates — polling rather than server-sent events, because EventSource cannot send the admin
// token as a header and the token must never travel in a URL).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export const POLL_MS = 4000;

export interface Polled<T> {
  data?: T | undefined;
  error?: Error | undefined;
  loading: boolean;
  reload: () => void;
}

export function usePoll<T>(load: () => Promise<T>, deps: unknown[], intervalMs: number | null = POLL_MS): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(() => {
    const mine = ++generation.current;
    loadRef.current().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (error: unknown) => mine === generation.current && setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), loading: false })),
    );
  }, []);

  useEffect(() => {
    setState({ loading: true });
    run();
    if (intervalMs === null) return;
    const timer = setInterval(() => {
      if (!document.hidden) run();
    }, intervalMs);
    const onVisible = () => !document.hidden && run();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      generation.current++;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, deps); // the caller says what the load depends on

  return { ...state, reload: run };
}
