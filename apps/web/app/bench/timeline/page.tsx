import type { Metadata } from "next";
import { TimelineBench } from "@/components/bench/TimelineBench";

export const metadata: Metadata = { title: "kvmscope · timeline benchmark" };

/** /bench/timeline?n=1000000: how long the Timeline takes to build, draw, zoom and pan n records. */
export default async function TimelineBenchPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const q = (await searchParams).n;
  // The count is clamped on the client: a function of a "use client" module cannot run here.
  return <TimelineBench nParam={Array.isArray(q) ? q[0] : q} />;
}
