"use client";
// What a page loads from the service when it opens, with the service-down state every page shows
// (and retries from) when the service does not answer.
import { useCallback, useEffect, useState } from "react";
import type { ServiceClient } from "./api";
import { useService } from "./service-context";

export interface ServiceData<T> {
  data: T | null;
  /** Why the service could not be reached (null while it answers). */
  down: string | null;
  reload: () => Promise<void>;
}

/** `load` must be stable (module-level, or memoized): it runs once, and again on reload. */
export function useServiceData<T>(load: (service: ServiceClient) => Promise<T>): ServiceData<T> {
  const service = useService();
  const [data, setData] = useState<T | null>(null);
  const [down, setDown] = useState<string | null>(null);
  const reload = useCallback(async () => {
    try {
      setData(await load(service));
      setDown(null);
    } catch (err) {
      setDown((err as Error).message);
    }
  }, [service, load]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, down, reload };
}
