import type { Metadata } from "next";
import type { ReactNode } from "react";
import { Providers } from "./providers";
import "./globals.css";

export const metadata: Metadata = {
  title: "kvmscope",
  description: "Watch a real KVM guest: every ioctl and every VM exit, live.",
};

// The service's address is read when a page is served, not when the app is built, so one build
// serves any --service-port (npm start sets KVMSCOPE_SERVICE_URL).
export const dynamic = "force-dynamic";

export default function RootLayout({ children }: { children: ReactNode }) {
  const serviceUrl = process.env.KVMSCOPE_SERVICE_URL ?? "http://127.0.0.1:7070";
  return (
    <html lang="en" data-projector="off" suppressHydrationWarning>
      <body>
        <Providers serviceUrl={serviceUrl}>{children}</Providers>
      </body>
    </html>
  );
}
