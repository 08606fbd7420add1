"use client";
import { createContext, useContext, useMemo, type ReactNode } from "react";
import { ServiceClient } from "./api";

const ServiceContext = createContext<ServiceClient | null>(null);

/** The VMM service this page talks to; its address comes from the server at request time. */
export function ServiceProvider({ url, children }: { url: string; children: ReactNode }) {
  const client = useMemo(() => new ServiceClient(url.replace(/\/+$/, "")), [url]);
  return <ServiceContext.Provider value={client}>{children}</ServiceContext.Provider>;
}

export function useService(): ServiceClient {
  const c = useContext(ServiceContext);
  if (c === null) throw new Error("useService outside ServiceProvider");
  return c;
}
