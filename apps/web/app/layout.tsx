import type { Metadata } from "next";
import type { ReactNode } from "react";
import { Providers } from "./providers";
import "./globals.css";

export const metadata: Metadata = {
  title: "kvmscope",
  description: "Watch a real KVM guest: every ioctl and every VM exit, live.",
};

// The service's address is read when a page is served, not when the app is built. Unset or empty
// (npm start): the service is on the page's own origin, behind the front door (scripts/front.mjs),
// so the page works from whatever address the browser used. `next dev` beside a separate
// `kvmscope serve --allow-origin …` sets it to the service's URL.
export const dynamic = "force-dynamic";

export default function RootLayout({ children }: { children: ReactNode }) {
  const serviceUrl = process.env.KVMSCOPE_SERVICE_URL ?? "";
  return (
    <html lang="en" data-projector="off" suppressHydrationWarning>
      <body>
        <Providers serviceUrl={serviceUrl}>{children}</Providers>
      </body>
    </html>
  );
}
