"use client";
import type { ReactNode } from "react";
import { Header } from "@/components/Header";
import { LangProvider } from "@/lib/i18n";
import { ServiceProvider } from "@/lib/service-context";

export function Providers({ serviceUrl, children }: { serviceUrl: string; children: ReactNode }) {
  return (
    <LangProvider>
      <ServiceProvider url={serviceUrl}>
        <Header />
        {children}
      </ServiceProvider>
    </LangProvider>
  );
}
