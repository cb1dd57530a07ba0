import { useEffect, useRef, useState } from 'preact/hooks';

/** How often a view asks the API again: the bound is 5 s. */
export const POLL_MS = 3_000;

/** The clock, ticking once a second, for countdowns. */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/**
 * Loads `load()` now, whenever `key` changes, and again every `everyMs` (POLL_MS unless said) while the tab is visible; keeps the last good
 * answer on a failed poll. `reload()` asks again at once (after a command, say).
 */
export function usePolled<T>(
  load: () => Promise<T>,
  key: string,
  onError: (error: unknown) => void,
  everyMs: number = POLL_MS,
) {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = () => {
    const mine = ++generation.current;
    loadRef
      .current()
      .then((answer) => {
        if (mine !== generation.current) return;
        setValue(answer);
        setError(null);
        setLoadedAt(Date.now());
      })
      .catch((failure: unknown) => {
        if (mine !== generation.current) return;
        setError((failure as Error).message);
        onError(failure);
      });
  };

  useEffect(() => {
    setValue(null);
    reload();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, everyMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [key]);

  return { value, error, loadedAt, reload };
}
