import { WalkthroughsView } from "@/components/WalkthroughsView";

export default function WalkthroughsPage() {
  return <WalkthroughsView />;
}
