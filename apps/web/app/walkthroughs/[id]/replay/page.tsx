import { WalkthroughReplay } from "@/components/WalkthroughReplay";

export default async function WalkthroughReplayPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <WalkthroughReplay walkthroughId={decodeURIComponent(id)} />;
}
