import { JoinView } from "@/components/JoinView";

export default function JoinPage() {
  return <JoinView />;
}
