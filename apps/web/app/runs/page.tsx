import { RunsView } from "@/components/RunsView";

export default function RunsPage() {
  return <RunsView />;
}
